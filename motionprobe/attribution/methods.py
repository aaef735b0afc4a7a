"""The attribution methods: their table and the Captum wrapper :func:`attribute`.

Each method name maps to a :class:`MethodSpec` in :data:`METHOD_SPECS`: the Captum class that
runs it, which of :func:`attribute`'s settings become arguments of its call, and the fixed options
of that call. :func:`attribute` resolves a name through the table, plans the memory budget, and
runs the method one chunk of clips at a time (see :mod:`motionprobe.attribution` for the
conventions: normalised inputs, zero baselines, frame removal, two-stream players).
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from motionprobe.attribution.gradcam import gradcam, gradcam_layers
from motionprobe.io import hide_bars

Tensors = torch.Tensor | tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class MethodSpec:
    """How one method name of :func:`attribute` maps onto an explainer.

    Attributes:
        family: ``gradient`` (a Captum gradient method; ``smooth`` applies), ``frame`` (a Captum
            perturbation method over frames) or ``gradcam`` (:func:`gradcam`).
        captum: Class name in ``captum.attr``; None for :func:`gradcam` (its per-clip weights
            are Captum's ``LayerGradCam``'s, tested equal, but all layers share one pass).
        arguments: The call settings that become keyword arguments of the explainer's
            ``attribute`` besides ``target``, by their name in ``_ARGUMENTS``: ``baselines``
            (given, else zeros), ``steps`` (Integrated Gradients' ``n_steps`` and
            ``internal_batch_size``), ``removal`` (given baselines, else the ``remove``
            baseline), ``perturbations``, ``window`` (occlusion), ``mask`` (frame-grouping
            masks), ``samples`` (Shapley permutations).
        options: Fixed keyword arguments of the call (read only).
        alias_of: The method this name runs (``smoothgrad`` is ``saliency``), with ``smooth``
            defaulting to :attr:`smooth`.
        smooth: The NoiseTunnel variant of an alias.
        handles_rnn: False where Captum has no rule for the gates of ``nn.LSTM``/``nn.RNN``.
        complete: What sums to ``f(x) - f(baseline)`` (completeness): ``elements`` (every
            element's attribution), ``frames`` (one value per frame), or None.
    """

    family: str
    captum: str | None = None
    arguments: tuple[str, ...] = ()
    options: Mapping[str, object] = field(default_factory=dict)
    alias_of: str | None = None
    smooth: str | None = None
    handles_rnn: bool = True
    complete: str | None = None

    @property
    def integrates(self) -> bool:
        """Integrated Gradients: ``steps`` rows per clip in each pass."""
        return "steps" in self.arguments


_FRAME_ARGUMENTS = ("removal", "perturbations")

#: Every method name :func:`attribute` accepts, in the order of :data:`METHODS`.
METHOD_SPECS: dict[str, MethodSpec] = {
    "integrated_gradients": MethodSpec(
        "gradient", "IntegratedGradients", ("baselines", "steps"), complete="elements"
    ),
    "saliency": MethodSpec("gradient", "Saliency", options={"abs": True}),
    "input_x_gradient": MethodSpec("gradient", "InputXGradient"),
    "deeplift": MethodSpec(
        "gradient", "DeepLift", ("baselines",), handles_rnn=False, complete="elements"
    ),
    "guided_backprop": MethodSpec("gradient", "GuidedBackprop", handles_rnn=False),
    "occlusion": MethodSpec("frame", "Occlusion", ("window", *_FRAME_ARGUMENTS)),
    "frame_ablation": MethodSpec("frame", "FeatureAblation", ("mask", *_FRAME_ARGUMENTS)),
    "frame_shapley": MethodSpec(
        "frame", "ShapleyValueSampling", ("mask", "samples", *_FRAME_ARGUMENTS), complete="frames"
    ),
    "gradcam": MethodSpec("gradcam", options={"per_time": False}),
    "gradcam_temporal": MethodSpec("gradcam", options={"per_time": True}),
    "smoothgrad": MethodSpec("gradient", alias_of="saliency", smooth="smoothgrad"),
}


def _named(family: str) -> tuple[str, ...]:
    """The method names of a family in table order, aliases excluded."""
    return tuple(n for n, s in METHOD_SPECS.items() if s.family == family and s.alias_of is None)


#: Gradient methods (Captum), usable with ``smooth`` (NoiseTunnel) and two-stream tuples.
GRADIENT_METHODS = _named("gradient")
#: Perturbation methods over frames (Captum); each replaces frames by the ``remove`` baseline.
FRAME_METHODS = _named("frame")
#: Grad-CAM on a 3-D layer: one weight per channel, or per channel and time step.
GRADCAM_METHODS = _named("gradcam")
#: Every method name :func:`attribute` accepts (``smoothgrad`` = saliency with SmoothGrad).
METHODS = tuple(METHOD_SPECS)
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

_ROW_BYTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Call:
    """The settings of one :func:`attribute` call that its chunks need (see its arguments)."""

    method: str
    spec: MethodSpec
    rows: int | None
    steps: int
    internal_batch_size: int | None
    window: int
    stride: int
    samples: int
    remove: str
    joint_streams: bool
    perturbations_per_eval: int | None
    layers: list[tuple[str, nn.Module, tuple[int, ...]]]
    smooth: str | None
    nt_samples: int
    noise_level: float


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
        remove: Frame removal baseline, one of :data:`REMOVALS` (see
            :mod:`motionprobe.attribution`).
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
    method, smooth = _resolve_alias(method, smooth)
    _check_method(model, method, smooth, remove)
    spec = METHOD_SPECS[method]
    targets = _targets(target, b, xs[0].device)
    base = _baselines(baselines, xs)
    layers = gradcam_layers(model, layer) if spec.family == "gradcam" else []

    with _attribution_mode(model):
        rows = None
        plan_needs_rows = batch_size is None or (spec.integrates and internal_batch_size is None)
        plan_needs_rows |= spec.family == "frame" and perturbations_per_eval is None
        if plan_needs_rows:
            rows = max(1, int(memory_mb * 2**20 // row_bytes(model, xs)))
        call = _Call(
            method=method,
            spec=spec,
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
        chunk = _chunk_size(b, call, batch_size)
        out = _attribute_chunks(model, xs, targets, base, call, chunk, seed=seed, progress=progress)
    attrs = tuple(torch.cat(parts) for parts in out)
    return attrs if is_tuple else attrs[0]


def _resolve_alias(method: str, smooth: str | None) -> tuple[str, str | None]:
    """The method an alias runs and its ``smooth`` (``smoothgrad`` -> ``saliency``, SmoothGrad).

    Names that are no alias, known or not, pass unchanged (:func:`_check_method` judges them).
    """
    spec = METHOD_SPECS.get(method)
    if spec is None or spec.alias_of is None:
        return method, smooth
    return spec.alias_of, smooth or spec.smooth


def _chunk_size(b: int, call: _Call, batch_size: int | None) -> int:
    """Clips per Captum call: ``batch_size``, else as many as the row budget holds.

    A clip costs ``steps`` rows under Integrated Gradients, times ``nt_samples`` under
    NoiseTunnel; Captum needs a row per clip in each IG pass, so a given
    ``internal_batch_size`` also caps the chunk.

    Args:
        b: Clips in the call.
        call: The call's settings (``rows`` is the budget in rows, None when not planned).
        batch_size: The caller's clips per call, or None.
    """
    per_clip = call.steps if call.spec.integrates else 1
    if call.smooth is not None:
        per_clip *= call.nt_samples
    chunk = batch_size or max(1, min(b, (call.rows or 1) // per_clip))
    if call.spec.integrates and call.internal_batch_size is not None:
        chunk = min(chunk, call.internal_batch_size)  # Captum needs a row per clip in each pass
    return chunk


def _attribute_chunks(
    model: nn.Module,
    xs: tuple[torch.Tensor, ...],
    targets: torch.Tensor,
    base: tuple[torch.Tensor, ...] | None,
    call: _Call,
    chunk: int,
    *,
    seed: int,
    progress: bool,
) -> list[list[torch.Tensor]]:
    """Run the call ``chunk`` clips at a time under a forked RNG seeded with ``seed``.

    Args:
        model: The classifier, in attribution mode.
        xs: Normalised inputs, each ``(B, C, T, H, W)``.
        targets: LongTensor ``(B,)``.
        base: Baselines per input, ``(B, C, T, H, W)`` or ``(1, C, T, H, W)``, or None.
        call: The call's settings.
        chunk: Clips per Captum call.
        seed: Seed of the random methods.
        progress: Show a progress bar over clips.

    Returns:
        Per input, the detached maps of each chunk ``(chunk, C, T, H, W)``, in clip order.
    """
    b = xs[0].shape[0]
    devices = [xs[0].device] if xs[0].device.type == "cuda" else []
    out: list[list[torch.Tensor]] = [[] for _ in xs]
    bar = tqdm(total=b, desc=call.method, unit="clip", disable=hide_bars(progress), leave=False)
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for start in range(0, b, chunk):
            sl = slice(start, min(start + chunk, b))
            part = _attribute_chunk(
                model,
                tuple(x[sl] for x in xs),
                targets[sl],
                None if base is None else tuple(_rows(v, sl, b) for v in base),
                call,
            )
            for i, a in enumerate(part):
                out[i].append(a.detach())
            bar.update(sl.stop - sl.start)
    bar.close()
    return out


def _attribute_chunk(
    model: nn.Module,
    xs: tuple[torch.Tensor, ...],
    target: torch.Tensor,
    base: tuple[torch.Tensor, ...] | None,
    call: _Call,
) -> tuple[torch.Tensor, ...]:
    """One explainer call on a chunk of clips, dispatched on the method's family.

    Args:
        model: The classifier, in attribution mode.
        xs: Normalised inputs, each ``(b, C, T, H, W)``.
        target: LongTensor ``(b,)``.
        base: The caller's baselines for these clips, or None.
        call: The call's settings.

    Returns:
        One map per input, each of its input's shape.
    """
    return _FAMILIES[call.spec.family](model, xs, target, base, call)


def _captum():
    """``captum.attr``, imported on first use: a second of start-up that probing never needs."""
    return importlib.import_module("captum.attr")


def _captum_arguments(
    xs: tuple[torch.Tensor, ...], target: torch.Tensor, base: tuple | None, call: _Call
) -> dict:
    """Keyword arguments of the explainer's ``attribute``: the method's arguments and options."""
    kwargs: dict = {"target": target}
    for name in call.spec.arguments:
        kwargs.update(_ARGUMENTS[name](xs, base, call))
    kwargs.update(call.spec.options)
    return kwargs


def _run_gradcam(
    model: nn.Module, xs: tuple, target: torch.Tensor, base: tuple | None, call: _Call
) -> tuple[torch.Tensor, ...]:
    """The ``gradcam`` family: :func:`gradcam` with the method's options (``per_time``)."""
    return gradcam(model, xs, target, call.layers, **call.spec.options)


def _run_frames(
    model: nn.Module, xs: tuple, target: torch.Tensor, base: tuple | None, call: _Call
) -> tuple[torch.Tensor, ...]:
    """The ``frame`` family: a Captum perturbation method over frames."""
    kwargs = _captum_arguments(xs, target, base, call)
    return getattr(_captum(), call.spec.captum)(model).attribute(xs, **kwargs)


def _run_gradient(
    model: nn.Module, xs: tuple, target: torch.Tensor, base: tuple | None, call: _Call
) -> tuple[torch.Tensor, ...]:
    """The ``gradient`` family: a Captum gradient method, under NoiseTunnel with ``smooth``."""
    explainer = getattr(_captum(), call.spec.captum)(model)
    kwargs = _captum_arguments(xs, target, base, call)
    with warnings.catch_warnings():
        # Captum's notices that it sets requires_grad and hooks ReLUs: expected, and repeated
        # once per chunk they would bury real warnings.
        for text in _CAPTUM_NOTICES:
            warnings.filterwarnings("ignore", message=text, category=UserWarning)
        if call.smooth is None:
            return explainer.attribute(xs, **kwargs)
        b = xs[0].shape[0]
        stdevs = tuple(call.noise_level * float(x.max() - x.min()) for x in xs)
        rows = call.rows or b * call.nt_samples
        nt_batch = max(1, rows // (b * (call.steps if "n_steps" in kwargs else 1)))
        return (
            _captum()
            .NoiseTunnel(explainer)
            .attribute(
                xs,
                nt_type=call.smooth,
                nt_samples=call.nt_samples,
                nt_samples_batch_size=min(call.nt_samples, nt_batch),
                stdevs=stdevs,
                **kwargs,
            )
        )


_FAMILIES: dict[str, Callable[..., tuple[torch.Tensor, ...]]] = {
    "gradient": _run_gradient,
    "frame": _run_frames,
    "gradcam": _run_gradcam,
}


# --- the arguments a method's spec names ---------------------------------------------------------


def _zero_or_given_baselines(xs: tuple, base: tuple | None, call: _Call) -> dict:
    """``baselines``: the caller's, else zeros (normalised space) of each input's shape."""
    return {"baselines": base if base is not None else tuple(torch.zeros_like(x) for x in xs)}


def _integration_steps(xs: tuple, base: tuple | None, call: _Call) -> dict:
    """``n_steps`` and ``internal_batch_size`` (default: the budget, at least a row per clip)."""
    b = xs[0].shape[0]
    rows = b * (call.nt_samples if call.smooth else 1)
    ibs = call.internal_batch_size or max(rows, call.rows or 1)
    return {"n_steps": call.steps, "internal_batch_size": ibs}


def _removal_baselines(xs: tuple, base: tuple | None, call: _Call) -> dict:
    """``baselines``: the caller's, else each input's ``remove`` baseline."""
    bl = base if base is not None else tuple(removal_baseline(x, call.remove) for x in xs)
    return {"baselines": bl}


def _perturbations(xs: tuple, base: tuple | None, call: _Call) -> dict:
    """``perturbations_per_eval``: the caller's, else the row budget shared by the clips."""
    b = xs[0].shape[0]
    return {"perturbations_per_eval": call.perturbations_per_eval or max(1, (call.rows or 1) // b)}


def _occlusion_window(xs: tuple, base: tuple | None, call: _Call) -> dict:
    """``sliding_window_shapes`` and ``strides``: ``window`` frames moved by ``stride`` frames,
    all channels and pixels, per input ``(C, w, H, W)`` and ``(C, s, H, W)``."""
    t = xs[0].shape[2]
    w, s = min(call.window, t), max(1, min(call.stride, t))
    shapes = tuple((x.shape[1], w, *x.shape[3:]) for x in xs)
    strides = tuple((x.shape[1], s, *x.shape[3:]) for x in xs)
    return {"sliding_window_shapes": shapes, "strides": strides}


def _frame_mask(xs: tuple, base: tuple | None, call: _Call) -> dict:
    """``feature_mask``: :func:`frame_masks` (streams joint or separate players)."""
    return {"feature_mask": frame_masks(xs, call.joint_streams)}


def _shapley_samples(xs: tuple, base: tuple | None, call: _Call) -> dict:
    """``n_samples``: permutations of Shapley value sampling."""
    return {"n_samples": call.samples}


#: What each name in :attr:`MethodSpec.arguments` adds to the explainer's keyword arguments.
_ARGUMENTS: dict[str, Callable[[tuple, tuple | None, _Call], dict]] = {
    "baselines": _zero_or_given_baselines,
    "steps": _integration_steps,
    "removal": _removal_baselines,
    "perturbations": _perturbations,
    "window": _occlusion_window,
    "mask": _frame_mask,
    "samples": _shapley_samples,
}


# --- pieces of attribute -------------------------------------------------------------------------

#: Captum's notices silenced around gradient methods (regular expressions).
_CAPTUM_NOTICES = (
    r"Input Tensor \d+ did not already require gradients",
    r"Setting backward hooks on ReLU activations",
    r"Setting forward, backward hooks and attributes on non-linear",
)


def _as_tuple(clips: Tensors) -> tuple[tuple[torch.Tensor, ...], bool]:
    """``(inputs as a tuple, whether they came as one)``: a tensor becomes a 1-tuple."""
    if isinstance(clips, torch.Tensor):
        return (clips,), False
    return tuple(clips), True


def _check_inputs(model: nn.Module, xs: tuple[torch.Tensor, ...]) -> tuple[int, int]:
    """Check one ``(B, C, T, H, W)`` input per ``model.inputs``, sharing B and T.

    Returns:
        ``(B, T)``.
    """
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
    """Reject unknown names, NoiseTunnel on a non-gradient method, and RNNs it cannot handle."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {list(METHODS)}")
    if remove not in REMOVALS:
        raise ValueError(f"remove must be one of {REMOVALS}, got {remove!r}")
    if smooth is not None:
        if smooth not in SMOOTHING:
            raise ValueError(f"smooth must be one of {SMOOTHING} or None, got {smooth!r}")
        if method not in GRADIENT_METHODS:
            raise ValueError(f"smooth (NoiseTunnel) works with {GRADIENT_METHODS}, not {method}")
    if not METHOD_SPECS[method].handles_rnn:
        if any(isinstance(m, nn.RNNBase) for m in model.modules()):
            raise ValueError(
                f"{method} cannot handle nn.LSTM/nn.RNN (their gates are functional "
                "nonlinearities Captum has no rule for); use integrated_gradients, saliency or "
                "input_x_gradient on this model"
            )


def _targets(target, b: int, device: torch.device) -> torch.Tensor:
    """One logit index per clip: LongTensor ``(B,)`` from an int, a sequence or a tensor."""
    t = torch.as_tensor(target, dtype=torch.long, device=device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(b)
    if t.numel() != b:
        raise ValueError(f"target must be one index or one per clip ({b}), got {t.numel()}")
    return t.contiguous()


def _baselines(baselines, xs: tuple[torch.Tensor, ...]) -> tuple | None:
    """The caller's baselines per input, each ``(B | 1, C, T, H, W)`` (scalars filled), or None."""
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
    """A baseline's rows of a chunk: ``v[sl]``, or ``v`` itself when it has batch 1."""
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
    """What replaces each frame when it is removed (see :mod:`motionprobe.attribution`).

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
