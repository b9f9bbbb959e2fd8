"""Steady training speed from a `designer train --metrics` file: images/s between steps 100
and the last reading (the first steps pay for kernel compilation and autotuning), from each
line's `seconds` (since the trainer started). Files written before that field existed only have
images_per_second, which restarts at every epoch (every checkpoint): for those, the time at a
reading is step x batch / images_per_second only while the run stays in its first epoch."""

import json
import sys


def steady(path, batch, start=100):
    rows = [json.loads(line) for line in open(path)]
    # A file appended to by a resumed run: its last run only.
    starts = [i for i in range(1, len(rows)) if rows[i]["step"] <= rows[i - 1]["step"]
              or rows[i].get("seconds", 1e18) < rows[i - 1].get("seconds", 0)]
    rows = rows[starts[-1]:] if starts else rows
    seconds = {r["step"]: r["seconds"] if "seconds" in r else r["step"] * batch / r["images_per_second"]
               for r in rows}
    last = max(seconds)
    first = start if start in seconds and start < last else min(seconds)
    ips = (last - first) * batch / (seconds[last] - seconds[first])
    loss = [r["loss"] for r in rows if r.get("loss") is not None]
    return {"file": path, "batch": batch, "steps": f"{first}-{last}",
            "images_per_second": round(ips, 1), "ms_per_step": round(1000 * batch / ips, 2),
            "last_loss": loss[-1] if loss else None}


if __name__ == "__main__":
    print(json.dumps(steady(sys.argv[1], int(sys.argv[2]))))
