"""A request on the GPU in PyTorch eager: the reference network (reference.py) with our weights,
sampled from the starting tensor `designer generate --tensors` wrote, to set beside `designer
generate --backend vulkan --repeat N` on the same GPU (issue 21: GPU generation against PyTorch
eager). Timed as ours is: sampling, decoding, rounding and PNG encoding, after a warm-up run;
in f32 and under bf16 autocast. Prints one Markdown row each, with the largest difference
from our images in pixel levels (ours: the CPU pass's, which Vulkan matches within float
rounding).

    python3 bench/gpu/torch_generate.py WEIGHTS.safetensors SAMPLED.safetensors [--runs N]
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cpu import png_encode  # noqa: E402
from reference import Reference, load_sampled, sample, to_pixels  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("weights")
    parser.add_argument("sampled")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="cuda", help="cuda, or cpu to try the script")
    args = parser.parse_args()
    reference = Reference(args.weights)
    start, ours, request, t_start, model = load_sampled(args.sampled)
    if model != reference.version:
        sys.exit(f"{model} sampled the request but the weights are {reference.version}")
    condition = reference.condition(request)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    network = reference.model.to(device)
    decoder = reference.decoder()
    # The sampler makes its time and label tensors with torch.full: on the GPU too.
    torch.set_default_device(device)
    start = start.to(device)

    def generate(dtype):
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype,
                                                    enabled=dtype != torch.float32):
            return decoder(sample(network, start, t_start, condition, request)).float().cpu()

    print(f"{model} on {torch.cuda.get_device_name() if cuda else 'the CPU'}, request {request}")
    print("| runtime | pixel levels from ours | median (ms) | min-max (ms) |")
    print("|---|---|---|---|")
    for name, dtype in [("f32", torch.float32), ("bf16 autocast", torch.bfloat16)]:
        images = generate(dtype)
        levels = (to_pixels(images).int() - to_pixels(ours).int()).abs().max().item()
        times = []
        for _ in range(args.runs):
            if cuda:
                torch.cuda.synchronize()
            began = time.perf_counter()
            png_encode(to_pixels(generate(dtype)))
            times.append((time.perf_counter() - began) * 1000)
        times.sort()
        print(f"| PyTorch {torch.__version__} eager, {name} | {levels} | "
              f"{times[len(times) // 2]:.1f} | {times[0]:.1f}-{times[-1]:.1f} |")


if __name__ == "__main__":
    main()
