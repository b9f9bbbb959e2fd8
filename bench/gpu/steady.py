"""Steady training speed from a `designer train --metrics` file: images/s between steps 100
and the last reading (the first steps pay for kernel compilation and autotuning). The file's
images_per_second is cumulative from the run's start, so the time at each reading is
step x batch / images_per_second."""

import json
import sys


def steady(path, batch, start=100):
    rows = [json.loads(line) for line in open(path)]
    seconds = {r["step"]: r["step"] * batch / r["images_per_second"] for r in rows}
    last = max(seconds)
    first = start if start in seconds and start < last else min(seconds)
    ips = (last - first) * batch / (seconds[last] - seconds[first])
    loss = [r["loss"] for r in rows if r.get("loss") is not None]
    return {"file": path, "batch": batch, "steps": f"{first}-{last}",
            "images_per_second": round(ips, 1), "ms_per_step": round(1000 * batch / ips, 2),
            "last_loss": loss[-1] if loss else None}


if __name__ == "__main__":
    print(json.dumps(steady(sys.argv[1], int(sys.argv[2]))))
