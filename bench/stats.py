"""Timing helpers shared by the benchmarks: interleaved runs, medians, Markdown rows."""

import platform
import statistics
import subprocess
import time


def machine():
    """One line naming the CPU, cores and memory of this machine."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo")
                  if line.startswith("MemTotal"))
    return f"{cpu}, {cores} cores, {mem_kb / 2**20:.0f} GiB"


def interleave(contenders, runs, warmup=1):
    """Runs each contender (name -> callable returning seconds) `warmup` times, then `runs`
    rounds of A B C, A B C...: drift on the machine hits every contender alike."""
    for _ in range(warmup):
        for run in contenders.values():
            run()
    times = {name: [] for name in contenders}
    for round_ in range(runs):
        for name, run in contenders.items():
            seconds = run()
            times[name].append(seconds)
            print(f"  round {round_ + 1}/{runs}: {name} {seconds * 1000:,.0f} ms", flush=True)
    return times


def timed(fn):
    """Seconds one call of fn takes."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def table(values, baseline, unit="ms", scale=1000.0, higher_is_better=False):
    """A Markdown table of median and min-max per contender, and the baseline's speed-up over
    each (above 1: the baseline is faster). `values` are times, or rates if higher_is_better."""
    base = statistics.median(values[baseline])
    rows = [f"| | median | min - max | {baseline}'s speed-up |", "|---|---|---|---|"]
    for name, runs in values.items():
        median = statistics.median(runs)
        speedup = base / median if higher_is_better else median / base
        rows.append(f"| {name} | {median * scale:,.1f} {unit} | {min(runs) * scale:,.1f} - "
                    f"{max(runs) * scale:,.1f} {unit} | {speedup:.2f}x |")
    return "\n".join(rows)
