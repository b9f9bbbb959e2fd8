"""Data pipeline, side by side: decode + crop + resize + shuffle + batch of the same folder of
renders by ours (core/benches/pipeline.rs, the code `designer train --data` runs) and by a PIL +
DataLoader loader (bench/pil_loader.py), interleaved, at two folder sizes, one pass each, every
run a fresh process; peak memory of each run shows whether it grows with the folder."""

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

from stats import interleave, machine, table


def folder(designer, catalog, work, count, size):
    """A labelled folder of `count` renders at `size` px (made once, then reused)."""
    path = work / f"renders-{count}-{size}"
    if not (path / "labels.jsonl").exists():
        subprocess.run([designer, "scenes", "--catalog", catalog, "--count", str(count),
                        "--size", str(size), "--out", path], check=True)
    return path


def run(command):
    """Runs a loader; returns (seconds, its JSON report)."""
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    return report["seconds"], report


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--designer", default="target/release/designer")
    parser.add_argument("--ours", required=True,
                        help="command running core/benches/pipeline.rs (arguments follow)")
    parser.add_argument("--work", default="target/bench")
    parser.add_argument("--catalog", default=".cache/catalog", help="what `make data` fetched")
    parser.add_argument("--counts", default="2000,8000")
    parser.add_argument("--render-size", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    reports = []
    for count in map(int, args.counts.split(",")):
        data = folder(args.designer, args.catalog, work, count, args.render_size)
        print(f"{count} renders of {args.render_size} px -> 64 px batches of 32")
        latest = {}

        def contender(name, command):
            def once():
                seconds, report = run(command)
                latest[name] = report
                reports.append(report)
                return seconds
            return once

        times = interleave({
            "designer": contender("designer", shlex.split(args.ours) + ["--data", str(data)]),
            "PIL + DataLoader": contender("PIL + DataLoader", [
                sys.executable, str(Path(__file__).with_name("pil_loader.py")), "--data",
                str(data)]),
        }, args.runs)
        print(f"\nMachine: {machine()}. Folder: {count} PNG renders, {args.render_size} px.\n")
        rates = {name: [count / seconds for seconds in runs] for name, runs in times.items()}
        print(table(rates, "designer", unit="images/s", scale=1.0, higher_is_better=True))
        print("\npeak memory (last run): " + ", ".join(
            f"{name} {report['peak_rss_mb']:.0f} MiB" for name, report in latest.items()) + "\n")
    (work / "pipeline.json").write_text(json.dumps({"machine": machine(), "runs": reports}))


if __name__ == "__main__":
    main()
