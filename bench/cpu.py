"""CPU inference, side by side: a request (by default the default one: 4 variations at 256 px by
generator v2, the step-distilled transformer over latents, in its 4 steps at guidance 3) by our
CLI (its hand-written CPU pass, core/src/cpu/), by the PyTorch reference of the same network
with our weights, and by ONNX Runtime on that network exported to ONNX (and, for a latent
network, its decoder); same threads for all.

Before timing, all three must sample the same images from the same starting noise (float
tolerance, and at most MAX_LEVELS pixel levels): a reference that drifts from the Rust model
fails the benchmark."""

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import onnxruntime
import torch
from PIL import Image

from reference import Reference, load_sampled, sample, to_pixels
from stats import interleave, machine, table, timed

# Largest float and pixel differences accepted between implementations: float rounding over
# 20 steps of the 0.85 M-parameter U-Net (seen: 1e-4 and 1 level), or 4 steps of the 12 M-
# parameter transformer and its decoder (seen: 1 level on 20 of 786,432 values).
MAX_ABS_DIFF = 2e-3
MAX_LEVELS = 2


def designer_run(designer, weights_flag, request, threads, work_designs):
    """Seconds our CLI reports for the request (`elapsed_ms`: sampling, decoding and PNG
    encoding, as timed for the others; not process start or weight loading)."""
    out = subprocess.run([designer, "generate", *weights_flag, "--request", "-", "--json",
                          "--threads", str(threads), "--out", work_designs],
                         input=json.dumps(request), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["elapsed_ms"] / 1000.0


def png_encode(pixels):
    for image in pixels.numpy():
        Image.fromarray(image).save(io.BytesIO(), format="PNG")


def export_onnx(module, inputs, names, output, path):
    """`module` as ONNX with a dynamic batch (the doubled batch of classifier-free guidance
    reuses the graph). `inputs` are distinct example tensors: the exporter would merge identical
    ones into one input."""
    batch = torch.export.Dim("batch", min=1, max=256)
    torch.onnx.export(module, inputs, path, dynamo=True, input_names=names,
                      output_names=[output], dynamic_shapes=[{0: batch}] * len(inputs))


def ort_session(path, threads):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda *inputs: torch.from_numpy(
        session.run(None, {name: x.numpy() for name, x in zip(names, inputs)})[0])


def runtimes(reference, condition, start, work, threads):
    """(velocity network, images from the sampled tensor) in each runtime: the PyTorch
    reference, and ONNX Runtime on its ONNX export."""
    decoder = reference.decoder()
    pixels = lambda x: x  # a network over pixels samples the images themselves
    # The example batch is twice the request's, as guidance doubles it.
    x = torch.cat([start, start])
    batch = x.shape[0]
    inputs = [x, torch.zeros(batch), torch.zeros(batch, dtype=torch.int64),
              torch.ones(batch, dtype=torch.int64)]
    names = ["x", "t", "room", "style"]
    if condition.guidance or condition.step_size:
        inputs += [torch.full((batch,), 3.0), torch.full((batch,), 0.25)]
        names += ["guidance", "step"]
    export_onnx(reference.model, tuple(inputs), names, "v", work / "generator.onnx")
    ort = {"forward": ort_session(work / "generator.onnx", threads), "to_image": pixels}
    if decoder is not None:
        export_onnx(decoder, (x,), ["latents"], "images", work / "decoder.onnx")
        ort["to_image"] = ort_session(work / "decoder.onnx", threads)
    return {"PyTorch": {"forward": reference.model,
                        "to_image": decoder if decoder is not None else pixels},
            "ONNX Runtime": ort}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--designer", default="target/release/designer")
    parser.add_argument("--weights", help="weights file (default: the CLI's embedded model "
                                          "for the size: generator v2 at 256 px)")
    parser.add_argument("--size", type=int, help="px (default: the request's, 256)")
    parser.add_argument("--variations", type=int, help="default: the request's, 4")
    parser.add_argument("--work", default="target/bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    weights, sampled = work / "weights.safetensors", work / "sampled.safetensors"
    weights_flag = ["--weights", args.weights] if args.weights else []
    request_flags = [flag for name, value in [("--size", args.size),
                                              ("--variations", args.variations)]
                     if value is not None for flag in (name, str(value))]
    subprocess.run([args.designer, "export", *weights_flag, "--format", "safetensors",
                    "--precision", "f32", "--out", weights], check=True)
    subprocess.run([args.designer, "generate", *weights_flag, *request_flags, "--tensors",
                    sampled, "--out", work / "designs"], check=True)
    torch.set_num_threads(args.threads)
    reference = Reference(weights)
    start, ours, request, t_start, model = load_sampled(sampled)
    # Without --weights the CLI serves a size below 256 with a smaller embedded model than the
    # default that `export` wrote.
    if model != reference.version:
        sys.exit(f"{model} sampled the request but the export is {reference.version}: "
                 f"pass --weights")
    condition = reference.condition(request)
    contenders = runtimes(reference, condition, start, work, args.threads)

    def generate(runtime):
        """The request's images in `runtime`, as floats."""
        with torch.inference_mode():
            return runtime["to_image"](sample(runtime["forward"], start, t_start, condition,
                                              request))

    def generate_pngs(runtime):
        """The request as timed: sampling, decoding, rounding and PNG encoding."""
        with torch.inference_mode():
            png_encode(to_pixels(generate(runtime)))

    for name, runtime in contenders.items():
        theirs = generate(runtime)
        diff = (theirs - ours).abs().max().item()
        levels = (to_pixels(theirs).int() - to_pixels(ours).int()).abs().max().item()
        print(f"{name} vs ours: max |difference| {diff:.2e}, {levels} pixel levels")
        if diff > MAX_ABS_DIFF or levels > MAX_LEVELS:
            sys.exit(f"{name} does not reproduce our images: not timing different networks")

    print(f"timing {args.runs} interleaved rounds, {args.threads} threads each")
    ours_name = "designer (CPU pass)"
    times = interleave({
        ours_name: lambda: designer_run(args.designer, weights_flag, request, args.threads,
                                        work / "designs"),
        **{name: lambda runtime=runtime: timed(lambda: generate_pngs(runtime))
           for name, runtime in contenders.items()},
    }, args.runs)
    print(f"\nMachine: {machine()}; torch {torch.__version__}, onnxruntime "
          f"{onnxruntime.__version__}, {args.threads} threads.")
    print(f"Model: {model}. Request: {json.dumps(request)}\n")
    print(table(times, ours_name))
    (work / "cpu.json").write_text(json.dumps({"machine": machine(), "model": model,
                                               "request": request, "times": times}))


if __name__ == "__main__":
    main()
