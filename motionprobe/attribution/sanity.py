"""Sanity checks of attributions: the model-parameter randomisation test (Adebayo et al. 2018)
and, for a run, that test together with the Integrated Gradients completeness error."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import nn

from motionprobe.attribution.measures import completeness
from motionprobe.attribution.methods import _ROW_BYTES, METHOD_SPECS, Tensors, _as_tuple, attribute


def randomise_parameters(model: nn.Module, seed: int = 0, modules: Sequence[str] | None = None):
    """Re-draw weights in place: each tensor from a Gaussian with its own (original) std.

    Weights and biases of convolutions and linear layers are re-drawn (a tensor with zero std,
    e.g. zero-initialised biases, is left as it is); BatchNorm statistics and affine parameters
    are kept. Keeping each tensor's scale keeps activations in range, so the randomised model's
    maps differ because the learned structure is gone, not because they vanish numerically.

    Args:
        model: Changed in place (pass a deep copy).
        seed: Seed of the draws.
        modules: Names of the modules to randomise (default: all with weights).
    """
    gen = torch.Generator().manual_seed(seed)
    wanted = None if modules is None else set(modules)
    with torch.no_grad():
        for name, m in model.named_modules():
            if not isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.RNNBase)):
                continue
            if wanted is not None and name not in wanted:
                continue
            for p in m.parameters(recurse=False):
                std = float(p.float().std()) if p.numel() > 1 else 0.0
                if std > 0:
                    noise = torch.randn(p.shape, generator=gen) * std
                    p.copy_(noise.to(p))


def _spearman(a: torch.Tensor, b: torch.Tensor, absolute: bool = True) -> float:
    """Spearman rank correlation of two maps (of ``|map|`` by default); NaN if one is constant."""
    x = a.detach().float().flatten().cpu()
    y = b.detach().float().flatten().cpu()
    if absolute:
        x, y = x.abs(), y.abs()
    x, y = x.numpy(), y.numpy()
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def randomisation_test(
    model: nn.Module,
    clips: Tensors,
    target: int | Sequence[int] | torch.Tensor,
    method: str = "integrated_gradients",
    *,
    mode: str = "all",
    threshold: float = 0.5,
    seed: int = 0,
    attr: Tensors | None = None,
    **options,
) -> dict:
    """Model-parameter randomisation test (Adebayo et al. 2018): maps must depend on weights.

    A deep copy of the model has its weights re-drawn (:func:`randomise_parameters`), all at
    once (``mode="all"``) or top-down in four cumulative stages (``mode="cascade"``, from the
    classifier towards the input); the maps of the original and the randomised model are compared
    per clip with the Spearman rank correlation of ``|attr|`` (all streams concatenated), and of
    the signed maps. Input-times-gradient methods (IG, InputXGradient, DeepLift) keep part of the
    input's own structure in ``|attr|`` whatever the weights (Adebayo et al. saw the same), so
    their absolute correlation stays higher than that of gradients.

    Args:
        model: The classifier (not changed).
        clips: Normalised inputs, tensor or tuple.
        target: Logit index or indices.
        method: Attribution method (as :func:`attribute`).
        mode: ``all`` or ``cascade``.
        threshold: The test passes when the mean correlation is below it.
        seed: Seed of the re-drawn weights.
        attr: The original model's maps when already computed.
        **options: Passed to :func:`attribute`.

    Returns:
        ``{"method", "mode", "threshold", "correlation"`` (of ``|attr|``, mean over clips, last
        stage), ``"correlation_signed", "per_clip", "stages": [{"randomised", "correlation",
        "correlation_signed"}], "passed"}`` (``correlation < threshold``). A constant map counts
        as correlation 0 when the two maps differ.
    """
    if mode not in ("all", "cascade"):
        raise ValueError(f"mode must be 'all' or 'cascade', got {mode!r}")
    original = attr if attr is not None else attribute(model, clips, target, method, **options)
    orig = _as_tuple(original)[0]
    results = []
    per_clip: list[float] = []
    for stage in _randomisation_stages(model, mode):
        clone = copy.deepcopy(model)
        randomise_parameters(clone, seed=seed, modules=stage)
        if model in _ROW_BYTES:  # same architecture, same memory per row: skip re-measuring
            _ROW_BYTES[clone] = dict(_ROW_BYTES[model])
        rand = _as_tuple(attribute(clone, clips, target, method, **options))[0]
        per_clip, signed = _map_correlations(orig, rand)
        results.append(
            {
                "randomised": len(stage),
                "correlation": float(np.mean(per_clip)),
                "correlation_signed": float(np.mean(signed)),
            }
        )
    corr = results[-1]["correlation"]
    return {
        "method": method,
        "mode": mode,
        "threshold": threshold,
        "correlation": corr,
        "correlation_signed": results[-1]["correlation_signed"],
        "per_clip": per_clip,
        "stages": results,
        "passed": bool(corr < threshold),
    }


def _randomisation_stages(model: nn.Module, mode: str) -> list[list[str]]:
    """The module names randomised at each stage of :func:`randomisation_test`.

    Args:
        model: The classifier; its convolutions, linear layers and RNNs are the candidates.
        mode: ``all`` (one stage, every candidate) or ``cascade`` (four cumulative stages from
            the classifier towards the input; repeated cuts of a small model are merged).
    """
    names = [
        n
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.RNNBase))
    ]
    if mode == "all":
        return [names]
    top_down = names[::-1]
    cuts = [math.ceil(len(top_down) * k / 4) for k in range(1, 5)]
    return [top_down[:c] for c in dict.fromkeys(cuts)]


def _map_correlations(
    orig: tuple[torch.Tensor, ...], rand: tuple[torch.Tensor, ...]
) -> tuple[list[float], list[float]]:
    """Per clip, the Spearman correlations of ``|map|`` and of the signed maps.

    Args:
        orig: The original model's maps, one ``(B, C, T, H, W)`` per stream.
        rand: The randomised model's maps, same shapes.

    Returns:
        ``(absolute, signed)``, each a list of B correlations over all streams' elements
        concatenated; a constant map that differs from the other counts as 0, not NaN.
    """
    per_clip, signed = [], []
    for i in range(orig[0].shape[0]):
        a = torch.cat([o[i].flatten() for o in orig])
        r = torch.cat([q[i].flatten() for q in rand])
        differ = not torch.allclose(a, r)
        rho, rho_signed = _spearman(a, r), _spearman(a, r, absolute=False)
        # A constant map (e.g. a Grad-CAM that ReLU zeroed) shares no ranks with another map.
        per_clip.append(0.0 if math.isnan(rho) and differ else rho)
        signed.append(0.0 if math.isnan(rho_signed) and differ else rho_signed)
    return per_clip, signed


def _sanity_checks(
    model: nn.Module,
    xs: tuple[torch.Tensor, ...],
    targets: torch.Tensor,
    attrs: tuple[torch.Tensor, ...],
    method: str,
    seed: int,
    options: dict,
    clips: pd.DataFrame,
) -> dict:
    """Randomisation test of ``method`` and IG completeness, on the first attributed clips.

    Args:
        model: The classifier.
        xs: The sanity clips' normalised inputs, each ``(S, C, T, H, W)``.
        targets: Their target logits, LongTensor ``(S,)``.
        attrs: The run's maps of those clips, one ``(S, C, T, H, W)`` per input.
        method: The run's method.
        seed: Seed of the re-drawn weights.
        options: The run's :func:`attribute` options.
        clips: The run's ``clips.csv`` table (its ``completeness`` column).

    Returns:
        ``sanity.json``'s content: ``randomisation`` (:func:`randomisation_test`),
        ``ig_completeness`` (from the run's own clips under IG, else from IG on the sanity
        clips) and, for other methods that should be complete, ``method_completeness_median``.
    """
    one = lambda t: t if len(t) > 1 else t[0]  # noqa: E731
    rand = randomisation_test(
        model, one(xs), targets, method, seed=seed, attr=one(attrs), **options
    )
    if method == "integrated_gradients":
        errors = clips["completeness"].to_numpy(dtype=float)
        source = "the run's own clips"
    else:
        ig_opts = {k: v for k, v in options.items() if k in ("steps", "memory_mb")}
        ig = attribute(model, one(xs), targets, "integrated_gradients", **ig_opts)
        errors = completeness(model, xs, targets, ig).cpu().numpy().astype(float)
        source = f"integrated_gradients on {len(targets)} sanity clip(s)"
    sanity = {
        "randomisation": rand,
        "ig_completeness": {
            "source": source,
            "steps": int(options.get("steps", 32)),
            "median_relative_error": float(np.nanmedian(errors)),
            "max_relative_error": float(np.nanmax(errors)),
            "per_clip": errors.tolist(),
        },
    }
    if method != "integrated_gradients" and METHOD_SPECS[method].complete is not None:
        sanity["method_completeness_median"] = float(np.nanmedian(clips["completeness"]))
    return sanity
