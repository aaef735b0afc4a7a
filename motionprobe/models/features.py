"""Where a foreign architecture keeps its features, and how to read them as maps.

Grad-CAM needs a layer whose output is a map ``(B, C, T', H', W')``; the static/dynamic unit
analysis needs the end of each stage and which axis holds the units. Convolutional networks
give maps directly; Swin3D gives them channels-last; transformers give tokens ``(B, N, C)`` whose
grid (and class token) depend on the family. :func:`feature_spec` knows each family torchvision
and ``transformers`` ship; :func:`as_map` turns any of their layer outputs into a map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class FeatureSpec:
    """A family's feature layers (names relative to the network).

    Attributes:
        gradcam: Grad-CAM's default layer (the last stage).
        stages: The stage ends the unit analysis reads, in depth order.
        layout: ``bcthw`` (maps), ``bthwc`` (channels-last maps) or ``tokens`` (``(B, N, C)``).
        extra: Leading tokens that are not patches (a class token).
        order: The patch tokens' order: ``thw`` (time-major) or ``hwt`` (TimeSformer's).
    """

    gradcam: str
    stages: tuple[str, ...]
    layout: str = "bcthw"
    extra: int = 0
    order: str = "thw"


def _spread(prefix: str, depth: int) -> tuple[str, ...]:
    """Four layers at the quarters of a ``depth``-deep stack, the last one included."""
    picks = dict.fromkeys(max(0, round(k * depth / 4) - 1) for k in range(1, 5))
    return tuple(f"{prefix}.{i}" for i in picks)


def feature_spec(net: nn.Module) -> FeatureSpec | None:
    """The feature layers of a torchvision or ``transformers`` video classifier, by its class.

    >>> from torchvision.models.video import r3d_18
    >>> feature_spec(r3d_18()).gradcam
    'layer4'
    """
    kind = type(net).__name__
    if kind == "VideoResNet":
        return FeatureSpec("layer4", ("layer1", "layer2", "layer3", "layer4"))
    if kind == "S3D":
        return FeatureSpec("features", ("features.0", "features.3", "features.6", "features.12",
                                        "features"))  # fmt: skip
    if kind == "SwinTransformer3d":
        return FeatureSpec("features.6", ("features.0", "features.2", "features.4", "features.6"),
                           layout="bthwc")  # fmt: skip
    if kind == "MViT":
        stages = _spread("blocks", len(net.blocks))
        return FeatureSpec(stages[-1], stages, layout="tokens", extra=1)
    hf = {
        "VideoMAEForVideoClassification": ("videomae", 0, "thw"),
        "TimesformerForVideoClassification": ("timesformer", 1, "hwt"),
        "VivitForVideoClassification": ("vivit", 1, "thw"),
    }
    if kind in hf:
        base, extra, order = hf[kind]
        stages = _spread(*_blocks(net, base))
        return FeatureSpec(stages[-1], stages, layout="tokens", extra=extra, order=order)
    return None


def _blocks(net: nn.Module, base: str) -> tuple[str, int]:
    """The name and depth of a ``transformers`` model's stack of layers (its place differs
    between models and library versions: ``encoder.layer``, ``layers``, ``encoder.layers``)."""
    modules = dict(net.named_modules())
    for tail in ("encoder.layer", "layers", "encoder.layers"):
        stack = modules.get(f"{base}.{tail}")
        if isinstance(stack, nn.ModuleList):
            return f"{base}.{tail}", len(stack)
    raise ValueError(f"{type(net).__name__}: no stack of layers found under {base!r}")


def token_grid(net: nn.Module, shape: torch.Size) -> tuple[int, int, int]:
    """``(T', H', W')`` patch grid of a ``transformers`` model for clips ``(B, 3, T, H, W)``."""
    config = net.config
    _, _, t, h, w = shape
    tube = getattr(config, "tubelet_size", 1)
    if isinstance(tube, (list, tuple)):  # ViViT: (t, h, w)
        return t // tube[0], h // tube[1], w // tube[2]
    return t // tube, h // config.patch_size, w // config.patch_size


def as_map(net: nn.Module, spec: FeatureSpec, output: object, shape: torch.Size) -> torch.Tensor:
    """A layer's output as a map ``(B, C, T', H', W')``.

    Args:
        net: The network the layer belongs to.
        spec: Its :func:`feature_spec`.
        output: What the layer returned (a tensor, or a tuple whose first item is one; MViT's
            second item is its token grid).
        shape: The clips' shape ``(B, 3, T, H, W)``.
    """
    x = output[0] if isinstance(output, (tuple, list)) else output
    if spec.layout == "bcthw":
        return x
    if spec.layout == "bthwc":
        return x.permute(0, 4, 1, 2, 3)
    given = output[1] if isinstance(output, (tuple, list)) and len(output) > 1 else None
    grid = tuple(int(g) for g in given) if given is not None else token_grid(net, shape)
    tokens = x[:, spec.extra :]
    b, n, c = tokens.shape
    if n != math.prod(grid):
        raise ValueError(f"{n} patch tokens do not form the grid {grid}")
    t, h, w = grid
    if spec.order == "hwt":
        return tokens.reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)
    return tokens.reshape(b, t, h, w, c).permute(0, 4, 1, 2, 3)


__all__ = ["FeatureSpec", "as_map", "feature_spec", "token_grid"]
