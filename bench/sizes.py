"""What users download: the browser bundle (wasm with the small model embedded, and its JS
bindings), the default model the site serves beside it, the small models, and the Lambda zips
(all three models embedded); raw and gzip -9 (what a web server sends)."""

import gzip
import sys
from pathlib import Path

FILES = [
    ("browser wasm (code + the 64 px model)", "www/pkg/designer_web_bg.wasm"),
    ("browser JS bindings", "www/pkg/designer_web.js"),
    ("default model, int7, served beside the wasm", "core/weights/designer-256.weights"),
    ("64 px model, f16", "core/weights/scenes-64.weights"),
    ("128 px model, f16", "core/weights/scenes-128.weights"),
    ("Lambda zip, x86_64", "target/lambda/x86_64/designer-lambda/bootstrap.zip"),
    ("Lambda zip, arm64", "target/lambda/arm64/designer-lambda/bootstrap.zip"),
]


def main():
    print("| file | raw | gzip -9 |\n|---|---|---|")
    for what, path in FILES:
        path = Path(path)
        if not path.exists():
            sys.exit(f"{path} is missing: build it first (make web lambda)")
        data = path.read_bytes()
        print(f"| {what} (`{path}`) | {len(data):,} bytes | "
              f"{len(gzip.compress(data, 9)):,} bytes |")


if __name__ == "__main__":
    main()
