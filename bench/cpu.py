"""CPU inference, side by side: the default request (4 variations at 64 px, 20 Euler steps,
guidance 3) by our CLI (its hand-written CPU pass, core/src/cpu.rs), by the PyTorch reference
of the same network with our weights, and by ONNX Runtime on that network exported to ONNX;
same threads for all.

Before timing, all three must sample the same images from the same starting noise (float
tolerance): a reference that drifts from the Rust model fails the benchmark."""

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from PIL import Image

from reference import Reference, load_sampled, sample, to_pixels
from stats import interleave, machine, table, timed

# Largest float and pixel differences accepted between implementations: float rounding over
# 20 steps of a 0.85 M-parameter network (seen: 1e-4 and 1 level).
MAX_ABS_DIFF = 2e-3
MAX_LEVELS = 2


def designer_run(designer, request, threads, work_designs):
    """Seconds our CLI reports for the request (`elapsed_ms`: sampling and PNG encoding, as
    timed for the others; not process start or weight loading)."""
    out = subprocess.run([designer, "generate", "--request", "-", "--json", "--threads",
                          str(threads), "--out", work_designs],
                         input=json.dumps(request), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["elapsed_ms"] / 1000.0


def png_encode(pixels):
    for image in pixels.numpy():
        Image.fromarray(image).save(io.BytesIO(), format="PNG")


def export_onnx(reference, path):
    """The reference network as ONNX with a dynamic batch (ids as distinct example tensors:
    the exporter would merge identical ones into one input)."""
    x = torch.zeros(8, 3, 64, 64)
    t = torch.zeros(8)
    room = torch.zeros(8, dtype=torch.int64)
    style = torch.ones(8, dtype=torch.int64)
    batch = torch.export.Dim("batch", min=1, max=256)
    torch.onnx.export(reference.model, (x, t, room, style), path, dynamo=True,
                      input_names=["x", "t", "room", "style"], output_names=["v"],
                      dynamic_shapes={"x": {0: batch}, "t": {0: batch}, "room": {0: batch},
                                      "style": {0: batch}})


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--designer", default="target/release/designer")
    parser.add_argument("--work", default="target/bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    weights, sampled, onnx = work / "weights.safetensors", work / "sampled.safetensors", work / "generator.onnx"
    subprocess.run([args.designer, "export", "--format", "safetensors", "--precision", "f32",
                    "--out", weights], check=True)
    subprocess.run([args.designer, "generate", "--tensors", sampled, "--out", work / "designs"],
                   check=True)
    torch.set_num_threads(args.threads)
    reference = Reference(weights)
    start, ours, request, t_start = load_sampled(sampled)
    condition = reference.condition(request)
    export_onnx(reference, onnx)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])

    def ort_forward(x, t, room, style):
        feed = {"x": x.numpy(), "t": t.numpy(), "room": room.numpy(), "style": style.numpy()}
        return torch.from_numpy(session.run(None, feed)[0])

    def generate(forward):
        with torch.inference_mode():
            png_encode(to_pixels(sample(forward, start, t_start, condition, request)))

    for name, forward in [("PyTorch", reference.model), ("ONNX Runtime", ort_forward)]:
        with torch.inference_mode():
            theirs = sample(forward, start, t_start, condition, request)
        diff = (theirs - ours).abs().max().item()
        levels = (to_pixels(theirs).int() - to_pixels(ours).int()).abs().max().item()
        print(f"{name} vs ours: max |difference| {diff:.2e}, {levels} pixel levels")
        if diff > MAX_ABS_DIFF or levels > MAX_LEVELS:
            sys.exit(f"{name} does not reproduce our images: not timing different networks")

    print(f"timing {args.runs} interleaved rounds, {args.threads} threads each")
    times = interleave({
        "designer (CPU pass)": lambda: designer_run(args.designer, request, args.threads, work / "designs"),
        "PyTorch": lambda: timed(lambda: generate(reference.model)),
        "ONNX Runtime": lambda: timed(lambda: generate(ort_forward)),
    }, args.runs)
    print(f"\nMachine: {machine()}; torch {torch.__version__}, onnxruntime "
          f"{onnxruntime.__version__}, {args.threads} threads.")
    print(f"Request: {json.dumps(request)}\n")
    print(table(times, "designer (CPU pass)"))
    (work / "cpu.json").write_text(json.dumps({"machine": machine(), "times": times}))


if __name__ == "__main__":
    main()
