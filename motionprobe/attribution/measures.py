"""Numbers over time from attribution maps: per-frame profiles, their concentration, selective
relevance, the flow share of two-stream models, and the completeness error.

Maps are those of :func:`motionprobe.attribution.attribute`: ``(B, C, T, H, W)`` or a tuple of
such, streams aligned in time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from motionprobe.attribution.methods import (
    Tensors,
    _as_tuple,
    _attribution_mode,
    _baselines,
    _targets,
)


def frame_mass(attr: Tensors) -> torch.Tensor:
    """Absolute attribution per frame, ``(B, T)``: sum of ``|attr|`` over C, H, W (and streams)."""
    xs, _ = _as_tuple(attr)
    return sum(a.detach().abs().float().sum((1, 3, 4)) for a in xs)


def frame_profile(attr: Tensors) -> torch.Tensor:
    """Share of each frame in the clip's attribution, ``(B, T)``, each row summing to 1.

    Absolute values are summed (over C, H, W, and over streams for a tuple): positive and
    negative evidence both count as "the model uses this frame", and signed sums would cancel
    within a frame. A clip whose map is all zero gets a NaN row.

    Args:
        attr: ``(B, C, T, H, W)`` or a tuple of such (streams aligned in time).
    """
    mass = frame_mass(attr)
    total = mass.sum(1, keepdim=True)
    return torch.where(total > 0, mass / total.clamp_min(1e-30), torch.nan)


def temporal_entropy(profile: torch.Tensor) -> torch.Tensor:
    """Temporal concentration: Shannon entropy of each profile over ``log T``, ``(B,)``.

    1 = attribution spread evenly over frames, 0 = all on one frame (0 too when T = 1).

    Args:
        profile: ``(B, T)`` non-negative rows summing to 1 (:func:`frame_profile`).
    """
    p = profile.float()
    t = p.shape[-1]
    h = -(torch.where(p > 0, p * p.clamp_min(1e-30).log(), torch.zeros_like(p))).sum(-1)
    if t < 2:
        return torch.zeros_like(h)
    return h / math.log(t)


def class_profiles(
    profiles: torch.Tensor | np.ndarray,
    labels: Sequence[int] | Sequence[str] | torch.Tensor | np.ndarray,
    classes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Mean per-frame profile of each class with its standard error.

    Args:
        profiles: ``(N, T)`` per-clip profiles.
        labels: ``(N,)`` class indices into ``classes``, or class names.
        classes: Class names (needed for indices; also fixes the row order).

    Returns:
        Tidy frame with columns ``class, frame, mean, sem, n`` (``sem`` NaN for one clip).
    """
    p = np.asarray(profiles.detach().cpu() if isinstance(profiles, torch.Tensor) else profiles)
    lab = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if lab.dtype.kind in "iu":
        if classes is None:
            raise ValueError("integer labels need the class names")
        names = np.asarray(classes, dtype=object)[lab]
    else:
        names = lab.astype(object)
    order = list(classes) if classes is not None else sorted(set(names.tolist()))
    rows = []
    for name in order:
        sub = p[names == name]
        if not len(sub):
            continue
        n = len(sub)
        mean = np.nanmean(sub, 0)
        sem = np.nanstd(sub, 0, ddof=1) / np.sqrt(n) if n > 1 else np.full(p.shape[1], np.nan)
        for f in range(p.shape[1]):
            rows.append((name, f, float(mean[f]), float(sem[f]), n))
    return pd.DataFrame(rows, columns=["class", "frame", "mean", "sem", "n"])


def temporal_derivative(relevance: torch.Tensor) -> torch.Tensor:
    """Hiley et al.'s smoothed temporal derivative of a relevance volume.

    A 3x3x3 kernel: the [1,2,1]x[1,2,1] smoothing (normalised to sum 1) at t+1, zero at t, its
    negative at t-1, i.e. half the central difference of the spatially smoothed relevance.
    Borders are replicated (in time too), so relevance constant over time has derivative 0.

    Args:
        relevance: ``(B, 1, T, H, W)``.

    Returns:
        ``(B, 1, T, H, W)``.
    """
    s = torch.tensor([1.0, 2.0, 1.0], device=relevance.device)
    smooth = torch.outer(s, s) / 16
    kernel = torch.stack([-smooth, torch.zeros_like(smooth), smooth]) / 2
    padded = F.pad(relevance.float(), (1, 1, 1, 1, 1, 1), mode="replicate")
    return F.conv3d(padded, kernel[None, None])


def selective_relevance(
    attr: Tensors, sigma: float = 1.0, dilate: int = 0
) -> tuple[Tensors, torch.Tensor]:
    """Keep only the attribution that changes over time (Hiley et al. 2020).

    The relevance ``R(t, x, y)`` is the attribution summed over channels (signed, as LRP
    relevance is); where ``|dR/dt|`` (:func:`temporal_derivative`) exceeds ``sigma`` times its
    standard deviation over the clip, the attribution is kept, elsewhere zeroed. For a tuple,
    each stream is filtered on its own.

    The derivative is a central difference, so it marks the frames *around* a change: relevance
    present in one frame only is flagged at its two neighbours, not at itself, and with
    ``dilate=0`` (the paper's rule) nothing of it is kept. ``dilate=k`` widens the mask by ``k``
    frames each way, which keeps such a frame (and ``k`` frames of its constant surroundings).

    Args:
        attr: ``(B, C, T, H, W)`` or a tuple of such.
        sigma: Threshold in standard deviations of the derivative.
        dilate: Frames the mask is widened by in time.

    Returns:
        The kept attribution (same structure) and the temporal share ``(B,)``: kept ``|attr|``
        mass over total ``|attr|`` mass (0 when nothing changes over time; NaN for an all-zero
        map).
    """
    xs, is_tuple = _as_tuple(attr)
    kept, kept_mass, total = [], 0.0, 0.0
    for a in xs:
        a = a.detach()
        r = a.float().sum(1, keepdim=True)
        d = temporal_derivative(r)
        std = d.flatten(1).std(1).view(-1, 1, 1, 1, 1)
        # Rounding leaves ~1e-7 relative noise where R is constant in time; it is not change.
        floor = 1e-5 * r.abs().flatten(1).amax(1).view(-1, 1, 1, 1, 1)
        mask = (d.abs() > torch.maximum(sigma * std, floor)).float()
        if dilate > 0:
            k = 2 * dilate + 1
            mask = F.max_pool3d(mask, (k, 1, 1), stride=1, padding=(dilate, 0, 0))
        k = a * mask.to(a.dtype)
        kept.append(k)
        kept_mass = kept_mass + k.abs().float().flatten(1).sum(1)
        total = total + a.abs().float().flatten(1).sum(1)
    share = torch.where(total > 0, kept_mass / torch.as_tensor(total).clamp_min(1e-30), torch.nan)
    return (tuple(kept) if is_tuple else kept[0]), share


def stream_share(attr_rgb: torch.Tensor, attr_flow: torch.Tensor) -> torch.Tensor:
    """Share of the absolute attribution mass on the flow input, ``(B,)``.

    Raw sums of ``|attr|`` over all elements (RGB has 3 channels, flow 2; no per-channel
    correction, so a stream's share also reflects how many values it feeds the model). NaN when
    both maps are zero.
    """
    f = attr_flow.detach().abs().float().flatten(1).sum(1)
    r = attr_rgb.detach().abs().float().flatten(1).sum(1)
    total = f + r
    return torch.where(total > 0, f / total.clamp_min(1e-30), torch.nan)


def completeness(
    model: nn.Module,
    clips: Tensors,
    target: int | Sequence[int] | torch.Tensor,
    attr: Tensors,
    baselines: Tensors | float | None = None,
    per_frame: bool = False,
) -> torch.Tensor:
    """Relative completeness error of attributions, ``(B,)``.

    ``|sum(attr) - (f(x) - f(x0))| / |f(x) - f(x0)|`` with ``f`` the target logit and ``x0`` the
    baselines (zeros by default). Integrated Gradients (and DeepLift) should give ~0; frame
    Shapley values give exactly 0 with ``x0`` the all-removed clip (efficiency).

    Args:
        model: The classifier.
        clips: Normalised inputs (tensor or tuple), ``(B, C, T, H, W)`` each.
        target: Logit index or indices ``(B,)``.
        attr: Attributions, one map per input or fewer: only their sum is used (pass one stream
            of ``joint_streams`` frame values, whose players span both inputs).
        baselines: As in :func:`attribute`.
        per_frame: ``attr`` holds one value per frame broadcast over C, H, W (frame ablation,
            frame Shapley values): sum one value per frame instead of every element.
    """
    xs, _ = _as_tuple(clips)
    ats, _ = _as_tuple(attr)
    targets = _targets(target, xs[0].shape[0], xs[0].device)
    base = _baselines(baselines, xs) or tuple(torch.zeros_like(x) for x in xs)
    with _attribution_mode(model), torch.no_grad():
        fx = model(*xs).gather(1, targets[:, None])[:, 0]
        f0 = model(*base).gather(1, targets[:, None])[:, 0]
    if per_frame:
        ats = tuple(a[:, :1, :, :1, :1] for a in ats)
    total = sum(a.detach().double().flatten(1).sum(1) for a in ats)
    diff = (fx - f0).double()
    return ((total - diff).abs() / diff.abs().clamp_min(1e-12)).float()
