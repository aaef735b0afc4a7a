"""Attribution over time with Captum: which frames, which pixels, and how much comes from motion.

One entry point, :func:`attribute`, runs a Captum method (or Grad-CAM on a 3-D layer) on a batch
of clips and returns maps of the input's shape; the rest of the module turns maps into numbers
over time (per-frame profiles, their entropy, selective relevance, the flow share of two-stream
models), checks them (parameter randomisation, Integrated Gradients completeness) and draws them
(heatmap overlays as images and animations). :func:`run_attribution` does all of it for a
checkpoint on a dataset split and writes a results folder.

Conventions (see METHODS.md, "Representations and attributions"):

* **Inputs are normalised model inputs**, what ``model.forward`` takes (apply
  ``model.normalize`` to pixel-unit clips first), and attributions are with respect to them. This
  keeps Captum's completeness exact (the flow preset's clamp at +-20 px would otherwise zero some
  gradients) and makes the default baseline simple: **zeros in normalised space** (mid-grey for
  I3D RGB, the preset's mean colour for C3D, no motion for flow).
* Multi-input (two-stream) models take a tuple ``(rgb, flow)`` and get a tuple of maps of the same
  shapes. Targets are logit indices; models run in ``eval()`` mode with their parameters frozen,
  and both states are restored afterwards.
* **Removing a frame.** A fixed-length 3-D CNN cannot be run on a subsequence, so frame ablation,
  frame Shapley values and occlusion *replace* frames. ``remove="mean"`` (default) puts the clip's
  temporal mean frame in their place (per stream: the mean flow field for flow): the average
  appearance and brightness stay, the frame's own content and the motion it carries go, and the
  clip with every frame removed is one static mean image. ``"zero"`` uses the normalised zero;
  ``"neighbour"`` the previous frame (frame 0: frame 1), i.e. a stutter, which is closest to
  natural video for one frame but makes the all-removed clip a one-frame shift of the original,
  so Shapley values under it say little.
* **Two-stream perturbations** treat the RGB and the flow of a time step as separate players
  (``joint_streams=False``), so each stream gets its own per-frame values and the flow share is
  meaningful for every method; ``joint_streams=True`` removes both together.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

#: Gradient methods (Captum), usable with ``smooth`` (NoiseTunnel) and two-stream tuples.
GRADIENT_METHODS = (
    "integrated_gradients",
    "saliency",
    "input_x_gradient",
    "deeplift",
    "guided_backprop",
)
#: Perturbation methods over frames (Captum); each replaces frames by the ``remove`` baseline.
FRAME_METHODS = ("occlusion", "frame_ablation", "frame_shapley")
#: Grad-CAM on a 3-D layer: one weight per channel, or per channel and time step.
GRADCAM_METHODS = ("gradcam", "gradcam_temporal")
#: Every method name :func:`attribute` accepts (``smoothgrad`` = saliency with SmoothGrad).
METHODS = GRADIENT_METHODS + FRAME_METHODS + GRADCAM_METHODS + ("smoothgrad",)
#: Frame removal baselines of the perturbation methods.
REMOVALS = ("mean", "zero", "neighbour")
#: NoiseTunnel variants accepted by ``smooth``.
SMOOTHING = ("smoothgrad", "smoothgrad_sq", "vargrad")
#: Memory budget of one forward/backward pass, in MiB, when the caller gives none.
DEFAULT_MEMORY_MB = 2048.0
#: Headroom on the saved-for-backward bytes of one clip: gradients in flight during backward
#: (measured on I3D at 16x112x112 on CPU: peak RSS 1.1x the saved bytes for 1 clip, 0.8x per clip
#: for 4).
BACKWARD_HEADROOM = 1.25

Tensors = torch.Tensor | tuple[torch.Tensor, ...]

_ROW_BYTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# --- the entry point ---------------------------------------------------------------------------


def attribute(
    model: nn.Module,
    clips: Tensors,
    target: int | Sequence[int] | torch.Tensor,
    method: str = "integrated_gradients",
    *,
    baselines: Tensors | float | None = None,
    batch_size: int | None = None,
    memory_mb: float = DEFAULT_MEMORY_MB,
    progress: bool = False,
    steps: int = 32,
    internal_batch_size: int | None = None,
    window: int = 4,
    stride: int = 2,
    samples: int = 25,
    remove: str = "mean",
    joint_streams: bool = False,
    perturbations_per_eval: int | None = None,
    layer: str | Sequence[str] | None = None,
    smooth: str | None = None,
    nt_samples: int = 8,
    noise_level: float = 0.15,
    seed: int = 0,
) -> Tensors:
    """Attribute the target logit of each clip to its input elements.

    Args:
        model: A classifier returning logits ``(B, K)``; multi-input models take a tuple.
        clips: Normalised inputs ``(B, C, T, H, W)``, or a tuple of them (one per
            ``model.inputs``), aligned in time.
        target: Logit index, one for all clips or one per clip (LongTensor ``(B,)``).
        method: One of :data:`METHODS`:

            * ``integrated_gradients``, ``saliency`` (absolute gradient), ``input_x_gradient``,
              ``deeplift``, ``guided_backprop``: Captum's, baseline zeros unless ``baselines``.
            * ``occlusion``: windows of ``window`` frames (all channels and pixels), moved by
              ``stride`` frames, replaced by the ``remove`` baseline.
            * ``frame_ablation``: Captum's FeatureAblation with a frame-grouping mask
              ``(1, 1, T, 1, 1)``; frame t gets ``f(x) - f(x without frame t)``.
            * ``frame_shapley``: Captum's ShapleyValueSampling over frames with the same mask:
              the element Shapley values of "Play Fair" (Price & Damen 2020) with the target
              logit as the game's value and the all-removed clip as the empty set. Captum samples
              ``samples`` random permutations (``samples x T`` forward passes) rather than the
              paper's constructive subset sampling; the values sum exactly to
              ``f(x) - f(all removed)`` either way.
            * ``gradcam``: gradients of the target averaged over (T', H', W') of a 3-D layer,
              one weight per channel (Captum's LayerGradCam); ``gradcam_temporal``: averaged over
              (H', W') only, one weight per channel and time step, as SlowFast and MMAction2 do.
              Then the weighted sum over channels, ReLU, trilinear upsampling to the input's
              (T, H, W), broadcast over its channels.
            * ``smoothgrad``: ``saliency`` with ``smooth="smoothgrad"``.
        baselines: Reference input(s) of the input's shape (or batch 1, or a scalar). Default:
            zeros for gradient methods, the ``remove`` baseline for perturbation methods.
        batch_size: Clips per Captum call; default from ``memory_mb``.
        memory_mb: Budget for one pass. The cost of one input row (one clip or one IG step) is
            the bytes autograd saves for backward in one clip's forward pass (measured once per
            model and shape with saved-tensor hooks, so the rule is the same on CPU and GPU)
            times :data:`BACKWARD_HEADROOM`; ``rows = max(1, budget // row)``. IG then runs
            ``max(1, rows // steps)`` clips at a time with ``internal_batch_size = rows``;
            perturbation methods evaluate ``rows // clips`` perturbations per pass.
        progress: Show a progress bar over clips.
        steps: Integrated Gradients steps (Gauss-Legendre, Captum's default rule).
        internal_batch_size: IG rows per pass (overrides the budget).
        window, stride: Occlusion window and stride in frames.
        samples: Permutations of frame Shapley sampling.
        remove: Frame removal baseline, one of :data:`REMOVALS` (see the module docstring).
        joint_streams: Two-stream perturbations remove a time step's RGB and flow together.
        perturbations_per_eval: Perturbed copies per forward pass (overrides the budget).
        layer: Grad-CAM layer: a dotted name from ``model.named_modules()`` or one per stream.
            Default: ``Mixed_5c`` if present, else the last ``nn.Conv3d``; for two-stream models
            whose streams are submodules named after the inputs (``rgb``, ``flow``), each
            stream's own. A layer under a submodule named after an input explains that input;
            any other layer explains every input (its map is added to each).
        smooth: NoiseTunnel over a gradient method: one of :data:`SMOOTHING` or None.
        nt_samples: Noisy copies per clip for ``smooth``.
        noise_level: Noise standard deviation as a fraction of each input's value range
            (max - min over the batch), Smilkov et al.'s convention.
        seed: Seeds the random methods (Shapley permutations, noise); same seed, same maps.

    Returns:
        Attributions of the same shape(s) as ``clips`` (a tuple for tuple input), detached.

    >>> from motionprobe.models import create_model
    >>> model = create_model("c3d_tiny", num_classes=3)
    >>> x = torch.randn(2, 3, 16, 32, 32)
    >>> attribute(model, x, target=1, method="saliency").shape
    torch.Size([2, 3, 16, 32, 32])
    """
    xs, is_tuple = _as_tuple(clips)
    b, _ = _check_inputs(model, xs)
    if method == "smoothgrad":
        method, smooth = "saliency", smooth or "smoothgrad"
    _check_method(model, method, smooth, remove)
    targets = _targets(target, b, xs[0].device)
    base = _baselines(baselines, xs)
    layers = _gradcam_layers(model, layer) if method in GRADCAM_METHODS else []

    with _attribution_mode(model):
        rows = None
        plan_needs_rows = batch_size is None or (
            method == "integrated_gradients" and internal_batch_size is None
        )
        plan_needs_rows |= method in FRAME_METHODS and perturbations_per_eval is None
        if plan_needs_rows:
            rows = max(1, int(memory_mb * 2**20 // row_bytes(model, xs)))
        per_clip = 1
        if method == "integrated_gradients":
            per_clip = steps
        if smooth is not None:
            per_clip *= nt_samples
        chunk = batch_size or max(1, min(b, (rows or 1) // per_clip))
        if method == "integrated_gradients" and internal_batch_size is not None:
            chunk = min(chunk, internal_batch_size)  # Captum needs a row per clip in each pass
        devices = [xs[0].device] if xs[0].device.type == "cuda" else []
        out: list[list[torch.Tensor]] = [[] for _ in xs]
        bar = tqdm(total=b, desc=method, unit="clip", disable=not progress, leave=False)
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for start in range(0, b, chunk):
                sl = slice(start, min(start + chunk, b))
                part = _attribute_chunk(
                    model,
                    tuple(x[sl] for x in xs),
                    targets[sl],
                    method,
                    base=None if base is None else tuple(_rows(v, sl, b) for v in base),
                    rows=rows,
                    steps=steps,
                    internal_batch_size=internal_batch_size,
                    window=window,
                    stride=stride,
                    samples=samples,
                    remove=remove,
                    joint_streams=joint_streams,
                    perturbations_per_eval=perturbations_per_eval,
                    layers=layers,
                    smooth=smooth,
                    nt_samples=nt_samples,
                    noise_level=noise_level,
                )
                for i, a in enumerate(part):
                    out[i].append(a.detach())
                bar.update(sl.stop - sl.start)
        bar.close()
    attrs = tuple(torch.cat(parts) for parts in out)
    return attrs if is_tuple else attrs[0]


def _attribute_chunk(
    model: nn.Module,
    xs: tuple[torch.Tensor, ...],
    target: torch.Tensor,
    method: str,
    *,
    base: tuple | None,
    rows: int | None,
    steps: int,
    internal_batch_size: int | None,
    window: int,
    stride: int,
    samples: int,
    remove: str,
    joint_streams: bool,
    perturbations_per_eval: int | None,
    layers: list[tuple[str, nn.Module, tuple[int, ...]]],
    smooth: str | None,
    nt_samples: int,
    noise_level: float,
) -> tuple[torch.Tensor, ...]:
    """One Captum call on a chunk of clips; always returns a tuple of maps."""
    from captum import attr as ca

    b = xs[0].shape[0]
    if method in GRADCAM_METHODS:
        return gradcam(model, xs, target, layers, per_time=method == "gradcam_temporal")
    if method in FRAME_METHODS:
        bl = base if base is not None else tuple(removal_baseline(x, remove) for x in xs)
        ppe = perturbations_per_eval or max(1, (rows or 1) // b)
        t = xs[0].shape[2]
        if method == "occlusion":
            w, s = min(window, t), max(1, min(stride, t))
            shapes = tuple((x.shape[1], w, *x.shape[3:]) for x in xs)
            strides = tuple((x.shape[1], s, *x.shape[3:]) for x in xs)
            return ca.Occlusion(model).attribute(
                xs,
                sliding_window_shapes=shapes,
                strides=strides,
                baselines=bl,
                target=target,
                perturbations_per_eval=ppe,
            )
        masks = frame_masks(xs, joint_streams)
        if method == "frame_ablation":
            return ca.FeatureAblation(model).attribute(
                xs, baselines=bl, target=target, feature_mask=masks, perturbations_per_eval=ppe
            )
        return ca.ShapleyValueSampling(model).attribute(
            xs,
            baselines=bl,
            target=target,
            feature_mask=masks,
            n_samples=samples,
            perturbations_per_eval=ppe,
        )

    explainer = {
        "integrated_gradients": ca.IntegratedGradients,
        "saliency": ca.Saliency,
        "input_x_gradient": ca.InputXGradient,
        "deeplift": ca.DeepLift,
        "guided_backprop": ca.GuidedBackprop,
    }[method](model)
    kwargs: dict = {"target": target}
    if method in ("integrated_gradients", "deeplift"):
        kwargs["baselines"] = base if base is not None else tuple(torch.zeros_like(x) for x in xs)
    if method == "integrated_gradients":
        ibs = internal_batch_size or max(b * (nt_samples if smooth else 1), rows or 1)
        kwargs.update(n_steps=steps, internal_batch_size=ibs)
    if method == "saliency":
        kwargs["abs"] = True
    with warnings.catch_warnings():
        # Captum's notices that it sets requires_grad and hooks ReLUs: expected, and repeated
        # once per chunk they would bury real warnings.
        for text in _CAPTUM_NOTICES:
            warnings.filterwarnings("ignore", message=text, category=UserWarning)
        if smooth is None:
            return explainer.attribute(xs, **kwargs)
        stdevs = tuple(noise_level * float(x.max() - x.min()) for x in xs)
        nt_batch = max(1, (rows or b * nt_samples) // (b * (steps if "n_steps" in kwargs else 1)))
        return ca.NoiseTunnel(explainer).attribute(
            xs,
            nt_type=smooth,
            nt_samples=nt_samples,
            nt_samples_batch_size=min(nt_samples, nt_batch),
            stdevs=stdevs,
            **kwargs,
        )


_CAPTUM_NOTICES = (
    r"Input Tensor \d+ did not already require gradients",
    r"Setting backward hooks on ReLU activations",
    r"Setting forward, backward hooks and attributes on non-linear",
)


# --- pieces of attribute -------------------------------------------------------------------------


def _as_tuple(clips: Tensors) -> tuple[tuple[torch.Tensor, ...], bool]:
    if isinstance(clips, torch.Tensor):
        return (clips,), False
    return tuple(clips), True


def _check_inputs(model: nn.Module, xs: tuple[torch.Tensor, ...]) -> tuple[int, int]:
    names = tuple(getattr(model, "inputs", ("rgb",)))
    if len(xs) != len(names):
        raise ValueError(f"the model takes inputs {names}; got {len(xs)} tensor(s)")
    for name, x in zip(names, xs, strict=True):
        if x.ndim != 5:
            raise ValueError(f"input {name!r} must be (B, C, T, H, W), got {tuple(x.shape)}")
    b, t = xs[0].shape[0], xs[0].shape[2]
    if any(x.shape[0] != b or x.shape[2] != t for x in xs):
        raise ValueError(f"inputs must share batch and time: {[tuple(x.shape) for x in xs]}")
    return b, t


def _check_method(model: nn.Module, method: str, smooth: str | None, remove: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {list(METHODS)}")
    if remove not in REMOVALS:
        raise ValueError(f"remove must be one of {REMOVALS}, got {remove!r}")
    if smooth is not None:
        if smooth not in SMOOTHING:
            raise ValueError(f"smooth must be one of {SMOOTHING} or None, got {smooth!r}")
        if method not in GRADIENT_METHODS:
            raise ValueError(f"smooth (NoiseTunnel) works with {GRADIENT_METHODS}, not {method}")
    if method in ("deeplift", "guided_backprop"):
        if any(isinstance(m, nn.RNNBase) for m in model.modules()):
            raise ValueError(
                f"{method} cannot handle nn.LSTM/nn.RNN (their gates are functional "
                "nonlinearities Captum has no rule for); use integrated_gradients, saliency or "
                "input_x_gradient on this model"
            )


def _targets(target, b: int, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(target, dtype=torch.long, device=device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(b)
    if t.numel() != b:
        raise ValueError(f"target must be one index or one per clip ({b}), got {t.numel()}")
    return t.contiguous()


def _baselines(baselines, xs: tuple[torch.Tensor, ...]) -> tuple | None:
    if baselines is None:
        return None
    if isinstance(baselines, (int, float)):
        return tuple(torch.full_like(x, float(baselines)) for x in xs)
    bs = (baselines,) if isinstance(baselines, torch.Tensor) else tuple(baselines)
    if len(bs) != len(xs):
        raise ValueError(f"expected {len(xs)} baseline(s), got {len(bs)}")
    return tuple(
        torch.full_like(x, float(v)) if isinstance(v, (int, float)) else v.to(x).expand_as(x)
        for v, x in zip(bs, xs, strict=True)
    )


def _rows(v: torch.Tensor, sl: slice, b: int) -> torch.Tensor:
    return v[sl] if v.shape[0] == b else v


@contextlib.contextmanager
def _attribution_mode(model: nn.Module) -> Iterator[None]:
    """``eval()``, frozen parameters and logit fusion for the block, then restore all three.

    Each module's own ``training`` flag is restored, so a caller's partly frozen model comes
    back exactly as it was. Attribution targets logits (DESIGN.md): a two-stream model that fuses
    by averaging its streams' softmax scores returns a log-probability, which saturates (a
    confident stream pins it near log 0.5) and breaks completeness; inside the block it returns
    the sum of its streams' logits instead, the evidence both streams add up.
    """
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    fusion = getattr(model, "fusion", None)
    model.eval()
    for p, _ in grads:
        p.requires_grad_(False)
    if fusion == "softmax":
        model.fusion = "logits"
    try:
        yield
    finally:
        if fusion == "softmax":
            model.fusion = fusion
        for p, g in grads:
            p.requires_grad_(g)
        for m, mode in modes:
            m.training = mode


def row_bytes(model: nn.Module, clips: Tensors) -> int:
    """Bytes one input row (one clip, or one IG step of a clip) costs in a forward/backward pass.

    The tensors autograd saves for backward during one clip's forward (parameters excluded),
    counted once per storage with saved-tensor hooks, times :data:`BACKWARD_HEADROOM`. Cached per
    model and input shape.

    Args:
        model: The classifier (its parameters may be frozen).
        clips: Normalised inputs ``(B, C, T, H, W)`` or a tuple; only the first clip is run.
    """
    xs, _ = _as_tuple(clips)
    key = (tuple((tuple(x.shape[1:]), x.dtype, str(x.device)) for x in xs),)
    cache = _ROW_BYTES.setdefault(model, {})
    if key in cache:
        return cache[key]
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    params |= {b.untyped_storage().data_ptr() for b in model.buffers()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    one = tuple(x[:1].detach().clone().requires_grad_() for x in xs)
    with _attribution_mode(model), torch.enable_grad():
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(*one)
        del out
    total = int(BACKWARD_HEADROOM * (sum(seen.values()) + sum(x.numel() * 4 for x in one)))
    cache[key] = max(total, 1)
    return cache[key]


def removal_baseline(x: torch.Tensor, remove: str = "mean") -> torch.Tensor:
    """What replaces each frame when it is removed (see the module docstring).

    Args:
        x: Normalised clips ``(B, C, T, H, W)``.
        remove: ``mean`` (the clip's temporal mean frame), ``zero`` (normalised zero) or
            ``neighbour`` (the previous frame; frame 0 takes frame 1).

    Returns:
        ``(B, C, T, H, W)``: frame t of it replaces frame t of ``x``.
    """
    if remove == "mean":
        return x.mean(2, keepdim=True).expand_as(x).contiguous()
    if remove == "zero":
        return torch.zeros_like(x)
    if remove == "neighbour":
        if x.shape[2] < 2:
            return x.clone()
        return torch.cat([x[:, :, 1:2], x[:, :, :-1]], 2)
    raise ValueError(f"remove must be one of {REMOVALS}, got {remove!r}")


def frame_masks(
    xs: Sequence[torch.Tensor], joint_streams: bool = False
) -> tuple[torch.Tensor, ...]:
    """Frame-grouping feature masks ``(1, 1, T, 1, 1)``, one per input, broadcast by Captum.

    Feature ids are contiguous: ``0..T-1`` for the first input and, unless ``joint_streams``,
    ``T..2T-1`` for the second (Captum groups equal ids across inputs).
    """
    t = xs[0].shape[2]
    return tuple(
        (torch.arange(t, device=x.device) + (0 if joint_streams else i * t))
        .view(1, 1, t, 1, 1)
        .contiguous()
        for i, x in enumerate(xs)
    )


# --- Grad-CAM --------------------------------------------------------------------------------


def _gradcam_layers(
    model: nn.Module, layer: str | Sequence[str] | None
) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """Resolve Grad-CAM layers: ``(name, module, indices of the inputs it explains)``."""
    modules = dict(model.named_modules())
    inputs = tuple(getattr(model, "inputs", ("rgb",)))
    if layer is None:
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


def _is_endpoint(name: str) -> bool:
    """An Inception endpoint (``Mixed_4f``, ``rgb.Mixed_5c``), not a module inside one."""
    return name.split(".")[-1].startswith(("Mixed_", "Conv3d_", "MaxPool3d_"))


def _default_layer(modules: dict[str, nn.Module], prefix: str) -> str:
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
        layers: From ``_gradcam_layers``.
        per_time: One weight per channel and time step.

    Returns:
        Maps of the inputs' shapes (zeros for an input no layer explains).
    """
    acts: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(module: nn.Module, args, output):
            if not isinstance(output, torch.Tensor) or output.ndim != 5:
                shape = getattr(output, "shape", type(output).__name__)
                raise ValueError(
                    f"Grad-CAM on 3-D layers needs a (B, K, T', H', W') output; layer {name!r} "
                    f"gives {tuple(shape) if isinstance(shape, torch.Size) else shape}"
                )
            # A fresh leaf: the gradient stops here (nothing below the layer is differentiated)
            # and exists even though parameters and inputs do not require grad.
            leaf = output.detach().requires_grad_()
            acts[name] = leaf
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
        a = acts[name].detach()
        g = torch.zeros_like(a) if grad is None else grad
        w = g.mean((3, 4) if per_time else (2, 3, 4), keepdim=True)
        cam = F.relu((w * a).sum(1, keepdim=True))
        for i in explains:
            up = F.interpolate(cam, size=tuple(xs[i].shape[2:]), mode="trilinear")
            maps[i] = maps[i] + up.expand_as(xs[i])
    return tuple(maps)


# --- temporal aggregation --------------------------------------------------------------------


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


# --- sanity checks -------------------------------------------------------------------------------


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
    from scipy.stats import spearmanr

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
    names = [
        n
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.RNNBase))
    ]
    if mode == "all":
        stages = [names]
    else:
        top_down = names[::-1]
        cuts = [math.ceil(len(top_down) * k / 4) for k in range(1, 5)]
        stages = [top_down[:c] for c in dict.fromkeys(cuts)]
    results = []
    per_clip: list[float] = []
    for stage in stages:
        clone = copy.deepcopy(model)
        randomise_parameters(clone, seed=seed, modules=stage)
        if model in _ROW_BYTES:  # same architecture, same memory per row: skip re-measuring
            _ROW_BYTES[clone] = dict(_ROW_BYTES[model])
        rand = _as_tuple(attribute(clone, clips, target, method, **options))[0]
        per_clip, signed = [], []
        for i in range(orig[0].shape[0]):
            a = torch.cat([o[i].flatten() for o in orig])
            r = torch.cat([q[i].flatten() for q in rand])
            differ = not torch.allclose(a, r)
            rho, rho_signed = _spearman(a, r), _spearman(a, r, absolute=False)
            # A constant map (e.g. a Grad-CAM that ReLU zeroed) shares no ranks with another map.
            per_clip.append(0.0 if math.isnan(rho) and differ else rho)
            signed.append(0.0 if math.isnan(rho_signed) and differ else rho_signed)
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


# --- visualisation ---------------------------------------------------------------------------


def heatmap(attr: torch.Tensor) -> np.ndarray:
    """Per-pixel attribution magnitude ``(B, T, H, W)``: ``|attr|`` summed over channels."""
    return attr.detach().abs().float().sum(1).cpu().numpy()


def normalise_heat(heat: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Scale a clip's heat ``(T, H, W)`` to [0, 1] by its ``percentile`` over the whole clip.

    One scale for all frames, so frames stay comparable within the clip.
    """
    heat = np.asarray(heat, dtype=np.float32)
    top = float(np.percentile(heat, percentile)) if heat.size else 0.0
    if top <= 0:
        top = float(heat.max()) if heat.size and heat.max() > 0 else 1.0
    return np.clip(heat / top, 0.0, 1.0)


def overlay_frames(
    frames: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet"
) -> np.ndarray:
    """Blend a heatmap over frames.

    Args:
        frames: uint8 ``(T, H, W, 3)``.
        heat: ``(T, H, W)`` (normalised per clip with :func:`normalise_heat`).
        alpha: Heat opacity at full heat (it scales with the heat, so cold pixels stay visible).
        cmap: Matplotlib colormap name.

    Returns:
        uint8 ``(T, H, W, 3)``.
    """
    from matplotlib import colormaps

    h = normalise_heat(heat)
    colour = colormaps[cmap](h)[..., :3]
    a = (alpha * h)[..., None]
    out = (1 - a) * (np.asarray(frames, dtype=np.float32) / 255.0) + a * colour
    return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)


def write_heatmap_video(
    path: str | Path, frames: np.ndarray, heat: np.ndarray, fps: float = 8.0, alpha: float = 0.5
) -> Path:
    """Write the clip with its heatmap as an animated GIF (Pillow) or a video (PyAV), atomically.

    Args:
        path: ``.gif`` for a looping GIF, any video suffix (``.mp4``) for
            :func:`motionprobe.video.write_video`.
        frames: uint8 ``(T, H, W, 3)``.
        heat: ``(T, H, W)``.
        fps: Frame rate.
        alpha: Heat opacity.

    Returns:
        ``Path(path)``.
    """
    from motionprobe.io import atomic_path

    path = Path(path)
    blended = overlay_frames(frames, heat, alpha)
    if path.suffix.lower() != ".gif":
        from motionprobe.video import write_video

        return write_video(path, blended, fps)
    from PIL import Image

    images = [Image.fromarray(f) for f in blended]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(1, round(1000 / fps)),
            loop=0,
        )
    return path


# --- a whole run ---------------------------------------------------------------------------------


def run_attribution(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    split: str = "test",
    method: str = "integrated_gradients",
    clips_per_class: int = 4,
    target: str = "label",
    device: str = "cpu",
    progress: bool = True,
    batch_size: int = 4,
    label_map: str | None = None,
    flow_cache: str | Path | None = None,
    sanity_clips: int = 2,
    examples: int = 24,
    video_format: str | None = "gif",
    save_maps: bool = False,
    sigma: float = 1.0,
    seed: int = 0,
    **options,
) -> dict:
    """Attribute a checkpoint's decisions on a split and write the tables, checks and figures.

    Takes the first ``clips_per_class`` videos of each class (one centre clip each, the
    checkpoint's clip length and preset; flow models get flow from the dataset, computed with
    the checkpoint's ``flow_method`` or read from ``flow_cache``), normalises them and runs
    :func:`attribute` one batch of ``batch_size`` clips at a time. Full maps are not kept unless
    ``save_maps``. Writes to ``out``:

    * ``clips.csv``: one row per clip: ``video_id, label, target, pred, logit, entropy,
      temporal_share`` (:func:`selective_relevance`), ``flow_share`` (two-stream) and
      ``completeness`` (relative error, for methods that should sum to the logit difference).
    * ``profiles.parquet``: tidy per-frame profiles ``video_id, label, stream, frame, share``
      (``stream`` is ``all``, and ``rgb``/``flow`` for two-stream models).
    * ``class_profiles.csv`` (:func:`class_profiles` per stream, with a ``stream`` column) and
      ``class_summary.csv`` (per class: clips, mean entropy, temporal share, flow share, their
      standard errors, and the ground-truth ``cue`` where the dataset has ``classes.json``).
    * ``sanity.json``: the randomisation test of ``method`` on ``sanity_clips`` clips and the
      Integrated Gradients completeness error (from the run itself when the method is IG, else
      from IG on the sanity clips), reported with every run.
    * ``figures/temporal_profiles.{png,svg}``, ``figures/stream_share.{png,svg}`` (two-stream),
      ``figures/montage_{class}.png`` and ``videos/{class}.{gif|mp4}`` for the first clip of up
      to ``examples`` classes, ``attributions.npz`` (float16 maps) with ``save_maps``,
      ``bad_items.csv``, and ``config.json`` (every parameter and provenance).

    Args:
        checkpoint: A checkpoint of :func:`motionprobe.train.train`.
        data: Dataset root.
        out: Output folder (created; files are replaced atomically).
        split: Split to read.
        method: As :func:`attribute`.
        clips_per_class: Videos per class.
        target: ``label`` (explain the true class) or ``pred`` (the predicted one).
        device: Torch device.
        progress: Progress bar over clips and a one-line summary at the end.
        batch_size: Clips decoded and attributed together.
        label_map: Class-order file of the dataset.
        flow_cache: A flow cache made over ``data`` (default: flow computed on the fly).
        sanity_clips: Clips for the randomisation test (and IG completeness if not the method).
        examples: Classes that get a montage and an animation.
        video_format: ``gif``, ``mp4`` or None (no animations).
        save_maps: Also write the full maps.
        sigma: Selective relevance threshold.
        seed: Seed of the random methods and the randomisation test.
        **options: Passed to :func:`attribute` (``steps``, ``layer``, ``remove``, ...).

    Returns:
        Summary dict: ``out``, ``clips``, ``bad``, ``method``, ``sanity``, ``paths``,
        ``summary`` (the one-line text).
    """
    from motionprobe.data import collate
    from motionprobe.data.synthetic import load_cues
    from motionprobe.io import provenance, write_csv, write_json, write_parquet
    from motionprobe.plots import save_figure, stream_share_plot, temporal_profile_plot
    from motionprobe.train import load_checkpoint, make_dataset, modality_of, model_inputs

    if target not in ("label", "pred"):
        raise ValueError(f"target must be 'label' or 'pred', got {target!r}")
    if video_format not in (None, "gif", "mp4"):
        raise ValueError(f"video_format must be 'gif', 'mp4' or None, got {video_format!r}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {list(METHODS)}")
    if "baselines" in options:
        raise ValueError("run_attribution uses the default baselines; call attribute() for others")
    out = Path(out)
    model, ckpt = load_checkpoint(checkpoint, device)
    classes = list(ckpt["classes"])
    cfg = dict(ckpt.get("config") or {})
    frames = int(cfg.get("frames") or model.frames)
    inputs = tuple(getattr(model, "inputs", ("rgb",)))
    two_stream = inputs == ("rgb", "flow")
    dataset, bad = make_dataset(
        data,
        split,
        classes,
        model.presets.get("rgb", model.preset),
        frames=frames,
        train=False,
        fps=cfg.get("fps"),
        short=cfg.get("short", "loop"),
        label_map=label_map or cfg.get("label_map"),
        modality=modality_of(model),
        flow_cache=flow_cache,
        flow_method=cfg.get("flow_method", "tvl1"),
    )
    chosen: dict[str, list[int]] = {}
    for i, r in enumerate(dataset.records):
        if len(chosen.setdefault(r.label, [])) < clips_per_class:
            chosen[r.label].append(i)
    order = [i for c in classes for i in chosen.get(c, [])]
    cues = load_cues(data)

    clip_rows: list[dict] = []
    profile_rows: list[tuple] = []
    maps: dict[str, list[np.ndarray]] = {n: [] for n in inputs}
    examples_done: set[str] = set()
    sanity_inputs = None
    paths: list[Path] = []
    bar = tqdm(total=len(order), desc=f"attribute ({method})", unit="clip", disable=not progress)
    for start in range(0, len(order), batch_size):
        batch = collate([dataset[i] for i in order[start : start + batch_size]])
        bad += batch["bad"]
        bar.update(len(batch["label"]) + len(batch["bad"]))
        xs = model_inputs(model, batch, device)
        if xs is None:
            continue
        with torch.no_grad():
            logits = model(*xs)
        labels = batch["label"].to(device)
        targets = labels if target == "label" else logits.argmax(1)
        one = xs if len(xs) > 1 else xs[0]
        attrs = _as_tuple(attribute(model, one, targets, method, seed=seed, **options))[0]
        if sanity_inputs is None:
            sanity_inputs = (tuple(x[:sanity_clips] for x in xs), targets[:sanity_clips])
            sanity_inputs += (tuple(a[:sanity_clips] for a in attrs),)
        error = np.full(len(labels), np.nan)
        if method in ("integrated_gradients", "deeplift", "frame_shapley"):
            base, players, frames_only = None, attrs, method == "frame_shapley"
            if frames_only:
                base = tuple(removal_baseline(x, options.get("remove", "mean")) for x in xs)
                # Joint players carry the same value in both streams: count them once.
                players = attrs[:1] if options.get("joint_streams") else attrs
            error = completeness(model, xs, targets, players, base, per_frame=frames_only)
            error = error.cpu().numpy()
        rows, prows = _clip_tables(batch, logits, targets, attrs, classes, two_stream, sigma)
        for row, e in zip(rows, error, strict=True):
            row["completeness"] = float(e)
        clip_rows += rows
        profile_rows += prows
        for j, row in enumerate(rows):
            if save_maps:
                for n, a in zip(inputs, attrs, strict=True):
                    maps[n].append(a[j].cpu().half().numpy())
            if row["label"] not in examples_done and len(examples_done) < examples:
                examples_done.add(row["label"])
                paths += _write_example(out, row["label"], batch, j, attrs, inputs, video_format)
    bar.close()
    if not clip_rows:
        raise ValueError(f"{data}: no clip of split {split!r} could be attributed ({len(bad)} bad)")

    clips_df = pd.DataFrame(clip_rows)
    prof_df = pd.DataFrame(profile_rows, columns=["video_id", "label", "stream", "frame", "share"])
    cp_df = pd.concat(
        [
            class_profiles(
                np.stack(sub.groupby("video_id", sort=False)["share"].apply(np.asarray)),
                sub.groupby("video_id", sort=False)["label"].first().tolist(),
                classes,
            ).assign(stream=stream)
            for stream, sub in prof_df.groupby("stream", sort=False)
        ],
        ignore_index=True,
    )[["stream", "class", "frame", "mean", "sem", "n"]]
    summary_df = _class_summary(clips_df, classes, cues)
    sanity = _sanity_checks(model, *sanity_inputs, method, seed, options, clips_df)

    paths.append(write_csv(out / "clips.csv", clips_df))
    paths.append(write_parquet(out / "profiles.parquet", prof_df))
    paths.append(write_csv(out / "class_profiles.csv", cp_df))
    paths.append(write_csv(out / "class_summary.csv", summary_df))
    paths.append(write_json(out / "sanity.json", sanity))
    bad_rows = sorted({(b.video_id, b.path, b.reason) for b in bad})
    bad_df = pd.DataFrame(bad_rows, columns=["video_id", "path", "reason"])
    paths.append(write_csv(out / "bad_items.csv", bad_df))
    if save_maps:
        from motionprobe.io import atomic_path

        with atomic_path(out / "attributions.npz") as tmp:
            np.savez_compressed(
                tmp,
                video_id=np.asarray(clips_df["video_id"], dtype=str),
                **{n: np.stack(v) for n, v in maps.items()},
            )
        paths.append(out / "attributions.npz")
    fig = temporal_profile_plot(cp_df, cues=cues or None, title=f"{method}: per-frame share")
    paths += save_figure(fig, out / "figures" / "temporal_profiles")
    if two_stream:
        fig = stream_share_plot(summary_df, cues=cues or None)
        paths += save_figure(fig, out / "figures" / "stream_share")
    config = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "model": ckpt.get("model"),
        "data": str(Path(data).resolve()),
        "split": split,
        "method": method,
        "clips_per_class": clips_per_class,
        "target": target,
        "device": device,
        "batch_size": batch_size,
        "label_map": label_map,
        "flow_cache": None if flow_cache is None else str(flow_cache),
        "flow_method": cfg.get("flow_method", "tvl1") if "flow" in inputs else None,
        "frames": frames,
        "inputs": list(inputs),
        "presets": {k: v.to_dict() for k, v in model.presets.items()},
        "sanity_clips": sanity_clips,
        "examples": examples,
        "video_format": video_format,
        "save_maps": save_maps,
        "sigma": sigma,
        "options": options,
        "attributed_inputs": "normalised model inputs; baselines: zeros in normalised space",
        "classes": classes,
        **provenance([dataset.records[i] for i in order], seed=seed),
    }
    paths.append(write_json(out / "config.json", config))
    rand, ig = sanity["randomisation"], sanity["ig_completeness"]
    line = (
        f"attribute: {len(clips_df)} clips, {method}, randomisation rho {rand['correlation']:.2f} "
        f"({'ok' if rand['passed'] else 'FAILED'}), IG completeness error "
        f"{ig['median_relative_error']:.1%}"
        + (f", flow share {np.nanmean(clips_df['flow_share']):.2f}" if two_stream else "")
        + f", {len(bad)} bad -> {out.resolve()}"
    )
    if progress:
        print(line)
    return {
        "out": str(out),
        "clips": len(clips_df),
        "bad": len(bad),
        "method": method,
        "sanity": sanity,
        "paths": [str(p) for p in paths],
        "summary": line,
    }


def _clip_tables(
    batch: dict,
    logits: torch.Tensor,
    targets: torch.Tensor,
    attrs: tuple[torch.Tensor, ...],
    classes: list[str],
    two_stream: bool,
    sigma: float,
) -> tuple[list[dict], list[tuple]]:
    """Per-clip rows and tidy per-frame profile rows of one attributed batch."""
    streams = {"all": attrs} | ({"rgb": attrs[:1], "flow": attrs[1:]} if two_stream else {})
    profiles = {s: frame_profile(a).cpu() for s, a in streams.items()}
    entropy = temporal_entropy(profiles["all"]).tolist()
    tshare = selective_relevance(attrs, sigma)[1].tolist()
    fshare = stream_share(attrs[0], attrs[1]).tolist() if two_stream else [np.nan] * len(entropy)
    rows, prows = [], []
    for j, video_id in enumerate(batch["video_id"]):
        label = classes[int(batch["label"][j])]
        k = int(targets[j])
        rows.append(
            {
                "video_id": video_id,
                "label": label,
                "target": classes[k],
                "pred": classes[int(logits[j].argmax())],
                "logit": float(logits[j, k]),
                "entropy": entropy[j],
                "temporal_share": tshare[j],
                "flow_share": fshare[j],
            }
        )
        for s, p in profiles.items():
            prows += [(video_id, label, s, f, v) for f, v in enumerate(p[j].tolist())]
    return rows, prows


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
    """Randomisation test of ``method`` and IG completeness, on the first attributed clips."""
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
    if method in ("deeplift", "frame_shapley"):
        sanity["method_completeness_median"] = float(np.nanmedian(clips["completeness"]))
    return sanity


def _class_summary(clips: pd.DataFrame, classes: list[str], cues: dict) -> pd.DataFrame:
    rows = []
    for c in classes:
        sub = clips[clips["label"] == c]
        if sub.empty:
            continue
        row: dict = {"class": c, "n": len(sub)}
        if cues:
            row["cue"] = cues.get(c)
        for col in ("entropy", "temporal_share", "flow_share"):
            v = sub[col].to_numpy(dtype=float)
            ok = v[~np.isnan(v)]
            row[col] = float(ok.mean()) if len(ok) else np.nan
            row[f"{col}_sem"] = float(ok.std(ddof=1) / np.sqrt(len(ok))) if len(ok) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _write_example(
    out: Path,
    label: str,
    batch: dict,
    j: int,
    attrs: tuple[torch.Tensor, ...],
    inputs: tuple[str, ...],
    video_format: str | None,
) -> list[Path]:
    """Montage (and animation) of clip ``j`` of a batch; one row per input stream."""
    from motionprobe.flow import flow_to_color
    from motionprobe.io import atomic_path
    from motionprobe.plots import overlay_montage
    from motionprobe.transforms import to_frames

    rows, heats, names = [], [], []
    for name, a in zip(inputs, attrs, strict=True):
        if name == "rgb":
            frames = to_frames(batch["video"][j])
        else:
            frames = flow_to_color(batch["flow"][j].cpu().numpy())
        rows.append(frames)
        heats.append(heatmap(a[j : j + 1])[0])
        names.append(name)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)
    fig = overlay_montage(rows, heats, row_labels=names, title=f"{label}: {batch['video_id'][j]}")
    # PNG only: an SVG of raster frames adds nothing but size.
    path = out / "figures" / f"montage_{safe}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    paths = [path]
    if video_format is not None:
        stacked = np.concatenate(rows, axis=2)  # streams side by side
        heat = np.concatenate([normalise_heat(h) for h in heats], axis=2)
        paths.append(write_heatmap_video(out / "videos" / f"{safe}.{video_format}", stacked, heat))
    return paths


__all__ = [
    "DEFAULT_MEMORY_MB",
    "FRAME_METHODS",
    "GRADCAM_METHODS",
    "GRADIENT_METHODS",
    "METHODS",
    "REMOVALS",
    "attribute",
    "class_profiles",
    "completeness",
    "frame_mass",
    "frame_masks",
    "frame_profile",
    "gradcam",
    "heatmap",
    "normalise_heat",
    "overlay_frames",
    "randomisation_test",
    "randomise_parameters",
    "removal_baseline",
    "row_bytes",
    "run_attribution",
    "selective_relevance",
    "stream_share",
    "temporal_derivative",
    "temporal_entropy",
    "write_heatmap_video",
]
