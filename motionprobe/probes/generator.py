"""Class-agnostic temporal generator (Huang et al., "What Makes a Video a Video", CVPR 2018).

A small 3-D encoder-decoder turns ``k`` of the ``T`` frames of a clip (``k`` in 1, 2, 4, 8) into a
full-length clip. It is trained without labels: a frozen classifier's intermediate features of the
generated clip must match those of the real clip (a perceptual loss summed over several layers).
It never sees a label, so whatever motion it adds is a dataset-wide prior, not the clip's own.

Why noise and best-of-K: a deterministic generator trained only on feature matching regresses to
the mean of the possible motions, which is close to no motion at all, and its clips then behave
like frozen clips. Here the generator also takes a noise input, and each training clip draws
``samples`` noise tensors; only the best sample per clip (lowest perceptual loss) is
back-propagated ("implicit maximum likelihood" / best-of-many samples). Every real clip then pulls
the nearest sample towards it, so different noise keeps producing different motions, without an
adversary. :func:`train_generator` reports the motion energy of generated clips against real
clips and against the held (nearest kept frame) input a static generator would give.

Layout of a generator run folder: ``generator.pt`` (weights, config, optimiser; written atomically
at every epoch end, a re-run resumes from it), ``metrics.csv`` (per epoch: the best-of-K loss and
the held clips' loss on the same clips, both also per ``k``), ``motion.csv`` (per ``k``: motion
energy of real, generated and held clips on the validation split, their ratio, and the perceptual
loss of generated and held clips), ``config.json`` and ``bad_items.csv``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from motionprobe.data.layouts import has_split, load_index
from motionprobe.data.loaders import make_loader
from motionprobe.device import channels_last, for_inference
from motionprobe.interventions import hold, keep_indices, motion_energy
from motionprobe.io import (
    atomic_path,
    bad_items_frame,
    hide_bars,
    provenance,
    run_lock,
    write_csv,
    write_json,
)
from motionprobe.loop import optimise_epoch
from motionprobe.models.adapter import make_target
from motionprobe.models.sources import is_spec
from motionprobe.runs import RunConfig, RunResult, register_run

#: Inception endpoints the perceptual loss uses when the classifier has them (early to late).
INCEPTION_LAYERS = ("Conv3d_2c_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c")

#: ReLU layers the perceptual loss uses on other classifiers (spread evenly, first to last).
RELU_LAYERS = 5

#: Marks a file written by :func:`train_generator` (checked by :func:`load_generator`).
KIND = "motionprobe.temporal_generator"


class _Residual(nn.Module):
    """Two 3x3x3 convolutions with a skip: ``(B, c, T, h, w) -> (B, c, T, h, w)``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(c, c, 3, padding=1), nn.ReLU(), nn.Conv3d(c, c, 3, padding=1)
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.body(x))


class TemporalGenerator(nn.Module):
    """Held frames, their mask and noise in, a full clip out.

    Encoder (two 3x3x3 convolutions of spatial stride 2), ``blocks`` residual blocks of 3x3x3
    convolutions at 1/4 resolution (these move content across time), decoder (a convolution at
    the lower resolution, then nearest upsampling, with additive skips from the encoder; convolving
    before upsampling keeps the cost at full resolution to the stem and the output layer). It
    predicts a residual added to the held frames, so an untrained generator (its last convolution
    starts at zero) outputs the held clip, and the kept frames are copied exactly from the input.

    Args:
        width: Channels of the first stage (then 2x and 4x).
        noise_channels: Channels of the noise input.
        blocks: Residual blocks at the lowest resolution.

    Attributes:
        config: The constructor's arguments (rebuild with ``TemporalGenerator(**config)``).
    """

    def __init__(self, width: int = 32, noise_channels: int = 4, blocks: int = 2) -> None:
        super().__init__()
        self.config = {
            "width": int(width),
            "noise_channels": int(noise_channels),
            "blocks": int(blocks),
        }
        self.noise_channels = int(noise_channels)
        w = int(width)
        self.stem = nn.Sequential(nn.Conv3d(4 + noise_channels, w, 3, padding=1), nn.ReLU())
        self.down1 = nn.Sequential(nn.Conv3d(w, 2 * w, 3, (1, 2, 2), padding=1), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv3d(2 * w, 4 * w, 3, (1, 2, 2), padding=1), nn.ReLU())
        self.blocks = nn.Sequential(*(_Residual(4 * w) for _ in range(blocks)))
        self.up1 = nn.Sequential(nn.Conv3d(4 * w, 2 * w, 3, padding=1), nn.ReLU())
        self.up2 = nn.Sequential(nn.Conv3d(2 * w, w, 3, padding=1), nn.ReLU())
        self.head = nn.Conv3d(w, 3, 3, padding=1)
        # Start as the identity on the held clip: training only ever adds motion to it.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(
        self, frames: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """Generate a clip.

        Args:
            frames: ``(B, 3, T, H, W)`` pixel units (0..255); non-kept frames already hold the
                nearest kept frame (see :func:`hold`).
            mask: ``(B, 1, T, H, W)``, 1 at kept frames, 0 elsewhere.
            noise: ``(B, noise_channels, T, H, W)``, standard normal.

        Returns:
            ``(B, 3, T, H, W)`` in pixel units within [0, 255], equal to ``frames`` where
            ``mask`` is 1.
        """
        h, w = frames.shape[-2:]
        x = frames / 127.5 - 1
        inputs = torch.cat([x, mask.to(x.dtype), noise.to(x.dtype)], 1)
        ph, pw = -h % 4, -w % 4
        if ph or pw:  # two stride-2 stages need sides divisible by 4
            inputs = F.pad(inputs, (0, pw, 0, ph, 0, 0), mode="replicate")
        s0 = self.stem(inputs)
        s1 = self.down1(s0)
        z = self.blocks(self.down2(s1))
        z = F.interpolate(self.up1(z), scale_factor=(1, 2, 2), mode="nearest") + s1
        z = F.interpolate(self.up2(z), scale_factor=(1, 2, 2), mode="nearest") + s0
        y = x + self.head(z)[..., :h, :w]
        # Clamp forward, identity backward: a pixel pushed past the range still gets a gradient
        # that can bring it back (a plain clamp would leave it stuck at zero gradient).
        y = y + (y.clamp(-1, 1) - y).detach()
        y = (y + 1) * 127.5
        keep = mask > 0.5
        return torch.where(keep, frames, y)


def generate(
    net: TemporalGenerator,
    x: torch.Tensor,
    k: int,
    generator: torch.Generator | None = None,
    offset: int = 0,
) -> torch.Tensor:
    """Regenerate a clip from ``k`` of its frames.

    Keeps the frames at :func:`keep_indices` ``(T, k, offset)``, holds each over its segment and
    lets ``net`` fill in the motion. The noise is drawn on the CPU from ``generator`` (then moved
    to ``x``'s device), so the same generator state gives the same output on any device. Runs
    under the caller's grad mode.

    Args:
        net: A trained :class:`TemporalGenerator` (put it in ``eval()`` mode yourself).
        x: ``(B, 3, T, H, W)`` pixel units.
        k: Frames kept, ``1 <= k <= T``; ``k == T`` returns ``x`` itself.
        generator: Source of the noise (None: the global RNG).
        offset: Phase of the kept frames.

    Returns:
        ``(B, 3, T, H, W)``, equal to ``x`` at the kept frames.

    >>> net = TemporalGenerator(width=4)
    >>> x = torch.rand(1, 3, 8, 8, 8) * 255
    >>> y = generate(net, x, 2, torch.Generator().manual_seed(0))
    >>> y.shape, bool((y[:, :, [2, 6]] == x[:, :, [2, 6]]).all())
    (torch.Size([1, 3, 8, 8, 8]), True)
    """
    b, _, t, h, w = x.shape
    if k == t:
        keep_indices(t, k, offset)  # validates k
        return x
    held, mask = hold(x, k, offset)
    noise = torch.randn(b, net.noise_channels, t, h, w, generator=generator)
    return net(held, mask, noise.to(device=x.device, dtype=x.dtype))


def feature_layers(model: nn.Module) -> list[str]:
    """Default layers of the perceptual loss for a classifier.

    Inception models (with ``endpoints``): those of :data:`INCEPTION_LAYERS` they have. Others:
    :data:`RELU_LAYERS` ``nn.ReLU`` modules spread evenly (first and last included) over those
    outside the classifier head (modules named ``classifier``, ``fc``, ``Logits`` or the parents
    of ``model.head``); for C3D these are ReLUs of ``features``, conv1 to conv5.

    A wrapped model from elsewhere (:mod:`motionprobe.models.sources`): its stage ends.

    Returns:
        Module names for ``model.get_submodule``.
    """
    if getattr(model, "stage_layers", None):
        return list(model.stage_layers)
    endpoints = getattr(model, "endpoints", None)
    if endpoints:
        chosen = [e for e in INCEPTION_LAYERS if e in endpoints]
        if chosen:
            return chosen
    heads = {"classifier", "fc", "Logits"}
    heads |= {h.rsplit(".", 1)[0] for h in getattr(model, "head", ()) if "." in h}
    relus = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.ReLU)
        and not any(name == p or name.startswith(p + ".") for p in heads)
    ]
    if not relus:
        raise ValueError(f"{type(model).__name__} has no nn.ReLU layer to match features at")
    picks = np.unique(np.round(np.linspace(0, len(relus) - 1, min(RELU_LAYERS, len(relus)))))
    return [relus[int(i)] for i in picks]


class _Enough(Exception):
    """Raised by the last hook: the layers past it (and the head) need not run."""


class FeatureLoss:
    """Perceptual loss of a frozen classifier: generated vs real features at several layers.

    Per clip and layer, the mean squared difference of the features divided by the mean squared
    activation of the real clip at that layer (detached), summed over layers. The division makes
    layers of different scales count alike; it is our choice, as the paper's exact normalisation
    was not found.

    The model is put in ``eval()`` mode and its parameters stop requiring gradients (it is
    changed in place). The loss runs a snapshot of it taken here, with its BatchNorms folded
    (:func:`motionprobe.device.for_inference`): weights loaded into the model later do not
    reach the loss, so build the loss after loading and moving the model. Forward hooks are
    registered only during a call.

    Args:
        model: The classifier; one RGB input ``(B, 3, T, H, W)``.
        layers: Module names (default :func:`feature_layers`).
        eps: Added to each denominator (a clip with no activation at a layer).
    """

    def __init__(
        self, model: nn.Module, layers: Sequence[str] | None = None, eps: float = 1e-6
    ) -> None:
        inputs = tuple(getattr(model, "inputs", ("rgb",)))
        if inputs != ("rgb",):
            raise ValueError(
                f"the perceptual loss needs a model of one RGB input, not {inputs} "
                f"({type(model).__name__})"
            )
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.layers = list(layers) if layers else feature_layers(model)
        known = dict(model.named_modules())
        unknown = [name for name in self.layers if name not in known]
        if unknown:
            raise ValueError(f"unknown layers {unknown} of {type(model).__name__}")
        self.eps = eps
        # BatchNorms folded into their convolutions (exact in eval mode) halve a C3D's forward
        # and backward; not when a named layer is itself a convolution or BatchNorm that folds.
        folds = (nn.Conv2d, nn.Conv3d, nn.BatchNorm2d, nn.BatchNorm3d)
        named_fold = any(isinstance(known[name], folds) for name in self.layers)
        self.net = model if named_fold else for_inference(model)
        known = dict(self.net.named_modules())
        self.modules = [known[name] for name in self.layers]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features ``(B, ...)`` at :attr:`layers` of a normalised batch ``(B, 3, T, H, W)``."""
        found: dict[str, torch.Tensor] = {}

        # A wrapped model's tokens or channels-last maps, read as maps like our models' features.
        as_map = getattr(self.model, "feature_map", lambda output, shape: output)

        def hook(name: str):
            def store(module, args, output):
                found[name] = as_map(output, x.shape)
                if len(found) == len(self.layers):
                    raise _Enough

            return store

        pairs = zip(self.layers, self.modules, strict=True)
        handles = [m.register_forward_hook(hook(n)) for n, m in pairs]
        try:
            self.net(x)
        except _Enough:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return [found[name] for name in self.layers]

    def targets(self, real: torch.Tensor) -> list[torch.Tensor]:
        """The real clips' features (without grad), to score several fakes against."""
        with torch.no_grad():
            return self.features(real)

    def __call__(
        self,
        fake: torch.Tensor,
        real: torch.Tensor,
        targets: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Per-clip loss.

        Args:
            fake: Normalised generated clips ``(S * B, 3, T, H, W)``, ``S >= 1`` samples per
                real clip, sample-major (rows ``s * B + b``).
            real: Normalised real clips ``(B, 3, T, H, W)`` (features computed without grad).
            targets: :meth:`targets` of ``real`` when already computed (saves a forward pass).

        Returns:
            ``(S * B,)``: 0 where a generated clip equals its real clip.
        """
        b = real.shape[0]
        if fake.shape[0] % b:
            raise ValueError(f"{fake.shape[0]} generated clips for {b} real ones")
        repeats = fake.shape[0] // b
        if targets is None:
            targets = self.targets(real)
        loss = fake.new_zeros(fake.shape[0])
        for f, r in zip(self.features(fake), targets, strict=True):
            # Reduced over dims rather than flattened, and the samples broadcast against their
            # real clip rather than repeated: channels-last features are never copied.
            r = r.detach().float()
            scale = _mean_square(r, start=1) + self.eps  # (B,)
            error = _mean_square(f.float().unflatten(0, (repeats, b)) - r, start=2)  # (S, B)
            loss = loss + (error / scale).flatten()
        return loss


def _mean_square(x: torch.Tensor, start: int) -> torch.Tensor:
    """Mean of ``x ** 2`` over the dims from ``start`` on (a norm: no squared copy is made)."""
    dims = tuple(range(start, x.ndim))
    return torch.linalg.vector_norm(x, dim=dims).square() / math.prod(x.shape[start:])


def best_of_k_loss(
    net: TemporalGenerator,
    loss_fn: FeatureLoss,
    x: torch.Tensor,
    k: int,
    samples: int,
    generator: torch.Generator | None = None,
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training objective on one batch: the best of ``samples`` generations per clip.

    Every clip is generated ``samples`` times with different noise; only the sample of lowest
    perceptual loss counts, so only it receives gradient (implicit maximum likelihood). The
    held clip is scored alongside, as the static baseline on the same clips.

    Args:
        net: The generator (in the caller's train/eval mode and grad mode).
        loss_fn: The frozen classifier's :class:`FeatureLoss`.
        x: Real clips ``(B, 3, T, H, W)`` in pixel units.
        k: Frames kept.
        samples: Noise samples per clip (K).
        generator: Source of the noise, drawn on the CPU (None: the global RNG).
        offset: Phase of the kept frames.

    Returns:
        The mean over clips of the best sample's loss (scalar, differentiable) and the held
        clips' loss ``(B,)`` (no gradient).
    """
    held, mask = hold(x, k, offset)
    b = x.shape[0]
    noise = torch.randn(samples * b, net.noise_channels, *x.shape[2:], generator=generator)
    noise = noise.to(device=x.device, dtype=x.dtype)
    preset = loss_fn.model.preset
    real = preset.normalize(x)
    targets = loss_fn.targets(real)
    # Only the best sample of each clip receives gradient, so the samples are scored without
    # a graph and the winners alone are generated again with one: the backward pass (most of a
    # step's time) then covers B clips, not (samples + 1) * B. The held clips ride along as one
    # more "sample", so the static baseline costs no second pass over the real clips. One sample
    # at a time: B clips keep a small classifier's activations in a CPU's cache (2x faster per
    # clip than 4B at once).
    with torch.no_grad():
        fakes = [net(held, mask, n) for n in noise.view(samples, b, *noise.shape[1:])]
        per_sample = torch.stack(
            [loss_fn(preset.normalize(clip), real, targets) for clip in (*fakes, held)]
        )
    held_loss = per_sample[samples]
    if not torch.is_grad_enabled():
        return per_sample[:samples].min(0).values.mean(), held_loss
    best = per_sample[:samples].argmin(0)
    chosen = noise.view(samples, b, *noise.shape[1:])[best, torch.arange(b, device=x.device)]
    fake = net(held, mask, chosen)
    return loss_fn(preset.normalize(fake), real, targets).mean(), held_loss


def _check_ks(ks: Sequence[int], t: int) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    if not ks:
        raise ValueError("ks is empty")
    for k in ks:
        keep_indices(t, k)
    return ks


def _resume_generator(
    path: Path, identity: dict, net: nn.Module, opt: torch.optim.Optimizer, device: str
) -> tuple[int, list[dict]]:
    """Load ``generator.pt`` if there is one (made for the same classifier and settings).

    Returns:
        The epochs done and their metrics rows (``0, []`` for a new run).
    """
    if not path.is_file():
        return 0, []
    state = torch.load(path, map_location=device, weights_only=True)
    theirs = {key: state.get(key) for key in identity}
    if theirs != identity:
        raise ValueError(
            f"{path} was made with {json.dumps(theirs)}, not {json.dumps(identity)}; use a new out"
        )
    net.load_state_dict(state["state_dict"])
    opt.load_state_dict(state["optimizer"])
    return int(state["epoch"]), list(state["history"])


def _generator_epoch(
    run: tuple,
    loader: DataLoader,
    epoch: int,
    epochs: int,
    bad: list,
    where: str,
    path: Path,
    progress: bool,
) -> dict:
    """One epoch of generator training; its metrics row (per-k best-of-K and held losses).

    ``run`` is ``(net, optimiser, loss, ks, samples, frames, seed, device)``.
    """
    net, opt, loss_fn, ks, samples, frames, seed, device = run
    net.train()
    loader.dataset.set_epoch(epoch)
    loader.sampler.set_epoch(epoch)
    steps = len(loader)
    # Phases and noise from (seed, epoch): a resumed epoch draws what it would have drawn.
    rng = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    # Per k: summed best-of-K loss, summed loss of the held input (the static baseline on the
    # same clips), clips.
    sums = {k: [0.0, 0.0, 0] for k in ks}
    latest: dict = {}
    t0 = time.time()

    def loss_of(batch: dict, i: int, boundary: bool) -> torch.Tensor | None:
        if batch["video"] is None:
            return None
        x = batch["video"].to(device)  # batch["label"] is never read: class-agnostic
        k = ks[(epoch * steps + i) % len(ks)]
        offset = int(torch.randint(0, max(frames // k, 1), (1,), generator=rng))
        loss, held_loss = best_of_k_loss(net, loss_fn, x, k, samples, rng, offset)
        b = x.shape[0]
        sums[k][0] += loss.item() * b
        sums[k][1] += held_loss.sum().item()
        sums[k][2] += b
        latest.update(loss=loss.item(), k=k)
        return loss

    def after_step(i: int, bar) -> None:
        if progress and latest:
            bar.set_postfix(loss=f"{latest['loss']:.4f}", k=latest["k"])

    optimise_epoch(
        loader,
        loss_of,
        opt,
        desc=f"generator {epoch + 1}/{epochs}",
        where=lambda i: (
            f"epoch {epoch + 1}, batch {i + 1} of {where}; the last good state is {path}"
        ),
        bad=bad,
        progress=progress,
        after_step=after_step,
    )
    n = max(sum(c for _, _, c in sums.values()), 1)
    row = {
        "epoch": epoch + 1,
        "loss": sum(s for s, _, _ in sums.values()) / n,
        "loss_held": sum(h for _, h, _ in sums.values()) / n,
    }
    for k, (s, h, c) in sums.items():
        row[f"loss_k{k}"] = s / c if c else float("nan")
        row[f"held_k{k}"] = h / c if c else float("nan")
    row["seconds"] = time.time() - t0
    return row


@register_run("generator")
@dataclass(frozen=True)
class GeneratorConfig(RunConfig):
    """Every parameter of a generator training run (:func:`train_generator`).

    Attributes:
        checkpoint: Classifier checkpoint (:func:`motionprobe.models.checkpoint.load_checkpoint`).
        data: Dataset root (Kinetics layout).
        out: Run folder.
        ks: Numbers of kept frames to train for (each ``<=`` the classifier's clip length).
        epochs: Passes over ``split``.
        batch_size: Real clips per step (each generated ``samples`` times).
        samples: Noise samples per clip (K of the best-of-K loss).
        lr: Adam learning rate.
        width: Generator width (see :class:`TemporalGenerator`).
        layers: Classifier layers of the perceptual loss (default :func:`feature_layers`).
        device: Torch device.
        seed: Seed of the generator's weights, the data order, the phases and the noise.
        split: Training split.
        val_split: Split of the final motion evaluation (default: ``val``, or ``test`` for a
            layout without a val split such as UCF101).
        frames: The classifier's clip length (recorded; taken from the checkpoint).
        truncated: ``skip`` truncated videos (bad items) or ``use`` the frames before their
            damage (listed as used; :data:`motionprobe.video.TRUNCATED_POLICIES`).
    """

    checkpoint: str | Path
    data: str | Path
    out: str | Path
    ks: Sequence[int] = (1, 2, 4, 8)
    epochs: int = 10
    batch_size: int = 16
    samples: int = 3
    lr: float = 3e-4
    width: int = 8
    layers: Sequence[str] | None = None
    device: str = "cpu"
    seed: int = 0
    split: str = "train"
    val_split: str | None = None
    frames: int | None = None
    truncated: str = "skip"


@dataclass
class GeneratorResult(RunResult):
    """What a generator training run returns.

    Attributes:
        out: The run folder.
        generator: Path of ``generator.pt``.
        motion: Rows of ``motion.csv``.
        loss: The last epoch's mean training loss.
        epochs: Epochs trained in all.
    """

    out: str
    generator: str
    motion: list[dict]
    loss: float
    epochs: int


def train_generator(
    checkpoint: str | Path | GeneratorConfig,
    data: str | Path | None = None,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    **options,
) -> GeneratorResult:
    """Train a class-agnostic temporal generator against a frozen classifier, without labels.

    Each step takes a batch of real clips (their labels are ignored), one ``k`` (cycling
    through ``ks``) and one random phase, draws ``samples`` noise tensors per clip, and
    minimises the mean over clips of the smallest :class:`FeatureLoss` among the samples (Adam).
    ``out/generator.pt`` is written atomically at each epoch end; running again with the same
    ``out`` resumes after the last finished epoch (nothing is trained if all are done). Finally,
    on ``val_split`` without gradients, each ``k`` is scored by the motion energy of real,
    generated (one noise sample, centred phase) and held clips and by the perceptual loss of
    generated and held clips.

    Args:
        checkpoint: The classifier's checkpoint (see :class:`GeneratorConfig`), or a whole
            :class:`GeneratorConfig` (then ``options`` override its fields).
        data: Dataset root.
        out: Run folder.
        progress: Show progress bars.
        **options: Any other field of :class:`GeneratorConfig`, with its defaults.

    Returns:
        The folder, the generator's path, the motion evaluation and the training loss.

    Raises:
        ValueError: ``out`` holds a generator made for another classifier, ``ks`` or width.
    """
    cfg = GeneratorConfig.of(checkpoint, data, out, **options)
    with run_lock(cfg.out, "generator"):
        return _train_generator(cfg, progress)


def _train_generator(cfg: GeneratorConfig, progress: bool) -> GeneratorResult:
    """:func:`train_generator` once its folder is held."""
    out, checkpoint, device, seed = Path(cfg.out), cfg.checkpoint, cfg.device, cfg.seed
    ks, samples, batch_size = cfg.ks, cfg.samples, cfg.batch_size
    target = make_target(checkpoint, device, data_classes=load_index(cfg.data, cfg.split).classes)
    if target.inputs != ("rgb",):
        raise ValueError(f"{checkpoint}: the generator makes RGB clips; this model takes flow")
    model, frames = target.model, target.frames
    ks = _check_ks(ks, frames)
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    loss_fn = FeatureLoss(model, cfg.layers)
    loader_args = dict(
        classes=target.classes,
        preset=target.rgb_preset,
        frames=frames,
        batch_size=batch_size,
        seed=seed,
        cache="auto",
        fps=target.info["fps"],
        short=target.info["short"],
        truncated=cfg.truncated,
    )
    # Both loaders up front: a missing split fails before training, not after it.
    train_loader, train_set, bad = make_loader(cfg.data, cfg.split, train=True, **loader_args)
    val_split = cfg.val_split or ("val" if has_split(cfg.data, "val") else "test")
    val_loader, _, val_bad = make_loader(cfg.data, val_split, train=False, **loader_args)
    bad = list(bad) + list(val_bad)

    torch.manual_seed(seed)
    net = channels_last(TemporalGenerator(width=cfg.width).to(device))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    identity = {
        "config": net.config,
        "ks": list(ks),
        "layers": loss_fn.layers,
        "classifier": str(checkpoint if is_spec(checkpoint) else Path(checkpoint).resolve()),
    }
    path = out / "generator.pt"
    start, history = _resume_generator(path, identity, net, opt, device)
    if start and progress:
        print(f"resuming {out} after epoch {start}")
    resolved = replace(cfg, checkpoint=str(checkpoint), data=str(cfg.data), out=str(out), ks=ks,
                       layers=loss_fn.layers, frames=frames)  # fmt: skip
    config = {"run": GeneratorConfig.kind, **resolved.to_dict()}
    write_json(out / "config.json", config | provenance(train_set.records, seed))

    epochs = cfg.epochs
    for epoch in range(start, epochs):
        run = (net, opt, loss_fn, ks, samples, frames, seed, device)
        row = _generator_epoch(run, train_loader, epoch, epochs, bad, f"{out}", path, progress)
        history.append(row)
        state = identity | {
            "kind": KIND,
            "state_dict": net.state_dict(),
            "epoch": epoch + 1,
            "history": history,
            "optimizer": opt.state_dict(),
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        write_csv(out / "metrics.csv", pd.DataFrame(history))

    motion = _evaluate(net, loss_fn, model, val_loader, ks, device, seed, progress, bad)
    return _finish(out, path, motion, history, bad)


def _finish(
    out: Path, path: Path, motion: list[dict], history: list[dict], bad: list
) -> GeneratorResult:
    """Write the motion evaluation and the bad items; print and return the summary."""
    write_csv(out / "motion.csv", pd.DataFrame(motion))
    write_csv(out / "bad_items.csv", bad_items_frame(bad))
    last = history[-1]["loss"] if history else float("nan")
    first = motion[0]
    print(
        f"generator: {len(history)} epochs, loss {last:.4f}; k={first['k']} motion "
        f"{first['generated']:.2f} vs real {first['real']:.2f} (held {first['held']:.2f}); "
        f"wrote {out}"
    )
    return GeneratorResult(str(out), str(path), motion, last, len(history))


@torch.no_grad()
def _evaluate(
    net: TemporalGenerator,
    loss_fn: FeatureLoss,
    model: nn.Module,
    loader,
    ks: Sequence[int],
    device: str,
    seed: int,
    progress: bool,
    bad: list,
) -> list[dict]:
    """Per ``k``: mean motion energy and perceptual loss of real, generated and held clips."""
    net.eval()
    keys = ("real", "generated", "held", "loss_generated", "loss_held")
    sums = {k: dict.fromkeys(keys, 0.0) for k in ks}
    n = 0
    rngs = {k: torch.Generator().manual_seed(seed * 1_000_003 + k) for k in ks}
    for batch in tqdm(loader, desc="generator eval", leave=False, disable=hide_bars(progress)):
        bad += batch["bad"]
        if batch["video"] is None:
            continue
        x = batch["video"].to(device)
        real = model.preset.normalize(x)
        n += x.shape[0]
        for k in ks:
            held, _ = hold(x, k)
            fake = generate(net, x, k, rngs[k])
            s = sums[k]
            s["real"] += motion_energy(x).sum().item()
            s["generated"] += motion_energy(fake).sum().item()
            s["held"] += motion_energy(held).sum().item()
            s["loss_generated"] += loss_fn(model.preset.normalize(fake), real).sum().item()
            s["loss_held"] += loss_fn(model.preset.normalize(held), real).sum().item()
    rows = []
    for k in ks:
        mean = {key: value / max(n, 1) for key, value in sums[k].items()}
        ratio = mean["generated"] / mean["real"] if mean["real"] > 0 else float("nan")
        rows.append(
            {"k": k, "real": mean["real"], "generated": mean["generated"], "held": mean["held"]}
            | {"ratio": ratio, "loss_generated": mean["loss_generated"]}
            | {"loss_held": mean["loss_held"], "clips": n}
        )
    return rows


def load_generator(path: str | Path, device: str = "cpu") -> TemporalGenerator:
    """A generator from a ``generator.pt`` of :func:`train_generator`, in ``eval()`` mode.

    Raises:
        FileNotFoundError: No such file.
        ValueError: The file is not a generator file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such generator file")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # a truncated or foreign file: name it, whatever torch raised
        raise ValueError(f"{path}: not a generator file ({e})") from e
    if not isinstance(state, dict) or state.get("kind") != KIND or "state_dict" not in state:
        raise ValueError(f"{path}: not a generator file (written by train_generator)")
    net = TemporalGenerator(**state["config"])
    net.load_state_dict(state["state_dict"])
    return channels_last(net.to(device).eval())


__all__ = [
    "FeatureLoss",
    "GeneratorConfig",
    "GeneratorResult",
    "TemporalGenerator",
    "feature_layers",
    "best_of_k_loss",
    "generate",
    "hold",
    "keep_indices",
    "load_generator",
    "motion_energy",
    "train_generator",
]
