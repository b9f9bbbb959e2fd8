"""The Python loader users would otherwise write: a PyTorch Dataset that opens each image with
PIL, centre-crops, resizes (bilinear with antialiasing, as ours) and scales to [-1, 1], served by
a shuffling DataLoader with one worker process per core. Prints the same JSON line as
core/benches/pipeline.rs."""

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset


class LabelledFolder(Dataset):
    def __init__(self, root, size):
        self.root, self.size = Path(root), size
        self.lines = [json.loads(line) for line in open(self.root / "labels.jsonl") if line.strip()]

    def __len__(self):
        return len(self.lines)

    def __getitem__(self, index):
        line = self.lines[index]
        image = Image.open(self.root / line["image"]).convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        image = image.resize((self.size, self.size), Image.BILINEAR)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0)
        if torch.rand(()) < 0.5:
            pixels = pixels.flip(1)
        return pixels.permute(2, 0, 1), line["room_type"], line["style"]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = LabelledFolder(args.data, args.size)
    started = time.perf_counter()
    loader = DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=args.workers)
    drawn, checksum = 0, 0.0
    for pixels, _, _ in loader:
        checksum += float(pixels[0, 0, 0, 0])
        drawn += pixels.shape[0]
    seconds = time.perf_counter() - started
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(json.dumps({"loader": "PIL + DataLoader", "folder_images": len(dataset),
                      "images": drawn, "size": args.size, "batch": args.batch,
                      "workers": args.workers, "seconds": seconds,
                      "images_per_second": drawn / seconds, "peak_rss_mb": peak,
                      "checksum": checksum}))


if __name__ == "__main__":
    main()
