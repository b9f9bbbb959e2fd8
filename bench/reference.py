"""PyTorch reference of Designer's generator (core/src/model.rs) and sampler
(core/src/sampler.rs): same layers, same shapes, same parameter names, loading the weights
`designer export --format safetensors` writes. Keep it in step with the Rust model: the check
in `check()` fails if the two drift apart."""

import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import struct


class ResBlock(nn.Module):
    def __init__(self, cin, cout, cond_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.cond = nn.Linear(cond_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, cond):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.cond(F.silu(cond))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Generator(nn.Module):
    """Predicts the flow velocity at x ([batch, 3, h, w]) and time t ([batch]) for room and
    style ids ([batch] each; the last embedding row is "no label")."""

    def __init__(self, base_channels, cond_dim, groups, rooms, styles):
        super().__init__()
        c = base_channels
        self.time_freqs = cond_dim // 2
        self.time_in = nn.Linear(cond_dim, cond_dim)
        self.time_out = nn.Linear(cond_dim, cond_dim)
        self.room_embedding = nn.Embedding(rooms + 1, cond_dim)
        self.style_embedding = nn.Embedding(styles + 1, cond_dim)
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.down0 = ResBlock(c, c, cond_dim, groups)
        self.pool0 = nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.down1 = ResBlock(c, 2 * c, cond_dim, groups)
        self.pool1 = nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1)
        self.mid0 = ResBlock(2 * c, 4 * c, cond_dim, groups)
        self.mid1 = ResBlock(4 * c, 4 * c, cond_dim, groups)
        self.up1 = ResBlock(4 * c + 2 * c, 2 * c, cond_dim, groups)
        self.up0 = ResBlock(2 * c + c, c, cond_dim, groups)
        self.out_norm = nn.GroupNorm(groups, c)
        self.out = nn.Conv2d(c, 3, 3, padding=1)
        i = torch.arange(self.time_freqs, dtype=torch.float32)
        freqs = torch.exp(-math.log(10_000.0) * i / self.time_freqs) * 1000.0
        self.register_buffer("freqs", freqs, persistent=False)

    def conditioning(self, t, room, style):
        angles = t[:, None] * self.freqs[None, :]
        time = torch.cat([angles.sin(), angles.cos()], 1)
        time = self.time_out(F.silu(self.time_in(time)))
        return time + self.room_embedding(room) + self.style_embedding(style)

    def forward(self, x, t, room, style):
        cond = self.conditioning(t, room, style)
        h0 = self.down0(self.stem(x), cond)
        h1 = self.down1(self.pool0(h0), cond)
        h = self.mid1(self.mid0(self.pool1(h1), cond), cond)
        h = self.up1(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), h1], 1), cond)
        h = self.up0(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), h0], 1), cond)
        return self.out(F.silu(self.out_norm(h)))


DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def read_safetensors(path):
    """(tensors by name, metadata) of a safetensors file: an 8-byte little-endian header length,
    the JSON header, then the raw tensors. Read here so the GPU machine needs only torch."""
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    body = bytearray(data[8 + length:])
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        flat = torch.frombuffer(body, dtype=DTYPES[info["dtype"]], count=(end - begin) //
                                DTYPES[info["dtype"]].itemsize, offset=begin)
        tensors[name] = flat.reshape(info["shape"]).clone()
    return tensors, metadata


class Reference:
    """The generator with the parameters of a safetensors export, its weights header and
    label names (embedding-row order; the row after the last is "no label")."""

    def __init__(self, path):
        state, meta = read_safetensors(path)
        self.header = json.loads(meta["designer"])
        labels = json.loads(meta["labels"])
        self.room_types, self.styles = labels["room_types"], labels["styles"]
        shape = self.header["model"]
        self.model = Generator(shape["base_channels"], shape["cond_dim"], shape["groups"],
                               len(self.room_types), len(self.styles))
        self.model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        self.model.eval()

    def condition(self, request):
        """(room id, style id, null room id, null style id) for a request."""
        return (self.room_types.index(request["room_type"]), self.styles.index(request["style"]),
                len(self.room_types), len(self.styles))


def guided_velocity(forward, x, t, condition, guidance):
    """v = v_uncond + g (v_cond - v_uncond), both halves in one batch (g = 1: one half)."""
    room, style, null_room, null_style = condition
    batch = x.shape[0]
    times = torch.full((batch,), t)
    ids = lambda value: torch.full((batch,), value, dtype=torch.int64)
    if guidance == 1.0:
        return forward(x, times, ids(room), ids(style))
    both = forward(torch.cat([x, x]), torch.cat([times, times]),
                   torch.cat([ids(room), ids(null_room)]), torch.cat([ids(style), ids(null_style)]))
    conditional, unconditional = both[:batch], both[batch:]
    return unconditional + guidance * (conditional - unconditional)


def sample(forward, start, t_start, condition, request):
    """Euler or Heun steps from `start` at `t_start` to t = 1, as core/src/sampler.rs.
    `forward(x, t, room_ids, style_ids)` is the network, in whatever runtime."""
    steps, guidance = request["steps"], request["guidance"]
    velocity = lambda x, t: guided_velocity(forward, x, t, condition, guidance)
    x, dt = start, (1.0 - t_start) / steps
    for step in range(steps):
        t = t_start + dt * step
        v = velocity(x, t)
        if request["sampler"] == "heun":
            v_next = velocity(x + v * dt, t + dt)
            x = x + (v + v_next) * (dt / 2.0)
        else:
            x = x + v * dt
    return x


def to_pixels(images):
    """[-1, 1] floats to uint8 [batch, h, w, 3], rounded as core/src/image.rs does."""
    return ((images + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def load_sampled(path):
    """The `start`, `images`, request and t_start that `designer generate --tensors` wrote."""
    tensors, meta = read_safetensors(path)
    return tensors["start"], tensors["images"], json.loads(meta["request"]), float(meta["t_start"])
