"""What users download: the browser bundle (wasm with the embedded weights, and its JS
bindings), the weights alone, and the Lambda zips; raw and gzip -9."""

import gzip
import sys
from pathlib import Path

FILES = [
    ("browser wasm (code + weights)", "www/pkg/designer_web_bg.wasm"),
    ("browser JS bindings", "www/pkg/designer_web.js"),
    ("default weights (f16)", "core/weights/default.weights"),
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
