"""PyTorch reference of Designer's generators (core/src/model/) and sampler
(core/src/sampler.rs): same layers, same shapes, same parameter names, loading the weights
`designer export --format safetensors` writes. Two networks, picked by the weights header's
`model.architecture`: the first U-Net over pixels (`unet_v1.rs`), and generator v2's
transformer over the latents of a small autoencoder (`dit.rs`, `autoencoder.rs`), a guidance-
and step-distilled student included. Keep it in step with the Rust model: the check in
cpu.py fails if the two drift apart."""

import json
import math
import struct
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# The guidance weights a guidance-distilled student folds in with one evaluation, and the step
# counts a step-distilled one samples in, its default first (core/src/model/mod.rs); the
# step count of every other network and sampler (core/src/request.rs).
DISTILLED_GUIDANCE = (1.0, 6.0)
DISTILLED_STEPS = (8, 4)
TEACHER_STEPS = 20


def sine_frequencies(half):
    """`half` frequencies from 1000 down to 0.1 radians per unit, for values in [0, 1] (a time,
    a step, a scaled guidance weight)."""
    i = torch.arange(half, dtype=torch.float32)
    return torch.exp(-math.log(10_000.0) * i / half) * 1000.0


def sine_features(values, freqs):
    """[batch, 2 len(freqs)]: sines then cosines of `values` ([batch]) at `freqs`."""
    angles = values[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], 1)


def label_conditioning(net, t, room, style, scalars=()):
    """Time and labels as one conditioning vector (mod.rs `LabelLayers`): sine features of t
    through `net.time_in` and `net.time_out`, plus what a distilled network's scalars add
    (`scalars`, [batch, cond_dim] each), plus the room's and the style's embedding rows. Every
    network keeps these layers as fields of its own, under its own parameter names."""
    time = net.time_out(F.silu(net.time_in(sine_features(t, net.freqs))))
    for added in scalars:
        time = time + added
    return time + (net.room_embedding(room) + net.style_embedding(style))


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
    """The first U-Net (unet_v1.rs): predicts the flow velocity at x ([batch, 3, h, w]) and
    time t ([batch]) for room and style ids ([batch] each; the last embedding row is "no
    label")."""

    def __init__(self, base_channels, cond_dim, groups, rooms, styles):
        super().__init__()
        c = base_channels
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
        self.register_buffer("freqs", sine_frequencies(cond_dim // 2), persistent=False)

    def forward(self, x, t, room, style):
        cond = label_conditioning(self, t, room, style)
        h0 = self.down0(self.stem(x), cond)
        h1 = self.down1(self.pool0(h0), cond)
        h = self.mid1(self.mid0(self.pool1(h1), cond), cond)
        h = self.up1(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), h1], 1), cond)
        h = self.up0(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), h0], 1), cond)
        return self.out(F.silu(self.out_norm(h)))


class ScalarLayers(nn.Module):
    """What a distilled student adds to its conditioning for one scalar (mod.rs `ScalarLayers`):
    sine features of the value times `scale` (0.1 for guidance weights, so that 1..6 spans the
    frequencies times 0..1 do; 1 for steps) through two linear layers; zero in the rows that have
    no value (NaN: the exported graph takes tensors, not options)."""

    def __init__(self, cond_dim, scale):
        super().__init__()
        self.input = nn.Linear(cond_dim, cond_dim)
        self.output = nn.Linear(cond_dim, cond_dim)
        self.scale = scale

    def forward(self, values, freqs):
        given = ~values.isnan()
        features = sine_features(torch.where(given, values * self.scale, 0.0), freqs)
        return self.output(F.silu(self.input(features))) * given[:, None].to(features.dtype)


def layer_norm(x):
    """LayerNorm over the last axis without parameters of its own (the conditioning scales and
    shifts it): biased variance, eps 1e-6, as dit.rs `layer_norm`."""
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


def modulate(x, shift, scale):
    """x * (1 + scale) + shift, scale and shift [batch, width] broadcast over the tokens."""
    return x * (1.0 + scale[:, None]) + shift[:, None]


def sine_positions(rows, columns, width):
    """Fixed 2-D positions, [rows * columns, width] (dit.rs `sine_position_values`): per token,
    sines then cosines of its row, then of its column, at width / 4 frequencies from 1 down to
    1/10000 radians per patch."""
    quarter = width // 4
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(quarter, dtype=torch.float32) / quarter)
    row, column = torch.meshgrid(torch.arange(rows, dtype=torch.float32),
                                 torch.arange(columns, dtype=torch.float32), indexing="ij")
    return torch.cat([sine_features(row.reshape(-1), freqs),
                      sine_features(column.reshape(-1), freqs)], 1)


class DiTBlock(nn.Module):
    """Attention then an MLP (exact, erf GELU), each on LayerNorm output that the conditioning
    shifts and scales, and each gated by it."""

    def __init__(self, width, cond_dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.modulation = nn.Linear(cond_dim, 6 * width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x, cond):
        """`x` [batch, tokens, width]; `cond` the conditioning after its SiLU."""
        batch, tokens, width = x.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond).chunk(6, 1)
        h = modulate(layer_norm(x), shift1, scale1)
        # qkv's columns: queries, keys, values, each head after head.
        q, k, v = (self.qkv(h).reshape(batch, tokens, 3, self.heads, width // self.heads)
                   .permute(2, 0, 3, 1, 4))
        attended = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d)) v
        x = x + self.proj(attended.transpose(1, 2).reshape(batch, tokens, width)) * gate1[:, None]
        h = self.fc2(F.gelu(self.fc1(modulate(layer_norm(x), shift2, scale2))))
        return x + h * gate2[:, None]


class DiT(nn.Module):
    """Generator v2's transformer (dit.rs): patches of `patch` x `patch` latents (or pixels)
    become tokens, plus fixed sine positions; blocks conditioned by adaptive LayerNorm; each
    token back to its patch's velocity. A distilled student also reads the guidance weight
    and the step it is to take ([batch] each, NaN where a row has none)."""

    def __init__(self, shape, width, cond_dim, rooms, styles):
        super().__init__()
        autoencoder = shape.get("autoencoder")
        channels = autoencoder["latent_channels"] if autoencoder else 3
        factor = 2 ** (len(autoencoder["channels"]) - 1) if autoencoder else 1
        p = self.patch = shape["patch"]
        self.time_in = nn.Linear(cond_dim, cond_dim)
        self.time_out = nn.Linear(cond_dim, cond_dim)
        self.room_embedding = nn.Embedding(rooms + 1, cond_dim)
        self.style_embedding = nn.Embedding(styles + 1, cond_dim)
        self.embed = nn.Linear(channels * p * p, width)
        # A photo's layout (restyling) is not run here, and the bench's requests have none:
        # the layer is only there for the weights to load.
        self.layout_embed = (nn.Linear((factor * p) ** 2, width, bias=False)
                             if shape.get("layout") else None)
        self.blocks = nn.ModuleList(
            DiTBlock(width, cond_dim, width // shape["head_channels"], shape["mlp_ratio"] * width)
            for _ in range(shape["depth"]))
        self.out_modulation = nn.Linear(cond_dim, 2 * width)
        self.out = nn.Linear(width, channels * p * p)
        self.guidance = ScalarLayers(cond_dim, 0.1) if shape.get("guidance") else None
        self.step_size = ScalarLayers(cond_dim, 1.0) if shape.get("step_size") else None
        self.register_buffer("freqs", sine_frequencies(cond_dim // 2), persistent=False)

    def forward(self, x, t, room, style, guidance=None, step=None):
        batch, channels, height, breadth = x.shape
        p = self.patch
        rows, columns = height // p, breadth // p
        scalars = [layers(values, self.freqs)
                   for layers, values in [(self.guidance, guidance), (self.step_size, step)]
                   if layers is not None and values is not None]
        cond = F.silu(label_conditioning(self, t, room, style, scalars))
        # [b, c, rows, p, columns, p] -> [b, rows, columns, c, p, p]: one token per patch.
        tokens = (x.reshape(batch, channels, rows, p, columns, p).permute(0, 2, 4, 1, 3, 5)
                  .reshape(batch, rows * columns, channels * p * p))
        h = self.embed(tokens) + sine_positions(rows, columns, self.embed.out_features).to(x.device)[None]
        for block in self.blocks:
            h = block(h, cond)
        shift, scale = self.out_modulation(cond).chunk(2, 1)
        return (self.out(modulate(layer_norm(h), shift, scale))
                .reshape(batch, rows, columns, channels, p, p).permute(0, 3, 1, 4, 2, 5)
                .reshape(batch, channels, height, breadth))


class AutoencoderBlock(nn.Module):
    """unet.rs's `ResBlock` as the autoencoder has it: no conditioning, channels unchanged."""

    def __init__(self, channels, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class Level(nn.Module):
    """A 3x3 convolution to the level's channels, then a residual block: the encoder's `Down`
    (stride 2) and the decoder's `Up` (after nearest 2x upsampling)."""

    def __init__(self, cin, cout, stride, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.block = AutoencoderBlock(cout, groups)


class Encoder(nn.Module):
    """Images to raw latents (autoencoder.rs `encode_raw`): what training runs on each render
    (bench/gpu/torch_train.py); sampling from labels never does."""

    def __init__(self, shape, groups):
        super().__init__()
        c = shape["channels"]
        self.stem = nn.Conv2d(3, c[0], 3, padding=1)
        self.down = nn.ModuleList(Level(a, b, 2, groups) for a, b in zip(c, c[1:]))
        self.out_norm = nn.GroupNorm(groups, c[-1])
        self.out = nn.Conv2d(c[-1], shape["latent_channels"], 3, padding=1)

    def forward(self, images):
        h = self.stem(images)
        for down in self.down:
            h = down.block(down.conv(h))
        return self.out(F.silu(self.out_norm(h)))


class Decoder(nn.Module):
    """Raw latents back to images in [-1, 1] (autoencoder.rs `decode_raw`)."""

    def __init__(self, shape, groups):
        super().__init__()
        c = shape["channels"]
        self.stem = nn.Conv2d(shape["latent_channels"], c[-1], 3, padding=1)
        self.block = AutoencoderBlock(c[-1], groups)
        self.up = nn.ModuleList(Level(b, a, 1, groups) for a, b in reversed(list(zip(c, c[1:]))))
        self.out_norm = nn.GroupNorm(groups, c[0])
        self.out = nn.Conv2d(c[0], 3, 3, padding=1)

    def forward(self, z):
        h = self.block(self.stem(z))
        for up in self.up:
            h = up.block(up.conv(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        return self.out(F.silu(self.out_norm(h)))


class Autoencoder(nn.Module):
    """Generator v2's autoencoder (autoencoder.rs), with the per-channel latent statistics the
    denoiser's latents are standardised by. Its forward decodes: what sampling ends with."""

    def __init__(self, shape, groups):
        super().__init__()
        self.encoder = Encoder(shape, groups)
        self.decoder = Decoder(shape, groups)
        self.register_buffer("latent_mean", torch.zeros(shape["latent_channels"]))
        self.register_buffer("latent_std", torch.ones(shape["latent_channels"]))

    def statistics(self):
        """The latents' per-channel mean and standard deviation, shaped to broadcast over
        [batch, channels, h, w] (autoencoder.rs `statistics`)."""
        return self.latent_mean[None, :, None, None], self.latent_std[None, :, None, None]

    def forward(self, latents):
        """Standardised latents [batch, channels, h, w] to images [batch, 3, f h, f w]."""
        mean, std = self.statistics()
        return self.decoder(latents * std + mean)

    def encode(self, images):
        """Images in [-1, 1] to standardised latents (autoencoder.rs `encode`)."""
        mean, std = self.statistics()
        return (self.encoder(images) - mean) / std


class GeneratorV2(nn.Module):
    """Generator v2 with the transformer (mod.rs `GeneratorV2`): the denoiser under its enum
    variant's parameter path (`denoiser.DiT.`), and the autoencoder it works on the latents of
    (none over pixels). Its forward is the denoiser's."""

    def __init__(self, model, rooms, styles):
        super().__init__()
        shape = model["architecture"]
        self.denoiser = nn.ModuleDict(
            {"DiT": DiT(shape, model["base_channels"], model["cond_dim"], rooms, styles)})
        autoencoder = shape.get("autoencoder")
        self.autoencoder = Autoencoder(autoencoder, model["groups"]) if autoencoder else None

    def forward(self, x, t, room, style, guidance=None, step=None):
        return self.denoiser["DiT"](x, t, room, style, guidance, step)


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


@dataclass(frozen=True)
class Condition:
    """What a request's evaluations are conditioned on: its labels' embedding rows, the "no
    label" rows, and which scalars the network reads (a distilled student's)."""
    room: int
    style: int
    null_room: int
    null_style: int
    guidance: bool = False
    step_size: bool = False


class Reference:
    """The generator with the parameters of a safetensors export, its weights header, version
    and label names (the model's vocabulary, in embedding-row order; the row after the last is
    "no label")."""

    def __init__(self, path):
        state, meta = read_safetensors(path)
        self.header = json.loads(meta["designer"])
        self.version = meta.get("version")
        shape = self.header["model"]
        # The model's own vocabulary: the file's `labels` list every label there is, and an
        # older model has rows for fewer.
        vocabulary = shape["vocabulary"]
        self.room_types, self.styles = vocabulary["room_types"], vocabulary["styles"]
        rooms, styles = len(self.room_types), len(self.styles)
        # A file without an architecture holds the first U-Net.
        self.architecture = shape.get("architecture", {"network": "unet_v1"})
        network = self.architecture["network"]
        if network == "unet_v1":
            self.model = Generator(shape["base_channels"], shape["cond_dim"], shape["groups"],
                                   rooms, styles)
        elif network == "dit":
            self.model = GeneratorV2(shape, rooms, styles)
        else:
            raise NotImplementedError(f"no PyTorch reference of the {network} network")
        self.model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        self.model.eval()

    def condition(self, request):
        """The request's `Condition` for this network."""
        if request.get("photo"):
            raise NotImplementedError("the reference draws from labels, not from photos")
        return Condition(self.room_types.index(request["room_type"]),
                         self.styles.index(request["style"]), len(self.room_types),
                         len(self.styles), guidance=bool(self.architecture.get("guidance")),
                         step_size=bool(self.architecture.get("step_size")))

    def decoder(self):
        """What turns the sampled tensor into images: the autoencoder (standardised latents to
        pixels), or None for a network over pixels."""
        return getattr(self.model, "autoencoder", None)


def steps_for(request, condition):
    """The request's steps, else what the network needs: a step-distilled student's first
    distilled count unless the teacher's sampler is asked for, else the teacher's 20
    (request.rs `steps_for`)."""
    if request.get("steps") is not None:
        return request["steps"]
    if condition.step_size and request.get("sampler", "euler") != "teacher":
        return DISTILLED_STEPS[0]
    return TEACHER_STEPS


def evaluate(forward, x, t, condition, rows, step):
    """The network's velocity at `x` for each of `rows` (room, style, guidance weight or None),
    the batches stacked in that order. A network reading scalars takes the guidance weight and
    the step as two more inputs, NaN where there is none."""
    batch = x.shape[0]
    column = lambda values, dtype: torch.cat([torch.full((batch,), v, dtype=dtype)
                                              for v in values])
    inputs = [torch.cat([x] * len(rows)), torch.full((batch * len(rows),), t),
              column([room for room, _, _ in rows], torch.int64),
              column([style for _, style, _ in rows], torch.int64)]
    if condition.guidance or condition.step_size:
        nan = float("nan")
        inputs += [column([nan if g is None else g for _, _, g in rows], torch.float32),
                   torch.full((batch * len(rows),), nan if step is None else step)]
    return forward(*inputs)


def guided_velocity(forward, x, t, condition, guidance, step):
    """v = v_uncond + g (v_cond - v_uncond), both halves in one batch; g = 0 and g = 1 need one
    of them, and so does a guidance-distilled network for g in DISTILLED_GUIDANCE, told g (its
    velocity at weight 1 is its conditional one). `step`: what a step-distilled network is told
    it jumps (None: the velocity itself)."""
    c = condition
    unconditional = (c.null_room, c.null_style, None)
    if guidance == 0.0:
        return evaluate(forward, x, t, c, [unconditional], step)
    if c.guidance and DISTILLED_GUIDANCE[0] <= guidance <= DISTILLED_GUIDANCE[1]:
        return evaluate(forward, x, t, c, [(c.room, c.style, guidance)], step)
    conditional = (c.room, c.style, 1.0)
    if guidance == 1.0:
        return evaluate(forward, x, t, c, [conditional], step)
    both = evaluate(forward, x, t, c, [conditional, unconditional], step)
    conditional, unconditional = both.chunk(2)
    return unconditional + guidance * (conditional - unconditional)


def sample(forward, start, t_start, condition, request):
    """Euler or Heun steps from `start` at `t_start` to t = 1, as core/src/sampler.rs.
    `forward(x, t, room_ids, style_ids[, guidance, step])` is the network, in whatever runtime
    (the last two only for a network that reads them: see `evaluate`)."""
    guidance, sampler = request["guidance"], request.get("sampler", "euler")
    steps = steps_for(request, condition)
    x, dt = start, (1.0 - t_start) / steps
    # A step-distilled student is told how far each step jumps, unless the teacher's sampler is
    # asked for.
    step = dt if condition.step_size and sampler != "teacher" else None
    velocity = lambda x, t: guided_velocity(forward, x, t, condition, guidance, step)
    for i in range(steps):
        t = t_start + dt * i
        v = velocity(x, t)
        if sampler == "heun":
            v_next = velocity(x + v * dt, t + dt)
            x = x + (v + v_next) * (dt / 2.0)
        else:
            x = x + v * dt
    return x


def to_pixels(images):
    """[-1, 1] floats to uint8 [batch, h, w, 3], rounded as core/src/image.rs does."""
    return ((images + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def load_sampled(path):
    """What `designer generate --tensors` wrote: `start` (the starting tensor in the network's
    space: a latent model's standardised latents), `images` (the sampled result as images,
    [batch, 3, size, size] floats in [-1, 1], decoded where the network works on latents), the
    request, t_start and the version of the model that sampled them."""
    tensors, meta = read_safetensors(path)
    return (tensors["start"], tensors["images"], json.loads(meta["request"]),
            float(meta["t_start"]), meta.get("model"))
