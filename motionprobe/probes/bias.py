"""Static and dynamic units per layer (Kowal et al., "A Deeper Dive Into What Deep Spatiotemporal
Networks Encode", CVPR 2022).

Two kinds of clip pairs are built from each decoded clip ``x``:

* **static pairs** share appearance but not motion: ``(x, shuffle(x))``, the same frames in a random
  order (:func:`motionprobe.interventions.shuffle`);
* **dynamic pairs** share motion but not appearance: ``(x, appearance_change(x))``. Kowal et al.
  re-rendered the video with video stylisation; this module uses a cheaper *colour and texture
  change* instead (:func:`appearance_change`): a random hue rotation of the whole clip plus a
  smooth random colour texture, the same affine map of each pixel at every frame, so which pixels
  change and when is exactly the original's.

A layer's output ``(B, C, T', H', W')`` is averaged over ``(T', H', W')`` to one vector per clip.
For each factor ``f`` with pairs ``(a_n, b_n)``, centred by the mean ``mu`` of all ``2N`` vectors,

    score_f = sum_c mean_n (a_nc - mu_c)(b_nc - mu_c) / sum_c var_c,

and ``softmax(score_dynamic, score_static, 1)`` gives the layer's share of dynamic, static and
residual dimensions. Per channel the same covariance over that channel's variance is a correlation;
a unit whose static (dynamic) correlation exceeds :data:`THRESHOLD` is static (dynamic), both:
joint, none: neither (a unit that never varies counts as neither). Because both clips of a pair
are centred by their joint mean, a change that shifts a layer's mean response (early layers read
colour directly) makes that factor's covariance, and score, negative rather than zero.

Flow inputs: a model that takes optical flow (two-stream I3D) gets ``T + 1`` decoded frames; the
pair's transformation is applied to all of them, the first ``T`` are the RGB input and the flow is
*recomputed* from the transformed frames with the method the model was trained with, as in
:mod:`motionprobe.probes.engine`. The streams of a two-stream model are analysed separately
(layers ``rgb.*`` and ``flow.*``) from the same pairs.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from motionprobe.data import collate
from motionprobe.data.loaders import make_dataset
from motionprobe.interventions import shuffle
from motionprobe.io import (
    bad_items_frame,
    hide_bars,
    provenance,
    run_lock,
    skipped,
    write_csv,
    write_json,
)
from motionprobe.models.adapter import Target, model_digest, run_target
from motionprobe.probes.generator import feature_layers
from motionprobe.runs import Outputs, RunConfig, RunResult, claim_folder, register_run
from motionprobe.transforms import Preset
from motionprobe.types import TIME_DIM

#: A unit is static (dynamic) when its static (dynamic) correlation exceeds this (Kowal et al.).
THRESHOLD = 0.5
#: Unit kinds, in table order.
UNIT_KINDS = ("static", "dynamic", "joint", "neither")
#: Inception endpoints that end the network's main stages (stem, conv2, Mixed_3, _4, _5).
STAGE_ENDPOINTS = ("Conv3d_1a_7x7", "Conv3d_2c_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c")
_POOLS = (nn.MaxPool3d, nn.AvgPool3d, nn.MaxPool2d, nn.AvgPool2d)
_MID_GREY = 127.5


# --- pairs ---------------------------------------------------------------------------------------


def _hue_rotation(angle: float) -> torch.Tensor:
    """``(3, 3)`` rotation of RGB space by ``angle`` radians about the grey axis (1, 1, 1)."""
    u = torch.full((3,), 1 / math.sqrt(3.0), dtype=torch.float64)
    cross = torch.tensor(
        [[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]], dtype=torch.float64
    )
    eye = torch.eye(3, dtype=torch.float64)
    rot = (
        math.cos(angle) * eye + math.sin(angle) * cross + (1 - math.cos(angle)) * torch.outer(u, u)
    )
    return rot.float()


def appearance_change(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    hue: tuple[float, float] = (45.0, 135.0),
    texture: float = 48.0,
    cells: int = 4,
) -> torch.Tensor:
    """Change each clip's colours and texture, keeping its motion exactly.

    Per clip: rotate every pixel's colour about the grey axis by an angle whose size is drawn
    uniformly from ``hue`` (degrees) and whose sign is random, add a smooth random colour
    texture (a ``cells x cells`` grid of colours drawn uniformly in ``[-texture, texture]`` px,
    upsampled bilinearly, fixed in space), then scale the clip about mid-grey by the largest
    factor ``k <= 1`` that keeps it in ``[0, 255]``. The map is one affine function per pixel
    position, the same at every frame, so
    ``y[:, :, t] - y[:, :, s] = k R (x[:, :, t] - x[:, :, s])`` with ``R`` a rotation: the same
    pixels change at the same times as in ``x`` (no clipping ever hides a change).

    The default sizes, 45 to 135 degrees either way, move every hue at least an eighth of a turn
    (a red object turns orange-yellow to green, or magenta to blue) and average
    ``cos = sin = 0``: a unit that reads one
    colour direction is uncorrelated with its changed partner on average, as under a random
    stylisation, rather than anti-correlated as a fixed half turn would make it.

    Args:
        x: Pixel-unit clips ``(B, 3, T, H, W)`` in ``[0, 255]``.
        generator: Source of the angles and textures (a CPU generator; same seed, same output).
        hue: Range of the rotation angle's size in degrees (its sign is random).
        texture: Amplitude of the texture in pixel units (0: colour change only).
        cells: Texture grid size (its spatial frequency).

    Returns:
        ``(B, 3, T, H, W)``, same dtype and device, in ``[0, 255]``.

    >>> x = torch.rand(2, 3, 4, 8, 8) * 255
    >>> y = appearance_change(x, torch.Generator().manual_seed(0))
    >>> y.shape, bool(y.min() >= 0) and bool(y.max() <= 255)
    (torch.Size([2, 3, 4, 8, 8]), True)
    """
    if x.dim() != 5 or x.shape[1] != 3:
        raise ValueError(f"expected RGB clips (B, 3, T, H, W), got shape {tuple(x.shape)}")
    b, _, _, h, w = x.shape
    angles = torch.empty(b, dtype=torch.float64).uniform_(*hue, generator=generator)
    angles *= torch.randint(0, 2, (b,), generator=generator).double() * 2 - 1
    rot = torch.stack([_hue_rotation(math.radians(float(a))) for a in angles])  # (B, 3, 3)
    grid = (torch.rand(b, 3, cells, cells, generator=generator) * 2 - 1) * texture
    tex = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=True)  # (B, 3, H, W)
    xf = x.detach().to("cpu", torch.float32) - _MID_GREY
    z = torch.einsum("bij,bjthw->bithw", rot, xf) + tex.unsqueeze(TIME_DIM)
    peak = z.abs().flatten(1).amax(1).clamp(min=1e-6)
    k = (_MID_GREY / peak).clamp(max=1.0).view(b, 1, 1, 1, 1)
    return (z * k + _MID_GREY).clamp(0, 255).to(device=x.device, dtype=x.dtype)


def make_pairs(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    hue: tuple[float, float] = (45.0, 135.0),
    texture: float = 48.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The partners of each clip: frames shuffled (static pair) and appearance changed (dynamic).

    Args:
        x: Pixel-unit clips ``(B, 3, T, H, W)``.
        generator: Source of the permutations, angles and textures.
        hue, texture: See :func:`appearance_change`.

    Returns:
        ``(shuffled, changed)``, each ``(B, 3, T, H, W)``.
    """
    shuffled = shuffle(x, generator=generator)
    return shuffled, appearance_change(x, generator, hue=hue, texture=texture)


# --- layers and features -------------------------------------------------------------------------


def _streams(model: nn.Module) -> list[str]:
    """Names of a model's sub-networks analysed one by one, else ``[]``.

    A multi-input model's per-input sub-networks (``rgb``, ``flow``), or, in a model without
    endpoints of its own, the children that are Inception networks (``spatial``, ``temporal``).
    """
    inputs = tuple(getattr(model, "inputs", ("rgb",)))
    streams = [n for n in inputs if isinstance(getattr(model, n, None), nn.Module)]
    if len(inputs) > 1 and len(streams) == len(inputs):
        return streams
    if getattr(model, "endpoints", None):
        return []
    return [n for n, m in model.named_children() if getattr(m, "endpoints", None)]


def _head_prefixes(model: nn.Module) -> set[str]:
    heads = {"classifier", "fc", "Logits"}
    return heads | {h.rsplit(".", 1)[0] for h in getattr(model, "head", ()) if "." in h}


def _body_relus(model: nn.Module) -> list[str]:
    """``nn.ReLU`` modules outside the classifier head, in registration (execution) order."""
    heads = _head_prefixes(model)
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.ReLU)
        and not any(name == p or name.startswith(p + ".") for p in heads)
    ]


def _endpoint_key(name: str) -> str:
    return name.replace("Conv2d_", "Conv3d_")


def _stage_layers(model: nn.Module) -> list[str]:
    endpoints = getattr(model, "endpoints", None)
    if endpoints:
        chosen = [e for e in endpoints if _endpoint_key(e) in STAGE_ENDPOINTS]
        if chosen:
            return chosen
    # A stage ends with the last ReLU before a pooling layer (C3D: conv1a, 2a, 3b, 4b, 5b).
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    relus = set(_body_relus(model))
    ends, last = [], None
    for name, module in leaves:
        if name in relus:
            last = name
        elif isinstance(module, _POOLS) and last is not None:
            ends.append(last)
            last = None
    if len(ends) >= 2:
        return ends
    return feature_layers(model)


def default_layers(model: nn.Module) -> list[str]:
    """The layers analysed by default: the end of each main stage of the network.

    Inception models (I3D): the endpoints of :data:`STAGE_ENDPOINTS` they have. Others: the last
    ``nn.ReLU`` before each pooling layer (for C3D the ReLUs of conv1a, conv2a, conv3b, conv4b and
    conv5b), or :func:`motionprobe.probes.generator.feature_layers` when there are fewer than two.
    Two-stream models with one sub-network per input (``model.rgb``, ``model.flow``) or with
    Inception children (``spatial``, ``temporal``): each stream's stages, prefixed
    (``rgb.Mixed_5c``); fusion layers outside the streams are not included (name them).

    Returns:
        Module names for ``model.get_submodule``, in depth order (stream by stream).
    """
    if getattr(model, "stage_layers", None):  # a wrapped model's own (models.sources.LAYERS)
        return list(model.stage_layers)
    streams = _streams(model)
    if streams:
        return [f"{s}.{n}" for s in streams for n in _stage_layers(getattr(model, s))]
    return _stage_layers(model)


def _reference(model: nn.Module) -> list[str]:
    """The ordered layers depth is measured along: endpoints before the head, else body ReLUs."""
    endpoints = getattr(model, "endpoints", None)
    if endpoints:
        return [e for e in endpoints if e != "Logits"]
    return _body_relus(model)


def layer_depths(model: nn.Module, layers: Sequence[str]) -> dict[str, float]:
    """Relative depth in ``[0, 1]`` of each layer within its network (or stream).

    Depth is the layer's position among the network's Inception endpoints (I3D) or its ``nn.ReLU``
    modules outside the head (C3D), so ``0`` is the first such layer and ``1`` the last; a layer
    that is neither is placed by its position among all modules.

    Returns:
        ``{layer: depth}``.
    """
    streams = _streams(model)
    out = {}
    for layer in layers:
        head, _, rest = layer.partition(".")
        if head in streams and rest:
            net, name, prefix = getattr(model, head), rest, f"{head}."
        else:
            net, name, prefix = model, layer, ""
        ref = _reference(net)
        if name not in ref:
            ref = [n for n, _ in net.named_modules() if n]
        if name not in ref:
            raise ValueError(f"unknown layer {prefix}{name!r}")
        out[layer] = ref.index(name) / max(len(ref) - 1, 1)
    return out


def _stream_of(model: nn.Module, layer: str) -> str:
    head = layer.split(".")[0]
    return head if head in _streams(model) else ""


def pooled_features(
    model: nn.Module, inputs: Sequence[torch.Tensor], layers: Sequence[str]
) -> dict[str, torch.Tensor]:
    """One forward pass; each layer's output averaged over everything but batch and channel.

    Args:
        model: The network (in eval mode).
        inputs: Its normalised positional inputs, each ``(B, C, T, H, W)``.
        layers: Module names (``model.get_submodule``).

    Returns:
        ``{layer: (B, K)}`` float32 on the CPU, ``K`` the layer's channels (from an output
        ``(B, K, T', H', W')``, or any ``(B, K, ...)``).
    """
    modules = dict(model.named_modules())
    unknown = [n for n in layers if n not in modules or n == ""]
    if unknown:
        raise ValueError(f"unknown layers {unknown}; see motionprobe.probes.bias.default_layers")
    b = len(inputs[0])
    feats: dict[str, torch.Tensor] = {}

    # A wrapped model's tokens or channels-last maps: units on the channel axis as for ours.
    as_map = getattr(model, "feature_map", lambda output, shape: output)

    def hook(name: str):
        def fn(_module, _args, output):
            out = as_map(output, inputs[0].shape)
            out = out[0] if isinstance(out, (tuple, list)) else out
            if out.dim() < 2 or out.shape[0] != b:
                raise ValueError(
                    f"layer {name!r} outputs shape {tuple(out.shape)}: not (B={b}, C, ...), so it "
                    "cannot be pooled per clip; choose another layer"
                )
            out = out.detach().float()
            feats[name] = (out.flatten(2).mean(2) if out.dim() > 2 else out).cpu()

        return fn

    handles = [modules[n].register_forward_hook(hook(n)) for n in layers]
    try:
        model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return {n: feats[n] for n in layers}


# --- scores --------------------------------------------------------------------------------------


def pair_moments(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel covariance of paired features and their variance, centred by the pairs' mean.

    Args:
        a: ``(N, K)`` features of the first clip of each pair.
        b: ``(N, K)`` features of its partner.

    Returns:
        ``(cov, var)``, each ``(K,)``: ``mean_n (a - mu)(b - mu)`` and the variance of all ``2N``
        vectors about ``mu``, their mean.
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"expected two (N, K) tensors of one shape, got {a.shape} and {b.shape}")
    a, b = a.double(), b.double()
    mu = torch.cat([a, b]).mean(0)
    cov = ((a - mu) * (b - mu)).mean(0)
    var = (((a - mu) ** 2).mean(0) + ((b - mu) ** 2).mean(0)) / 2
    return cov, var


def factor_score(a: torch.Tensor, b: torch.Tensor) -> float:
    """How much of a layer's variance a factor shared by the pairs explains.

    Args:
        a, b: ``(N, K)`` features of the two clips of ``N`` pairs sharing the factor.

    Returns:
        ``sum_k cov_k / sum_k var_k`` in ``[-1, 1]`` (1: the pairs' features are identical);
        NaN when the features never vary.

    >>> x = torch.randn(10, 4)
    >>> round(factor_score(x, x), 6)
    1.0
    """
    cov, var = pair_moments(a, b)
    total = float(var.sum())
    return float(cov.sum()) / total if total > 0 else float("nan")


def unit_correlations(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per channel, the pairs' covariance over the channel's variance.

    Args:
        a, b: ``(N, K)`` paired features.
        eps: Channels whose variance is at most ``eps`` times the layer's largest are constant
            (dead units): NaN.

    Returns:
        ``(K,)`` float64 correlations in ``[-1, 1]``.
    """
    cov, var = pair_moments(a, b)
    top = float(var.max()) if var.numel() else 0.0
    dead = var <= max(eps * top, 0.0)
    return torch.where(dead, torch.full_like(cov, float("nan")), cov / var.clamp(min=1e-300))


def dimension_shares(score_dynamic: float, score_static: float) -> dict[str, float]:
    """``softmax(score_dynamic, score_static, 1)``: the layer's share of each kind of dimension.

    A NaN score (a layer that never varies) counts as 0.

    Returns:
        ``{"dynamic", "static", "residual"}``, summing to 1.

    >>> s = dimension_shares(0.0, 1.0)
    >>> round(s["static"], 4), round(sum(s.values()), 6)
    (0.4223, 1.0)
    """
    scores = torch.tensor([score_dynamic, score_static, 1.0], dtype=torch.float64).nan_to_num(0.0)
    p = scores.softmax(0).tolist()
    return {"dynamic": p[0], "static": p[1], "residual": p[2]}


def classify_units(
    corr_static: torch.Tensor | np.ndarray,
    corr_dynamic: torch.Tensor | np.ndarray,
    threshold: float = THRESHOLD,
) -> np.ndarray:
    """Each unit's kind from its two correlations.

    Args:
        corr_static: ``(K,)`` correlations over the static pairs.
        corr_dynamic: ``(K,)`` correlations over the dynamic pairs.
        threshold: A correlation above it means the unit encodes that factor.

    Returns:
        ``(K,)`` strings of :data:`UNIT_KINDS`: ``static`` (only the static correlation above the
        threshold), ``dynamic`` (only the dynamic one), ``joint`` (both) or ``neither`` (none, or
        NaN: a dead unit).

    >>> classify_units(np.array([0.9, 0.1, 0.8, 0.2]), np.array([0.1, 0.9, 0.7, 0.2])).tolist()
    ['static', 'dynamic', 'joint', 'neither']
    """
    s = np.nan_to_num(np.asarray(corr_static, dtype=np.float64), nan=-np.inf) > threshold
    d = np.nan_to_num(np.asarray(corr_dynamic, dtype=np.float64), nan=-np.inf) > threshold
    kinds = np.full(s.shape, "neither", dtype=object)
    kinds[s & ~d] = "static"
    kinds[d & ~s] = "dynamic"
    kinds[s & d] = "joint"
    return kinds


def layer_bias(
    clean: torch.Tensor,
    shuffled: torch.Tensor,
    changed: torch.Tensor,
    threshold: float = THRESHOLD,
) -> tuple[dict, pd.DataFrame]:
    """Scores, shares and unit kinds of one layer from its pooled features.

    Args:
        clean: ``(N, K)`` features of the clips.
        shuffled: ``(N, K)`` of the same clips with frames shuffled (static pairs).
        changed: ``(N, K)`` of the same clips with appearance changed (dynamic pairs).
        threshold: See :func:`classify_units`.

    Returns:
        The layer's row (``channels, score_static, score_dynamic, dynamic, static, residual,
        units_static, units_dynamic, units_joint, units_neither``) and a per-unit table
        (``unit, corr_static, corr_dynamic, kind``).
    """
    score_static = factor_score(clean, shuffled)
    score_dynamic = factor_score(clean, changed)
    corr_static = unit_correlations(clean, shuffled).numpy()
    corr_dynamic = unit_correlations(clean, changed).numpy()
    kinds = classify_units(corr_static, corr_dynamic, threshold)
    row = {
        "channels": int(clean.shape[1]),
        "score_static": score_static,
        "score_dynamic": score_dynamic,
        **dimension_shares(score_dynamic, score_static),
        **{f"units_{k}": int((kinds == k).sum()) for k in UNIT_KINDS},
    }
    units = pd.DataFrame(
        {
            "unit": np.arange(len(kinds)),
            "corr_static": corr_static,
            "corr_dynamic": corr_dynamic,
            "kind": kinds.astype(str),
        }
    )
    return row, units


# --- the run -------------------------------------------------------------------------------------


def _batch_generator(seed: int, video_ids: Sequence[str], clip_index: torch.Tensor):
    # Seeded by the clips, so a pair does not depend on which other clips share its batch.
    key = ",".join(f"{v}#{int(c)}" for v, c in zip(video_ids, clip_index, strict=True))
    return torch.Generator().manual_seed(zlib.crc32(key.encode()) * 1000 + seed)


def _pick(labels: Sequence[int], per_class: int | None, seed: int) -> list[int]:
    """Up to ``per_class`` item indices per class, a seeded draw, in dataset order."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for c in np.unique(labels):
        items = np.flatnonzero(labels == c)
        if per_class is not None and len(items) > per_class:
            items = np.sort(rng.choice(items, per_class, replace=False))
        chosen += items.tolist()
    return sorted(chosen)


def _layer_tables(
    model: nn.Module,
    name: str,
    feats: dict[str, list[list[torch.Tensor]]],
    depths: dict[str, float],
    n_clips: int,
    threshold: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-layer and per-unit tables from each layer's (clean, shuffled, changed) features."""
    rows, unit_tables = [], []
    for layer, parts in feats.items():
        clean, shuffled_f, changed_f = (torch.cat(p) for p in parts)
        row, units = layer_bias(clean, shuffled_f, changed_f, threshold)
        stream = _stream_of(model, layer)
        ident = {"model": name, "stream": stream, "layer": layer, "depth": depths[layer]}
        rows.append({**ident, "channels": row.pop("channels"), "clips": n_clips, **row})
        unit_tables.append(units.assign(model=name, stream=stream, layer=layer))
    units = pd.concat(unit_tables, ignore_index=True)
    columns = ["model", "stream", "layer", "unit", "corr_static", "corr_dynamic", "kind"]
    return pd.DataFrame(rows), units[columns]


@torch.inference_mode()
def _features(
    batches,
    forward,
    layers: Sequence[str],
    seed: int,
    hue: tuple[float, float],
    texture: float,
    bad_rows: list,
) -> tuple[dict[str, list[list[torch.Tensor]]], int]:
    """Each layer's pooled features of every clip, its shuffled and its changed version.

    Returns:
        ``{layer: [clean parts, shuffled parts, changed parts]}`` (each a list of ``(B, C)``
        batches) and the number of clips; bad items are appended to ``bad_rows``.
    """
    feats: dict[str, list[list[torch.Tensor]]] = {n: [[], [], []] for n in layers}
    n_clips = 0
    for batch in batches:
        bad_rows += batch["bad"]
        x = batch["video"]
        if x is None:
            continue
        g = _batch_generator(seed, batch["video_id"], batch["clip_index"])
        shuffled, changed = make_pairs(x, g, hue=hue, texture=texture)
        # One forward for the three versions (eval mode: no batch statistics mix them).
        for layer, f in forward(torch.cat([x, shuffled, changed])).items():
            for i, part in enumerate(f.chunk(3)):
                feats[layer][i].append(part)
        n_clips += len(x)
    return feats, n_clips


@register_run("bias")
@dataclass(frozen=True)
class BiasConfig(RunConfig):
    """Every parameter of a static/dynamic bias run (:func:`run_bias`).

    Attributes:
        checkpoint: A checkpoint of :func:`motionprobe.train.train`, or any ``nn.Module`` taking
            ``(B, C, T, H, W)`` inputs (then give ``classes``, ``frames`` and maybe ``preset``,
            as for :func:`motionprobe.probes.run_probe`).
        data: Dataset root.
        out: Output folder.
        split: Split whose clips are used.
        clips_per_class: Clips drawn per class (seeded); ``None``: all.
        layers: Module names; default :func:`default_layers`.
        seed: Seed of the clip draw, the shuffles and the appearance changes.
        device: Torch device.
        name: The model's name in the tables (default: the checkpoint's model name).
        batch_size: Clips decoded per batch (three forward inputs each).
        threshold: Correlation above which a unit encodes a factor.
        hue, texture: Parameters of :func:`appearance_change`.
        workers: DataLoader workers.
        classes, frames, preset, flow_method: See :func:`motionprobe.models.adapter.make_target`.
        truncated: ``skip`` truncated videos (bad items) or ``use`` the frames before their
            damage (listed as used; :data:`motionprobe.video.TRUNCATED_POLICIES`).
    """

    checkpoint: str | Path | nn.Module
    data: str | Path
    out: str | Path
    split: str = "test"
    clips_per_class: int | None = 20
    layers: Sequence[str] | None = None
    seed: int = 0
    device: str = "cpu"
    name: str | None = None
    batch_size: int = 8
    threshold: float = THRESHOLD
    hue: tuple[float, float] = (45.0, 135.0)
    texture: float = 48.0
    workers: int = 0
    classes: Sequence[str] | None = None
    frames: int | None = None
    preset: Preset | str | None = None
    flow_method: str | None = None
    weights: str | None = None
    partial_classes: bool = False
    truncated: str = "skip"


@dataclass
class BiasResult(RunResult):
    """What a bias run returns.

    Attributes:
        out: The output folder.
        model: The model's name in the tables.
        clips: Clips measured.
        bad_items: Items skipped.
        seconds: Wall time.
        layers: The layers table as records.
    """

    out: str
    model: str
    clips: int
    bad_items: int
    seconds: float
    layers: list[dict]


def run_bias(
    checkpoint: str | Path | nn.Module | BiasConfig,
    data: str | Path | None = None,
    out: str | Path | None = None,
    *,
    progress: bool = True,
    overwrite: bool = False,
    **options,
) -> BiasResult:
    """Share of static and dynamic dimensions and units per layer of a video classifier.

    Decodes each selected clip once, builds its static pair (frames shuffled) and dynamic pair
    (:func:`appearance_change`), runs the three clips through the model under
    ``torch.inference_mode()`` with hooks on ``layers``, and writes to ``out`` (atomically):
    ``layers.csv`` (one row per layer: ``model, stream, layer, depth, channels, clips,
    score_static, score_dynamic, dynamic, static, residual, units_static, units_dynamic,
    units_joint, units_neither``), ``units.csv`` (``model, stream, layer, unit, corr_static,
    corr_dynamic, kind``), ``bad_items.csv`` and ``config.json`` (with the run's ``fingerprint``:
    the checkpoint's content hash, the data and its manifest hash, every setting).

    Args:
        checkpoint: A checkpoint path or module (see :class:`BiasConfig`), or a whole
            :class:`BiasConfig` (then ``options`` override its fields).
        data: Dataset root.
        out: Output folder.
        progress: Show a progress bar.
        overwrite: Discard a run ``out`` already holds that was made with another fingerprint
            (every file it wrote is removed first).
        **options: Any other field of :class:`BiasConfig`, with its defaults.

    Returns:
        The folder, the model's name, counts and the layers table.

    Raises:
        RunError: ``out`` is being written by another process, or holds a bias run (finished
            or not) with another fingerprint and ``overwrite`` is not set.

    >>> run_bias("c3d.pt", "outputs/synthetic", "runs/c3d", clips_per_class=10)  # doctest: +SKIP
    """
    start = time.time()
    cfg = BiasConfig.of(checkpoint, data, out, **options)
    with run_lock(cfg.out, "bias"):
        return _run_bias(cfg, progress, start, overwrite)


#: What a bias run writes into its folder (and a report rendered over it): removed before a run
#: replaces another. ``unfinished.json`` holds the fingerprint while the run is under way.
OUTPUTS = Outputs(
    "bias",
    ("layers.csv", "units.csv", "bad_items.csv", "figures", "report.md", "config.json",
     "unfinished.json"),
    "unfinished.json",
    ("layers.csv", "units.csv"),
)  # fmt: skip


def _run_bias(cfg: BiasConfig, progress: bool, start: float, overwrite: bool) -> BiasResult:
    """:func:`run_bias` once its folder is held."""
    out, device, seed = Path(cfg.out), cfg.device, cfg.seed
    target = run_target(cfg, device)
    model = target.model.eval()
    layers = list(cfg.layers) if cfg.layers else default_layers(model)
    depths = layer_depths(model, layers)
    name = cfg.name or target.info.get("model", type(model).__name__)
    uses_flow = "flow" in target.inputs
    dataset, bad = make_dataset(
        cfg.data,
        cfg.split,
        target.classes,
        target.rgb_preset,
        frames=target.frames + (1 if uses_flow else 0),
        train=False,
        fps=target.info.get("fps"),
        short=target.info.get("short", "loop"),
        truncated=cfg.truncated,
    )
    config = _bias_config(cfg, target, name, layers, dataset.records)
    claim_folder(out, OUTPUTS, config["fingerprint"], overwrite)
    labels = [dataset.class_to_idx[r.label] for r in dataset.records]
    chosen = _pick(labels, cfg.clips_per_class, seed)
    batches = [chosen[i : i + cfg.batch_size] for i in range(0, len(chosen), cfg.batch_size)]
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=cfg.workers, collate_fn=collate)

    def forward(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return pooled_features(model, target.normalize(target.given(x), device), layers)

    bad_rows = [(b.video_id, b.path, b.reason) for b in bad]
    bar = tqdm(loader, desc=f"bias {name}", unit="batch", disable=hide_bars(progress))
    feats, n_clips = _features(bar, forward, layers, seed, cfg.hue, cfg.texture, bad_rows)
    if n_clips < 2:
        raise ValueError(
            f"{cfg.data} ({cfg.split}): {n_clips} usable clips; the statistics need >= 2"
        )

    table, units = _layer_tables(model, name, feats, depths, n_clips, cfg.threshold)
    write_csv(out / "layers.csv", table)
    write_csv(out / "units.csv", units)
    write_csv(out / "bad_items.csv", bad_items_frame(bad_rows))
    write_json(out / "config.json", {**config, "clips": n_clips})
    (out / OUTPUTS.stamp).unlink(missing_ok=True)  # finished
    return BiasResult(
        out=str(out),
        model=name,
        clips=n_clips,
        bad_items=skipped(bad_rows),
        seconds=round(time.time() - start, 1),
        layers=table.to_dict("records"),
    )


#: Settings that change where a run goes or how fast, not its results.
_NOT_RESULTS = ("out", "device", "workers")


def _bias_config(
    cfg: BiasConfig, target: Target, name: str, layers: list[str], records: list
) -> dict:
    """``config.json`` (but the clip count): the resolved config, the pairs, the provenance of
    the split and the run's fingerprint (every setting but where it runs and writes, the
    model's facts, the data and its manifest, the checkpoint by its content)."""
    hue, texture = cfg.hue, cfg.texture
    resolved = cfg.resolved(
        target.info,
        name=name,
        layers=layers,
        frames=target.frames,
        flow_method=target.flow_method if "flow" in target.inputs else None,
        classes=target.classes,
        preset=target.rgb_preset,
    )
    config = {
        "run": BiasConfig.kind,
        "study": "static_dynamic_bias",
        **target.info,
        **resolved.to_dict(),
        "inputs": list(target.inputs),
        "static_pairs": "the clip and the clip with its frames shuffled",
        "dynamic_pairs": "the clip and the clip with a colour and texture change (hue rotation "
        f"by {hue[0]:g} to {hue[1]:g} degrees either way, smooth random texture of "
        f"+-{texture:g} px), not stylisation",
        "appearance_change": {"hue": list(hue), "texture": texture},
        **provenance(records, seed=cfg.seed),
    }
    settings = [f.name for f in fields(BiasConfig) if f.name not in _NOT_RESULTS]
    facts = ["model", "inputs", "manifest_sha256"]
    config["fingerprint"] = {k: config.get(k) for k in settings + facts} | {
        "checkpoint_sha256": model_digest(cfg.checkpoint, target)
    }
    return config


__all__ = [
    "BiasConfig",
    "BiasResult",
    "STAGE_ENDPOINTS",
    "THRESHOLD",
    "UNIT_KINDS",
    "appearance_change",
    "classify_units",
    "default_layers",
    "dimension_shares",
    "factor_score",
    "layer_bias",
    "layer_depths",
    "make_pairs",
    "pair_moments",
    "pooled_features",
    "run_bias",
    "unit_correlations",
]
