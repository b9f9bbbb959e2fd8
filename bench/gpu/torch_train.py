"""PyTorch side of the GPU benchmark: the reference network (bench/reference.py) trained the
way core/train/src/train.rs trains ours (flow matching: logit-normal times, label dropout 0.1, MSE on
the velocity, Adam), eager and with torch.compile; and the default request's latency
(4 x 64 px, 20 Euler steps, guidance 3). Prints one JSON line per measurement. With --amp
it trains as PyTorch's mixed-precision recipe does (autocast to f16, a dynamic GradScaler), to
compare with ours under `--float mixed`.

The images are random tensors already on the GPU (the network's cost does not depend on
their content); ours stream a rendered folder from disk, as training really does.

With --dit WEIGHTS.safetensors (a `designer export --format safetensors --precision f32` of a
generator v2 file) it trains that file's transformer instead, at 256 px on its latents, as
`bench/gpu/v2.sh dit` trains ours: each step encodes batch / --reuse new renders with the frozen
autoencoder (ours reuses each encoded render --reuse times) and takes one step on a batch of
latents."""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reference import Generator, Reference, sample  # noqa: E402

ROOMS, STYLES = 6, 8


def train_step(model, optimizer, images, scaler=None, labels=(ROOMS, STYLES)):
    """One flow-matching step on `images` (pixels, or a latent network's latents), with
    `labels` (room types, styles) of the network's vocabulary."""
    n = images.shape[0]
    room_count, style_count = labels
    noise = torch.randn_like(images)
    t = torch.sigmoid(torch.randn(n, device=images.device))
    rooms = torch.randint(0, room_count, (n,), device=images.device)
    styles = torch.randint(0, style_count, (n,), device=images.device)
    drop = torch.rand(n, device=images.device) < 0.1
    rooms = torch.where(drop, room_count, rooms)
    styles = torch.where(drop, style_count, styles)
    tt = t[:, None, None, None]
    x_t = noise * (1 - tt) + images * tt
    with torch.autocast("cuda", torch.float16, enabled=scaler is not None):
        prediction = model(x_t, t, rooms, styles)
    loss = F.mse_loss(prediction.float(), images - noise)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss


def train(batch, steps, warmup, compiled, amp, size=64, dit=None, reuse=4):
    torch.manual_seed(0)
    if dit is None:
        model, labels, encode = Generator(32, 128, 8, ROOMS, STYLES).cuda(), (ROOMS, STYLES), None
        data = torch.rand(batch, 3, size, size, device="cuda") * 2 - 1
    else:
        reference = Reference(dit)
        model = reference.model.cuda().train()
        labels = (len(reference.room_types), len(reference.styles))
        autoencoder = model.autoencoder.requires_grad_(False)
        renders = torch.rand(batch // reuse, 3, size, size, device="cuda") * 2 - 1

        def encode():
            with torch.no_grad(), torch.autocast("cuda", torch.float16, enabled=amp):
                return autoencoder.encode(renders).float()

        data = encode().repeat(reuse, 1, 1, 1)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=2e-4)
    step = torch.compile(train_step) if compiled else train_step
    scaler = torch.amp.GradScaler("cuda") if amp else None

    def one_step():
        if encode is not None:
            encode()  # the new renders' share of a step (their latents join the ring in ours)
        return step(model, optimizer, data, scaler, labels)

    started = time.perf_counter()
    for _ in range(warmup):
        one_step()
    torch.cuda.synchronize()
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(steps):
        loss = one_step()
        if i % 10 == 0:
            loss.item()  # read the loss as often as ours does
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    trainer = ("PyTorch torch.compile" if compiled else "PyTorch eager") + (" AMP" if amp else "")
    return {"what": "train", "trainer": trainer, "network": "dit" if dit else "unet_v1",
            "size": size, "batch": batch, "steps": steps, "images_per_second": steps * batch / seconds,
            "ms_per_step": 1000 * seconds / steps, "warmup_seconds": warm_s,
            "torch": torch.__version__, "gpu": torch.cuda.get_device_name()}


def latency(weights, runs):
    reference = Reference(weights)
    model = reference.model.cuda()
    request = {"room_type": "bedroom", "style": "scandinavian", "steps": 20, "guidance": 3.0,
               "sampler": "euler"}
    condition = reference.condition(request)
    start = torch.randn(4, 3, 64, 64, device="cuda")
    forward = lambda x, t, r, s: model(x, t.cuda(), r.cuda(), s.cuda())
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        with torch.inference_mode():
            images = sample(forward, start, 0.0, condition, request)
            pixels = ((images + 1) * 127.5).round().clamp(0, 255).byte().cpu()
        times.append(time.perf_counter() - started)
    return {"what": "generate", "runtime": "PyTorch eager", "first_ms": 1000 * times[0],
            "ms": sorted(1000 * t for t in times[1:]), "pixels": list(pixels.shape)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--weights", help="safetensors export, for the latency run")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--amp", action="store_true", help="train in mixed precision (f16 autocast)")
    parser.add_argument("--dit", help="train this generator v2 export's transformer instead")
    parser.add_argument("--size", type=int, help="image side (64; 256 with --dit)")
    parser.add_argument("--reuse", type=int, default=4, help="steps each encoded render serves (--dit)")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    size = args.size or (256 if args.dit else 64)
    for batch in map(int, args.batches.split(",")):
        run = lambda compiled: train(batch, args.steps, 20, compiled, args.amp, size, args.dit, args.reuse)
        print(json.dumps(run(False)), flush=True)
        if not args.no_compile:
            try:
                print(json.dumps(run(True)), flush=True)
            except Exception as error:  # torch.compile needs a C compiler and Triton
                print(json.dumps({"what": "train", "trainer": "PyTorch torch.compile" + (" AMP" if args.amp else ""),
                                  "batch": batch, "error": str(error)[:300]}), flush=True)
    if args.weights:
        print(json.dumps(latency(args.weights, 10)), flush=True)


if __name__ == "__main__":
    main()
