"""Sums a CubeCL profiling log (`[profiling.logger] level = "basic"`: one `| duration | kernel`
line per launch) by kernel and prints a Markdown table of where the GPU time goes."""

import argparse
import collections
import re

UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
LINE = re.compile(r"^\|\s*([0-9.]+)(ns|µs|us|ms|s)\s*\|\s*(.+)$")


def kernel_family(name):
    """A launch's kernel without its shapes and generics, so launches of one kind add up."""
    name = re.split(r"[<{(\[]", name.strip(), maxsplit=1)[0]
    return name.strip()[:90]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("log")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    total, count = collections.Counter(), collections.Counter()
    for line in open(args.log, errors="replace"):
        match = LINE.match(line.strip())
        if match:
            family = kernel_family(match.group(3))
            total[family] += float(match.group(1)) * UNITS[match.group(2)]
            count[family] += 1
    overall = sum(total.values())
    print(f"{sum(count.values())} kernel launches, {overall * 1000:.1f} ms of GPU time in all\n")
    print("| kernel | launches | GPU time | share |\n|---|---|---|---|")
    for family, seconds in total.most_common(args.top):
        print(f"| `{family}` | {count[family]} | {seconds * 1000:.1f} ms | "
              f"{100 * seconds / overall:.1f} % |")


if __name__ == "__main__":
    main()
