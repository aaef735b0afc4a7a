"""Temporal interventions: pure functions on pixel-unit clips ``(B, C, T, H, W)``.

Every intervention is ``fn(x, ..., generator=None)``: ``x`` is a float clip in pixel units
(0..255), parameters are explicit, and the output keeps shape, dtype and device. The one exception
is :func:`single_frame`, which returns ``(B, C, 1, H, W)`` for 2-D models that take any number of
frames (its descriptor says ``keeps_length=False``). Random interventions draw only from the
optional ``torch.Generator`` (a CPU one; results are moved to ``x.device``), so the same generator
seed gives the same output; each clip of a batch draws its own randomness.

Apply them before the model's normalisation: fills (grey, zero, noise) are in pixel units.

Registered in :data:`INTERVENTIONS` as :class:`Intervention` descriptors (random? needs flow, a
partner or the generator? selectable? fills frames?), from which the engine, the statistics and
the report derive what they do; :func:`parse` reads specs:

- ``clean``: the input itself.
- ``freeze``: one frame replicated (Huang et al. 2018); ``single_frame``: that frame alone.
- ``shuffle``: global or windowed random permutation of frames (Sevilla-Lara et al. 2021).
- ``reverse``: time reversal (Mänttäri et al. 2020).
- ``subsample``: ``k`` evenly spaced frames, held or looped back to ``T`` frames.
- ``occlude``: a run of frames replaced by a constant, zero or the last frame before it.
- ``appearance_free``: noise moved by the clip's flow (Ilic, Pock & Wildes, ECCV 2022).
- ``inject_motion``: one frame moved by a random class-agnostic camera trajectory.
- ``conflict``: cue conflict, one frame moved by another clip's flow (the engine pairs clips).
- ``generate``: frames filled by the trained class-agnostic temporal generator
  (:mod:`motionprobe.probes.generator`; the engine binds it).

Helpers, not interventions: :func:`warp_forward`, :func:`keep_indices`, :func:`motion_energy`.
Flow follows :mod:`motionprobe.flow`'s convention: the pixel at ``(x, y)`` in frame ``t`` is at
``(x + dx, y + dy)`` in frame ``t + 1``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from motionprobe.flow import clip_flow
from motionprobe.types import TIME_DIM

#: Named frame positions understood by ``index`` parameters (``random`` is drawn per clip).
FRAME_POSITIONS = ("first", "middle", "last", "random")
OCCLUDE_FILLS = ("mean", "zero", "hold")
SUBSAMPLE_MODES = ("nearest", "loop")
CONFLICT_MODES = ("global", "dense")
# Mean |flow| (px) under which a partner's step counts as no motion at all.
_STILL_FLOW = 1e-3


# --- helpers -------------------------------------------------------------------------------------


def _check_clip(x: torch.Tensor) -> tuple[int, int, int, int, int]:
    if x.dim() != 5:
        raise ValueError(f"expected a (B, C, T, H, W) clip, got shape {tuple(x.shape)}")
    return tuple(x.shape)  # type: ignore[return-value]


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device) -> torch.Tensor:
    # Draw where the generator lives (CPU by convention) so a seed means the same on any device.
    where = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(shape, generator=generator, device=where).to(device)


def _randint(
    high: int, shape: tuple[int, ...], generator: torch.Generator | None, device
) -> torch.Tensor:
    where = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(high, shape, generator=generator, device=where).to(device)


def _frame_indices(
    x: torch.Tensor, index: int | str | None, generator: torch.Generator | None
) -> torch.Tensor:
    """Frame to keep per clip, LongTensor ``(B,)`` on ``x.device``."""
    b, t = x.shape[0], x.shape[TIME_DIM]
    if index is None:  # the old default of freeze
        index = "middle"
    if isinstance(index, str):
        if index not in FRAME_POSITIONS:
            raise ValueError(f"unknown frame position {index!r}; choose from {FRAME_POSITIONS}")
        if index == "random":
            return _randint(t, (b,), generator, x.device)
        i = {"first": 0, "middle": t // 2, "last": t - 1}[index]
    else:
        i = int(index)
        if not -t <= i < t:
            raise IndexError(f"frame index {i} out of range for a clip of {t} frames")
    return torch.full((b,), i % t, dtype=torch.long, device=x.device)


def _pick_frame(
    x: torch.Tensor, index: int | str | None, generator: torch.Generator | None
) -> torch.Tensor:
    """The chosen frame of each clip, ``(B, C, H, W)``."""
    idx = _frame_indices(x, index, generator)
    return x[torch.arange(x.shape[0], device=x.device), :, idx]


def _transform_frames(
    frame: torch.Tensor,
    angle: torch.Tensor,
    log_zoom: torch.Tensor,
    dx: torch.Tensor,
    dy: torch.Tensor,
) -> torch.Tensor:
    """Move one frame per clip by a similarity transform per time step.

    Args:
        frame: ``(B, C, H, W)``.
        angle: ``(B, T)`` radians; log_zoom: ``(B, T)``; dx, dy: ``(B, T)`` pixels. The content
            is scaled and rotated about the centre, then shifted by ``(dx, dy)``.

    Returns:
        ``(B, C, T, H, W)``; steps with the identity transform are copied, not resampled, so they
        equal ``frame`` exactly.
    """
    b, c, h, w = frame.shape
    t = angle.shape[1]
    cos, sin, zoom = torch.cos(angle), torch.sin(angle), torch.exp(log_zoom)
    # grid_sample wants, for each output position, where to read: the inverse of the content's
    # motion p' = z R p + d, written in normalised coordinates (x / (W/2), y / (H/2)) so a
    # rotation stays a rotation on non-square frames.
    theta = torch.zeros(b, t, 2, 3, dtype=torch.float32, device=frame.device)
    theta[..., 0, 0] = cos / zoom
    theta[..., 0, 1] = sin * (h / w) / zoom
    theta[..., 1, 0] = -sin * (w / h) / zoom
    theta[..., 1, 1] = cos / zoom
    theta[..., 0, 2] = -(cos * dx + sin * dy) / (w / 2) / zoom
    theta[..., 1, 2] = -(-sin * dx + cos * dy) / (h / 2) / zoom
    identity = (angle == 0) & (log_zoom == 0) & (dx == 0) & (dy == 0)
    src = frame.float().unsqueeze(1).expand(b, t, c, h, w).reshape(b * t, c, h, w)
    out = src.clone()
    moved = ~identity.flatten()
    if moved.any():
        grid = F.affine_grid(theta.view(b * t, 2, 3)[moved], [int(moved.sum()), c, h, w], False)
        out[moved] = F.grid_sample(
            src[moved], grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )
    return out.view(b, t, c, h, w).transpose(1, 2).to(frame.dtype)


def _check_flow(flow: torch.Tensor, x: torch.Tensor, what: str) -> torch.Tensor:
    """First ``T - 1`` fields of a ``(B, 2, T-1 or T, H, W)`` flow, on ``x``'s device, float."""
    b, _, t, h, w = x.shape
    flow = torch.as_tensor(flow)
    ok = flow.dim() == 5 and flow.shape[:2] == (b, 2) and flow.shape[3:] == (h, w)
    if not ok or flow.shape[TIME_DIM] not in (t - 1, t):
        raise ValueError(
            f"{what} must be (B, 2, T-1 or T, H, W) = ({b}, 2, {t - 1} or {t}, {h}, {w}), "
            f"got {tuple(flow.shape)}"
        )
    return flow[:, :, : t - 1].to(device=x.device, dtype=torch.float32)


# --- interventions -------------------------------------------------------------------------------


def clean(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The unmodified input (the reference every drop is measured against)."""
    return x


def freeze(
    x: torch.Tensor, index: int | str = "middle", generator: torch.Generator | None = None
) -> torch.Tensor:
    """Replicate one frame over the whole clip (Huang et al. 2018's naive baseline).

    Args:
        x: ``(B, C, T, H, W)``.
        index: Frame to keep: an int (negative counts from the end) or ``"first"``, ``"middle"``
            (``T // 2``, their choice), ``"last"`` or ``"random"`` (drawn per clip from
            ``generator``). ``None`` is read as ``"middle"``.
        generator: Source of the random index.

    Returns:
        ``(B, C, T, H, W)``, every frame equal to the chosen one.

    Raises:
        IndexError: An int index outside ``-T..T-1``.

    >>> x = torch.arange(4.0).view(1, 1, 4, 1, 1)
    >>> freeze(x).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0]
    """
    _check_clip(x)
    return _pick_frame(x, index, generator).unsqueeze(TIME_DIM).expand_as(x).contiguous()


def single_frame(
    x: torch.Tensor, index: int | str = "middle", generator: torch.Generator | None = None
) -> torch.Tensor:
    """The one frame alone, for 2-D models that take any number of frames.

    The only intervention that changes the shape (see :data:`SHAPE_CHANGING`).

    Args:
        x: ``(B, C, T, H, W)``.
        index: As in :func:`freeze`.
        generator: Source of the random index.

    Returns:
        ``(B, C, 1, H, W)``.

    >>> single_frame(torch.arange(4.0).view(1, 1, 4, 1, 1), index="last").shape
    torch.Size([1, 1, 1, 1, 1])
    """
    _check_clip(x)
    return _pick_frame(x, index, generator).unsqueeze(TIME_DIM).contiguous()


def shuffle(
    x: torch.Tensor, window: int | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Permute the frames of each clip with its own uniformly random permutation.

    Args:
        x: ``(B, C, T, H, W)``.
        window: ``None`` (or ``>= T``): one permutation of all frames. Otherwise frames are
            permuted only within consecutive windows of ``window`` frames (the last may be
            shorter), each window with its own permutation: local order is destroyed, the
            coarse order kept.
        generator: Source of the permutations.

    Returns:
        ``(B, C, T, H, W)``.

    >>> x = torch.arange(5.0).view(1, 1, 5, 1, 1)
    >>> sorted(shuffle(x, generator=torch.Generator().manual_seed(0)).flatten().tolist())
    [0.0, 1.0, 2.0, 3.0, 4.0]
    """
    b, _, t, _, _ = _check_clip(x)
    if window is not None and int(window) < 1:
        raise ValueError(f"shuffle window must be >= 1, got {window}")
    keys = _uniform((b, t), generator, x.device)
    if window is not None and int(window) < t:
        # Keys in [w, w + 1) for window w: one argsort permutes within windows, keeps them in order.
        keys = keys + torch.div(
            torch.arange(t, device=x.device), int(window), rounding_mode="floor"
        )
    perm = torch.argsort(keys, dim=1)
    return torch.gather(x, TIME_DIM, perm.view(b, 1, t, 1, 1).expand_as(x))


def reverse(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Play each clip backwards.

    Args:
        x: ``(B, C, T, H, W)``.

    Returns:
        ``(B, C, T, H, W)``, frame ``t`` is input frame ``T - 1 - t``.

    >>> reverse(torch.arange(3.0).view(1, 1, 3, 1, 1)).flatten().tolist()
    [2.0, 1.0, 0.0]
    """
    _check_clip(x)
    return x.flip(TIME_DIM)


def _segments(t: int, k: int) -> np.ndarray:
    """Segment boundaries ``floor(i * t / k)`` for ``i = 0..k`` (``k + 1`` ints)."""
    if not 1 <= k <= t:
        raise ValueError(f"k must be between 1 and the clip length {t}, got {k}")
    return (np.arange(k + 1) * t) // k


def keep_indices(t: int, k: int, offset: int = 0) -> torch.Tensor:
    """Time positions of the ``k`` frames kept out of ``t``: one per equal segment.

    The clip is cut into ``k`` segments ``[floor(i t / k), floor((i + 1) t / k))``. With
    ``offset = 0`` the kept frame of segment ``i`` is its centre, ``floor((i + 0.5) t / k)``;
    ``offset`` moves it forward inside its segment, wrapping around at the segment's end:
    ``start_i + (centre_i - start_i + offset) mod len_i``. Offsets ``0 .. t // k - 1`` therefore
    give ``t // k`` distinct phases (every phase when ``k`` divides ``t``).

    Args:
        t: Clip length T.
        k: Frames kept, ``1 <= k <= t``.
        offset: Phase shift inside each segment (any integer).

    Returns:
        LongTensor ``(k,)``, increasing.

    >>> keep_indices(16, 4).tolist(), keep_indices(16, 4, offset=2).tolist()
    ([2, 6, 10, 14], [0, 4, 8, 12])
    """
    bounds = _segments(t, k)
    starts, lengths = bounds[:-1], np.diff(bounds)
    centres = ((2 * np.arange(k) + 1) * t) // (2 * k)
    return torch.as_tensor(starts + (centres - starts + int(offset)) % lengths, dtype=torch.long)


def hold(x: torch.Tensor, k: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The held input of the generator: each kept frame fills its own segment.

    This is also what a static generator outputs (for ``k = 1`` a frozen clip).

    Args:
        x: ``(B, C, T, H, W)``.
        k: Frames kept.
        offset: Phase of the kept frames (see :func:`keep_indices`).

    Returns:
        The held clip ``(B, C, T, H, W)`` and the mask ``(B, 1, T, H, W)`` (1 at kept frames, in
        ``x``'s dtype).
    """
    b, _, t, h, w = _check_clip(x)
    keep = keep_indices(t, k, offset)
    segment = np.searchsorted(_segments(t, k)[1:], np.arange(t), side="right")
    source = keep[torch.as_tensor(segment)].to(x.device)
    held = x.index_select(TIME_DIM, source)
    mask = torch.zeros(b, 1, t, h, w, dtype=x.dtype, device=x.device)
    mask[:, :, keep.to(x.device)] = 1
    return held, mask


def subsample(
    x: torch.Tensor,
    k: int,
    mode: str = "nearest",
    offset: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Keep ``k`` evenly spaced frames (:func:`keep_indices`), then back to ``T`` frames.

    Args:
        x: ``(B, C, T, H, W)``.
        k: Frames kept, ``1 <= k <= T``; ``k == T`` returns ``x`` itself.
        mode: ``"nearest"``: each kept frame held over its segment (nearest-neighbour
            upsampling in time); ``"loop"``: the ``k`` kept frames repeated cyclically.
        offset: Phase of the kept frames inside their segments (see :func:`keep_indices`).

    Returns:
        ``(B, C, T, H, W)``.

    >>> x = torch.arange(8.0).view(1, 1, 8, 1, 1)
    >>> subsample(x, 2).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0, 6.0, 6.0, 6.0, 6.0]
    >>> subsample(x, 2, mode="loop").flatten().tolist()
    [2.0, 6.0, 2.0, 6.0, 2.0, 6.0, 2.0, 6.0]
    """
    t = _check_clip(x)[TIME_DIM]
    k = int(k)
    if mode not in SUBSAMPLE_MODES:
        raise ValueError(f"unknown subsample mode {mode!r}; choose from {SUBSAMPLE_MODES}")
    keep = keep_indices(t, k, offset)
    if k == t:
        return x
    if mode == "nearest":
        return hold(x, k, offset)[0]
    return x.index_select(TIME_DIM, keep[torch.arange(t) % k].to(x.device))


def occlude(
    x: torch.Tensor,
    start: int | None = None,
    width: int = 4,
    fill: str = "mean",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Temporal occlusion: frames ``start .. start + width - 1`` (clipped to ``T``) replaced.

    Args:
        x: ``(B, C, T, H, W)``.
        start: First occluded frame, ``0 <= start < T``; ``None`` draws it per clip, uniform over
            the starts whose window fits in the clip (``0 .. max(T - width, 0)``).
        width: Occluded frames, ``>= 1``.
        fill: ``"mean"``: a constant image of the clip's per-channel mean over time and space;
            ``"zero"``: black; ``"hold"``: the last frame before the window (the first after it
            when the window starts at frame 0).
        generator: Source of the random start.

    Returns:
        ``(B, C, T, H, W)``.

    Raises:
        IndexError: ``start`` outside ``0..T-1``.
        ValueError: Bad ``width`` or ``fill``, or ``"hold"`` with the whole clip occluded.

    >>> x = torch.arange(6.0).view(1, 1, 6, 1, 1)
    >>> occlude(x, start=1, width=2, fill="hold").flatten().tolist()
    [0.0, 0.0, 0.0, 3.0, 4.0, 5.0]
    """
    b, _, t, _, _ = _check_clip(x)
    width = int(width)
    if width < 1:
        raise ValueError(f"occlude width must be >= 1, got {width}")
    if fill not in OCCLUDE_FILLS:
        raise ValueError(f"unknown occlude fill {fill!r}; choose from {OCCLUDE_FILLS}")
    if start is None:
        starts = _randint(max(t - width, 0) + 1, (b,), generator, x.device)
    else:
        if not 0 <= int(start) < t:
            raise IndexError(f"occlude start {start} out of range for a clip of {t} frames")
        starts = torch.full((b,), int(start), dtype=torch.long, device=x.device)
    steps = torch.arange(t, device=x.device)
    hidden = (steps >= starts[:, None]) & (steps < starts[:, None] + width)  # (B, T)
    if fill == "zero":
        value = torch.zeros((), dtype=x.dtype, device=x.device)
    elif fill == "mean":
        value = x.mean(dim=(2, 3, 4), keepdim=True)
    else:
        after = starts + width
        if bool(((starts == 0) & (after >= t)).any()):
            raise ValueError(f"occlude fill 'hold': width {width} hides all {t} frames")
        held = torch.where(starts > 0, starts - 1, after)
        value = x[torch.arange(b, device=x.device), :, held].unsqueeze(TIME_DIM)
    return torch.where(hidden[:, None, :, None, None], value, x)


def warp_forward(
    image: torch.Tensor, flow: torch.Tensor, fill: torch.Tensor, wrap: bool = False
) -> torch.Tensor:
    """Forward nearest-neighbour splatting: the pixel at ``p`` moves to ``round(p + flow(p))``.

    Collisions are deterministic: of the sources landing on one target, the one with the largest
    linear index ``y * W + x`` wins (on any device, in any thread order). Targets nothing lands on
    (holes) take ``fill``. Rounding is half up (``floor(v + 0.5)``).

    Args:
        image: ``(B, C, H, W)``.
        flow: ``(B, 2, H, W)``, ``(dx, dy)`` in pixels (:mod:`motionprobe.flow`'s convention).
            Non-finite vectors move nothing.
        fill: ``(B, C, H, W)`` (or anything broadcasting to it).
        wrap: Targets outside the frame wrap around (a torus world) instead of being dropped.

    Returns:
        ``(B, C, H, W)``, ``image``'s dtype.

    >>> img = torch.tensor([[[[1.0, 2.0, 3.0]]]])
    >>> flow = torch.tensor([[[[1.0, 1.0, 1.0]], [[0.0, 0.0, 0.0]]]])
    >>> warp_forward(img, flow, torch.zeros_like(img)).flatten().tolist()
    [0.0, 1.0, 2.0]
    """
    b, c, h, w = image.shape
    if flow.shape != (b, 2, h, w):
        raise ValueError(f"flow must be {(b, 2, h, w)}, got {tuple(flow.shape)}")
    flow = flow.to(device=image.device, dtype=torch.float32)
    ys, xs = torch.meshgrid(
        torch.arange(h, device=image.device, dtype=torch.float32),
        torch.arange(w, device=image.device, dtype=torch.float32),
        indexing="ij",
    )
    finite = torch.isfinite(flow).all(dim=1)
    tx = torch.floor(xs + torch.nan_to_num(flow[:, 0]) + 0.5).long()
    ty = torch.floor(ys + torch.nan_to_num(flow[:, 1]) + 0.5).long()
    if wrap:
        tx, ty = tx % w, ty % h
        valid = finite
    else:
        valid = finite & (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
    # Dropped sources go to a spare slot at index H*W, discarded afterwards.
    target = torch.where(valid, ty * w + tx, h * w).view(b, h * w)
    source = torch.arange(h * w, device=image.device).expand(b, h * w)
    winner = torch.full((b, h * w + 1), -1, dtype=torch.long, device=image.device)
    winner = winner.scatter_reduce(1, target, source, reduce="amax", include_self=True)[:, :-1]
    moved = image.reshape(b, c, h * w).gather(2, winner.clamp(min=0)[:, None].expand(b, c, -1))
    hole = (winner < 0).view(b, 1, h, w)
    return torch.where(hole, fill.to(image), moved.view(b, c, h, w))


def appearance_free(
    x: torch.Tensor,
    flow: torch.Tensor | None = None,
    flow_method: str = "farneback",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Appearance-free video (Ilic, Pock & Wildes, ECCV 2022): noise moved by the clip's flow.

    One noise image per clip, i.i.d. uniform on ``[0, 255)`` per pixel and channel; frame 0 is
    the noise and frame ``t + 1`` is frame ``t`` splatted by flow field ``t``
    (:func:`warp_forward`), holes refilled from the same noise image. Any single frame is pure
    noise; the action shows only through motion.

    Args:
        x: ``(B, C, T, H, W)``.
        flow: ``(B, 2, T-1, H, W)`` or ``(B, 2, T, H, W)`` (the first ``T - 1`` fields are
            used), field ``t`` from frame ``t`` to ``t + 1`` in pixels. ``None``: computed per
            clip from ``x`` (rounded to uint8) with :func:`motionprobe.flow.compute_flow`.
        flow_method: Method for that (``farneback`` or ``tvl1``); ``x`` needs 1 or 3 channels.
        generator: Source of the noise.

    Returns:
        ``(B, C, T, H, W)``.
    """
    b, c, t, h, w = _check_clip(x)
    noise = _uniform((b, c, h, w), generator, x.device) * 255.0
    if t > 1 and flow is None:
        flow = clip_flow(x, flow_method)
    frames = [noise]
    if t > 1:
        fields = _check_flow(flow, x, "appearance_free flow")
        for step in range(t - 1):
            frames.append(warp_forward(frames[-1], fields[:, :, step], fill=noise))
    return torch.stack(frames, dim=TIME_DIM).to(x.dtype)


def inject_motion(
    x: torch.Tensor,
    index: int | str = "middle",
    translate: float = 0.1,
    rotate: float = 10.0,
    zoom: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Motion injection: one frame moved by a random, class-agnostic camera-like trajectory.

    Per clip, an end point is drawn: a shift ``(tx, ty)`` uniform in ``[-translate, translate]``
    (fractions of the frame's width and height), an angle uniform in ``[-rotate, rotate]``
    degrees and a log-zoom uniform in ``[-log(1 + zoom), log(1 + zoom)]``. The transform ramps
    linearly from the identity at frame 0 to that end point at frame ``T - 1`` (a smooth pan,
    roll and zoom about the centre); frames are resampled with ``affine_grid`` and
    ``grid_sample`` (bilinear, reflection padding, ``align_corners=False``). Identity steps are
    copied, so frame 0 equals the frozen frame exactly, and zero magnitudes give
    :func:`freeze`'s output exactly. Contrast with the frozen frame: the motion is real but
    carries no class information.

    Args:
        x: ``(B, C, T, H, W)``.
        index: The frame to move, as in :func:`freeze`.
        translate: Largest end-point shift, fraction of the frame size, ``>= 0``.
        rotate: Largest end-point angle in degrees, ``>= 0``.
        zoom: Largest end-point zoom factor minus 1, ``>= 0``.
        generator: Source of the trajectory (and of a random index).

    Returns:
        ``(B, C, T, H, W)``.
    """
    b, _, t, h, w = _check_clip(x)
    if min(translate, rotate, zoom) < 0:
        raise ValueError("inject_motion magnitudes translate, rotate and zoom must be >= 0")
    frame = _pick_frame(x, index, generator)
    u = _uniform((b, 4), generator, x.device) * 2 - 1  # (B, 4) in [-1, 1)
    ramp = torch.arange(t, device=x.device, dtype=torch.float32) / max(t - 1, 1)  # (T,)
    return _transform_frames(
        frame,
        angle=(u[:, 2:3] * math.radians(rotate)) * ramp,
        log_zoom=(u[:, 3:4] * math.log1p(zoom)) * ramp,
        dx=(u[:, 0:1] * translate * w) * ramp,
        dy=(u[:, 1:2] * translate * h) * ramp,
    ).contiguous()


def conflict(
    x: torch.Tensor,
    partner_flow: torch.Tensor,
    mode: str = "global",
    index: int | str = "middle",
    wrap: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Cue conflict: the appearance of clip ``x`` moved by the motion of another clip.

    The appearance is one frame of ``x`` (as in :func:`freeze`); the motion is the partner's
    flow (a clip of another class, paired by the caller).

    - ``"dense"``: frame 0 is the appearance frame, frame ``t + 1`` is frame ``t`` splatted by
      partner field ``t`` (:func:`warp_forward`, holes from the appearance frame). Only the
      region where the partner moved moves, which may miss the appearance source's object.
    - ``"global"``: per step the partner's dominant motion, the magnitude-weighted mean
      displacement ``sum |f| f / sum |f|`` (zero when the mean ``|f|`` is below 1e-3 px), is
      accumulated into a trajectory and the whole appearance frame is translated along it, so
      the appearance source's object always moves. Subpixel bilinear shifts with reflection
      padding, or with ``wrap=True`` integer ``torch.roll`` shifts of the rounded cumulative
      displacement (a torus world).

    Args:
        x: ``(B, C, T, H, W)``, the appearance sources.
        partner_flow: ``(B, 2, T-1, H, W)`` or ``(B, 2, T, H, W)`` (first ``T - 1`` used), pixels.
        mode: ``"global"`` or ``"dense"``.
        index: The appearance frame, as in :func:`freeze`.
        wrap: Wrap around the frame edges instead of dropping (dense) or reflecting (global).
        generator: Source of a random index.

    Returns:
        ``(B, C, T, H, W)``; zero partner flow gives :func:`freeze`'s output exactly.
    """
    b, c, t, h, w = _check_clip(x)
    if mode not in CONFLICT_MODES:
        raise ValueError(f"unknown conflict mode {mode!r}; choose from {CONFLICT_MODES}")
    frame = _pick_frame(x, index, generator)
    fields = _check_flow(partner_flow, x, "partner_flow")  # (B, 2, T-1, H, W)
    if mode == "dense":
        frames = [frame]
        for step in range(t - 1):
            frames.append(warp_forward(frames[-1], fields[:, :, step], fill=frame, wrap=wrap))
        return torch.stack(frames, dim=TIME_DIM)
    # hypot, not norm(dim=1): a CPU reduces a size-2 axis of large stride 60x slower.
    mag = torch.hypot(fields[:, 0], fields[:, 1])  # (B, T-1, H, W)
    total = mag.sum(dim=(2, 3))  # (B, T-1)
    still = total <= _STILL_FLOW * h * w
    mean = (mag.unsqueeze(1) * fields).sum(dim=(3, 4)) / total.clamp_min(1e-12).unsqueeze(1)
    mean = torch.where(still.unsqueeze(1), torch.zeros_like(mean), mean)  # (B, 2, T-1)
    path = torch.cat([mean.new_zeros(b, 2, 1), mean.cumsum(dim=2)], dim=2)  # (B, 2, T)
    if not wrap:
        zero = torch.zeros_like(path[:, 0])
        return _transform_frames(frame, zero, zero, path[:, 0], path[:, 1]).contiguous()
    shift = torch.floor(path + 0.5).long()  # (B, 2, T)
    rows = (torch.arange(h, device=x.device) - shift[:, 1, :, None]) % h  # (B, T, H)
    cols = (torch.arange(w, device=x.device) - shift[:, 0, :, None]) % w  # (B, T, W)
    batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    # Advanced indices around a slice put their (B, T, H, W) dims first: (B, T, H, W, C).
    rolled = frame[batch, :, rows[:, :, :, None], cols[:, :, None, :]]
    return rolled.permute(0, 4, 1, 2, 3).contiguous()


def motion_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between consecutive frames, per clip, in pixel units.

    Args:
        x: ``(B, C, T, H, W)``.

    Returns:
        ``(B,)`` float; 0 for a frozen clip (and for ``T == 1``).

    >>> motion_energy(torch.arange(4.0).view(1, 1, 4, 1, 1)).tolist()
    [1.0]
    """
    b, _, t, _, _ = _check_clip(x)
    if t < 2:
        return torch.zeros(b, device=x.device)
    return (x[:, :, 1:] - x[:, :, :-1]).abs().float().mean(dim=(1, 2, 3, 4))


@dataclass(frozen=True)
class Intervention:
    """An intervention and what the engine, the statistics and the report need to know of it.

    Calling it calls ``fn``. Register a new one with :func:`register_intervention`; the engine
    plans, runs and records it from these fields alone, and the statistics and the report read
    its rows like any other.

    Attributes:
        name: The spec name (``name:key=value:...``).
        fn: ``fn(x, ..., generator=None)`` on pixel-unit clips ``(B, C, T, H, W)``; ``None``
            when the engine supplies it (``generate`` needs the trained generator).
        random: Whether the output depends on the generator (then run once per seed).
        random_when: A parameter value that makes it random (``index="random"``).
        random_unless: A parameter that makes a random one deterministic when given
            (``occlude``'s ``start``).
        needs_flow: Takes ``flow=``, the clip's own flow (computed once per batch).
        needs_partner: Takes ``partner_flow=``, the flow of a clip of another class in the
            batch (the cue conflict); its rows record the partner.
        needs_generator: Needs the trained temporal generator (``generate=PATH``).
        select_param: The parameter frame selection varies (``index`` or ``offset``); ``None``
            when ``select=max|oracle`` does not apply.
        keeps_length: Whether the output keeps ``T`` frames (``single_frame`` returns one).
        fills: How a k-frame condition fills the clip (``held frames``, ``generator``), for
            the frames curve; ``None`` when it is not a k-frame condition.
    """

    name: str
    fn: Callable[..., torch.Tensor] | None
    random: bool = False
    random_when: tuple[str, str] | None = ("index", "random")
    random_unless: str | None = None
    needs_flow: bool = False
    needs_partner: bool = False
    needs_generator: bool = False
    select_param: str | None = None
    keeps_length: bool = True
    fills: str | None = None

    def __call__(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if self.fn is None:
            raise ValueError(f"{self.name}: has no function of its own (the engine supplies it)")
        return self.fn(x, *args, **kwargs)

    def check(self, params: dict, frames: int, spec: str) -> None:
        """Refuse (``ValueError``), before any clip is decoded, a parameter ``fn`` does not take
        or a value it rejects on a ``frames``-frame clip (a dry run on a blank clip)."""
        if self.fn is None:
            return
        names = inspect.signature(self.fn).parameters
        engine = {"x", "generator", "flow", "partner_flow"}
        unknown = [k for k in params if k not in names or k in engine]
        if unknown:
            takes = sorted(set(names) - engine)
            raise ValueError(
                f"{spec!r}: {self.name} has no parameter {unknown[0]!r}; it takes {takes}"
            )
        if self.needs_flow or self.needs_partner:
            return
        extra = {"generator": torch.Generator().manual_seed(0)} if "generator" in names else {}
        try:
            self.fn(torch.zeros(1, 3, frames, 4, 4), **params, **extra)
        except (ValueError, IndexError, TypeError, RuntimeError) as err:
            raise ValueError(f"{spec!r} on a {frames}-frame clip: {err}") from err

    @property
    def standalone(self) -> bool:
        """Callable on a clip alone (no partner, no generator network)."""
        return self.fn is not None and not self.needs_partner

    def is_random(self, params: dict | None = None) -> bool:
        """Whether it depends on the generator with these parameters."""
        params = params or {}
        if self.random_when is not None and params.get(self.random_when[0]) == self.random_when[1]:
            return True
        if self.random_unless is not None and params.get(self.random_unless) is not None:
            return False
        return self.random


#: Every registered intervention by name (:func:`register_intervention` adds one).
INTERVENTIONS: dict[str, Intervention] = {}


def register_intervention(intervention: Intervention) -> Intervention:
    """Add an intervention to :data:`INTERVENTIONS` (a name may be registered once)."""
    if intervention.name in INTERVENTIONS:
        raise ValueError(f"intervention {intervention.name!r} is already registered")
    if ":" in intervention.name or "=" in intervention.name:
        raise ValueError(f"{intervention.name!r}: a name may not contain ':' or '='")
    INTERVENTIONS[intervention.name] = intervention
    return intervention


def get_intervention(name: str) -> Intervention:
    """The registered intervention of a name or spec (the part before the first ``:``)."""
    name = name.split(":")[0]
    if name not in INTERVENTIONS:
        raise ValueError(f"unknown intervention {name!r}; choose from {sorted(INTERVENTIONS)}")
    return INTERVENTIONS[name]


for _intervention in (
    Intervention("clean", clean),
    Intervention("freeze", freeze, select_param="index", fills="held frames"),
    Intervention("single_frame", single_frame, select_param="index", keeps_length=False),
    Intervention("shuffle", shuffle, random=True),
    Intervention("reverse", reverse),
    Intervention("subsample", subsample, select_param="offset", fills="held frames"),
    Intervention("occlude", occlude, random=True, random_unless="start"),
    Intervention("appearance_free", appearance_free, random=True, needs_flow=True),
    Intervention("inject_motion", inject_motion, random=True, select_param="index"),
    Intervention("conflict", conflict, random=True, needs_partner=True),
    Intervention(
        "generate",
        None,
        random=True,
        needs_generator=True,
        select_param="offset",
        fills="generator",
    ),
):
    register_intervention(_intervention)


def is_random(name: str, params: dict | None = None) -> bool:
    """Whether an intervention with these parameters depends on the generator (run per seed).

    Args:
        name: Intervention name (a spec's part before the first ``:`` also works).
        params: Its parameters, as returned by :func:`parse`.

    >>> is_random("freeze"), is_random("freeze", {"index": "random"})
    (False, True)
    >>> is_random("occlude"), is_random("occlude", {"start": 2})
    (True, False)
    """
    return get_intervention(name).is_random(params)


def parse(spec: str) -> tuple[str, Intervention, dict]:
    """Parse ``name`` or ``name:key=value:key=value`` (values int, float or str; nothing evaluated).

    Args:
        spec: The specification.

    Returns:
        The label used in result tables (the spec itself), the intervention and its parameters.

    >>> parse("freeze:index=0")[0::2]
    ('freeze:index=0', {'index': 0})
    """
    name, *pairs = spec.strip().split(":")
    intervention = get_intervention(name)
    params: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ValueError(f"intervention parameter {pair!r} in {spec!r} is not key=value")
        for cast in (int, float):
            try:
                params[key] = cast(raw)
                break
            except ValueError:
                continue
        else:
            params[key] = raw
    return spec.strip(), intervention, params
