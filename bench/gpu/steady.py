"""Steady training speed from a `designer train --metrics` file: images/s between steps 100
and the last reading (the first steps pay for kernel compilation and autotuning), from each
line's `seconds` (since the trainer started). Files written before that field existed only have
images_per_second, which restarts at every epoch (every checkpoint): for those, the time at a
reading is step x batch / images_per_second only while the run stays in its first epoch.
Where the lines carry the trainer's host phases (data_seconds, record_seconds, read_seconds:
cumulative within an epoch), it also prints, per 60 s window, images/s and the share of the
wall time spent waiting for the data source, recording steps (burn's host work: the device runs
them asynchronously) and waiting for the device at a loss reading; the rest is checkpoints and
the loop itself."""

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


PHASES = ("data", "record", "read")


def windows(path, batch, width=60.0):
    rows = [json.loads(line) for line in open(path)]
    rows = [r for r in rows if "record_seconds" in r]
    out, window, previous = [], None, None
    for row in rows:
        if previous is not None and row["seconds"] > previous["seconds"]:
            if window is None:
                window = {"from": previous["seconds"], "steps": 0, **{p: 0.0 for p in PHASES}}
            window["steps"] += row["step"] - previous["step"]
            for p in PHASES:
                now, before = row[f"{p}_seconds"], previous[f"{p}_seconds"]
                # The phases restart with every epoch: a fall is a new epoch's first stretch.
                window[p] += now - before if now >= before else now
            wall = row["seconds"] - window["from"]
            if wall >= width:
                out.append({"until_s": round(row["seconds"]), "images_per_second": round(window["steps"] * batch / wall, 1),
                            **{f"{p}_share": round(window[p] / wall, 3) for p in PHASES}})
                window = None
        previous = row
    return out


if __name__ == "__main__":
    print(json.dumps(steady(sys.argv[1], int(sys.argv[2]))))
    for window in windows(sys.argv[1], int(sys.argv[2])):
        print(json.dumps(window))
