"""Grad-CAM over time on 3-D layers: the layers it reads and the maps it makes.

A layer's output must be a map ``(B, K, T', H', W')``; a model wrapped from elsewhere
(:mod:`motionprobe.models.sources`) turns its tokens or channels-last maps into one with its
``feature_map``. One forward and one backward serve every layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def gradcam_layers(
    model: nn.Module, layer: str | Sequence[str] | None
) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """Resolve Grad-CAM layers: ``(name, module, indices of the inputs it explains)``."""
    modules = dict(model.named_modules())
    inputs = tuple(getattr(model, "inputs", ("rgb",)))
    if layer is None and getattr(model, "gradcam_layer", None):  # a wrapped model's own
        names = [model.gradcam_layer]
    elif layer is None:
        names = []
        streams = [n for n in inputs if isinstance(modules.get(n), nn.Module)]
        if len(inputs) > 1 and len(streams) == len(inputs):
            names = [_default_layer(modules, prefix=f"{n}.") for n in inputs]
        else:
            names = [_default_layer(modules, prefix="")]
    else:
        names = [layer] if isinstance(layer, str) else list(layer)
    out = []
    for name in names:
        if name not in modules or name == "":
            # Named endpoints first (what one usually wants), then every Conv3d.
            ends = [n for n in modules if _is_endpoint(n)]
            convs = [n for n, m in modules.items() if isinstance(m, nn.Conv3d) and n not in ends]
            candidates = ends + convs
            shown = ", ".join(candidates[:40]) + (" ..." if len(candidates) > 40 else "")
            raise ValueError(f"unknown layer {name!r}; 3-D layers of this model: {shown}")
        head = name.split(".")[0]
        explains = (inputs.index(head),) if head in inputs else tuple(range(len(inputs)))
        out.append((name, modules[name], explains))
    return out


def _like(output: object, tensor: torch.Tensor) -> object:
    """``output`` (a tensor, or a tuple led by one) with ``tensor`` in the tensor's place."""
    return (tensor, *output[1:]) if isinstance(output, (tuple, list)) else tensor


def _is_endpoint(name: str) -> bool:
    """An Inception endpoint (``Mixed_4f``, ``rgb.Mixed_5c``), not a module inside one."""
    return name.split(".")[-1].startswith(("Mixed_", "Conv3d_", "MaxPool3d_"))


def _default_layer(modules: dict[str, nn.Module], prefix: str) -> str:
    """``{prefix}Mixed_5c`` if present, else the last ``nn.Conv3d`` under ``prefix``."""
    if f"{prefix}Mixed_5c" in modules:
        return f"{prefix}Mixed_5c"
    convs = [n for n, m in modules.items() if n.startswith(prefix) and isinstance(m, nn.Conv3d)]
    if not convs:
        raise ValueError(
            "Grad-CAM on 3-D layers needs an nn.Conv3d in the model; this one has none (2-D "
            "streams mix time into channels): use a gradient or frame method"
        )
    return convs[-1]


def gradcam(
    model: nn.Module,
    xs: tuple[torch.Tensor, ...],
    target: torch.Tensor,
    layers: list[tuple[str, nn.Module, tuple[int, ...]]],
    per_time: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Grad-CAM maps of 3-D layers upsampled to the inputs, one forward/backward for all layers.

    Per layer with activation ``A`` ``(B, K, T', H', W')`` and gradient ``G`` of the target
    logit: weights ``G`` averaged over (T', H', W') (``per_time=False``, Captum's LayerGradCam,
    tested equal) or over (H', W') only (``per_time=True``); ``relu(sum_k w_k A_k)``
    ``(B, 1, T', H', W')``, trilinearly upsampled to the input's (T, H, W) and broadcast over
    its channels.

    Args:
        model: The classifier, in eval mode.
        xs: Normalised inputs, each ``(B, C, T, H, W)``.
        target: LongTensor ``(B,)``.
        layers: From :func:`gradcam_layers`.
        per_time: One weight per channel and time step.

    Returns:
        Maps of the inputs' shapes (zeros for an input no layer explains).
    """
    acts: dict[str, torch.Tensor] = {}
    # Tokens or channels-last outputs of a wrapped model become maps the same way for the
    # activation and its gradient (a reshape), so Grad-CAM reads them as it reads convolutions.
    as_map = getattr(model, "feature_map", lambda output, shape: output)
    outputs: dict[str, object] = {}

    def keep(name: str):
        def hook(module: nn.Module, args, output):
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            if not isinstance(tensor, torch.Tensor):
                raise ValueError(f"Grad-CAM: layer {name!r} gives no tensor")
            # A fresh leaf: the gradient stops here (nothing below the layer is differentiated)
            # and exists even though parameters and inputs do not require grad.
            leaf = tensor.detach().requires_grad_()
            acts[name] = leaf
            if isinstance(output, (tuple, list)):
                outputs[name] = (leaf, *output[1:])
                return type(output)(outputs[name]) if isinstance(output, tuple) else outputs[name]
            outputs[name] = leaf
            return leaf

        return hook

    handles = [m.register_forward_hook(keep(n)) for n, m, _ in layers]
    try:
        with torch.enable_grad():
            logits = model(*xs)
            score = logits.gather(1, target[:, None]).sum()
            names = [n for n, _, _ in layers]
            grads = torch.autograd.grad(score, [acts[n] for n in names], allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    maps = [torch.zeros_like(x) for x in xs]
    for (name, _, explains), grad in zip(layers, grads, strict=True):
        out = outputs[name]
        a = as_map(out, xs[0].shape).detach()
        g = torch.zeros_like(a) if grad is None else as_map(_like(out, grad), xs[0].shape)
        if a.ndim != 5:
            raise ValueError(
                f"Grad-CAM on 3-D layers needs a (B, K, T', H', W') output; layer {name!r} "
                f"gives {tuple(a.shape)}"
            )
        w = g.mean((3, 4) if per_time else (2, 3, 4), keepdim=True)
        cam = F.relu((w * a).sum(1, keepdim=True))
        for i in explains:
            up = F.interpolate(cam, size=tuple(xs[i].shape[2:]), mode="trilinear")
            maps[i] = maps[i] + up.expand_as(xs[i])
    return tuple(maps)


__all__ = ["gradcam", "gradcam_layers"]
