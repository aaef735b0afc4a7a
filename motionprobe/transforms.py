"""Pure tensor functions: layout, resize/crop, and the normalisation presets of the models.

Clips stay in pixel units (float32, 0..255) until the model's preset normalises them right before
the forward pass, so interventions and flow act on pixels, never on normalised values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from motionprobe.types import TIME_DIM


def to_model_layout(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Decoded frames to the model layout, in pixel units.

    With :func:`planar` (uint8 clips), the only place that turns THWC into CTHW.

    Args:
        frames: uint8 ``(T, H, W, 3)`` or a batch ``(B, T, H, W, 3)``, RGB.

    Returns:
        float32 ``(3, T, H, W)`` or ``(B, 3, T, H, W)`` with values in 0..255.

    >>> to_model_layout(np.zeros((8, 4, 5, 3), dtype=np.uint8)).shape
    torch.Size([3, 8, 4, 5])
    """
    x = torch.as_tensor(frames)
    if x.ndim == 4:
        return x.permute(3, 0, 1, 2).float()
    if x.ndim == 5:
        return x.permute(0, 4, 1, 2, 3).float()
    raise ValueError(f"expected (T, H, W, 3) or (B, T, H, W, 3) frames, got shape {tuple(x.shape)}")


def to_frames(x: torch.Tensor) -> np.ndarray:
    """Pixel-unit clips back to decoded frames: the inverse of :func:`to_model_layout`.

    Args:
        x: float ``(3, T, H, W)`` or ``(B, 3, T, H, W)`` in 0..255 (values are rounded and clamped).

    Returns:
        uint8 ``(T, H, W, 3)`` or ``(B, T, H, W, 3)`` numpy array (what OpenCV and writers take).

    >>> to_frames(torch.zeros(3, 8, 4, 5)).shape
    (8, 4, 5, 3)
    """
    if x.ndim not in (4, 5):
        raise ValueError(f"expected (3, T, H, W) or (B, 3, T, H, W), got shape {tuple(x.shape)}")
    order = (1, 2, 3, 0) if x.ndim == 4 else (0, 2, 3, 4, 1)
    frames = x.detach().float().round().clamp(0, 255).to(torch.uint8).permute(*order)
    return np.ascontiguousarray(frames.cpu().numpy())


def resize_short_side(clip: torch.Tensor, short_side: int) -> torch.Tensor:
    """Resize ``(C, T, H, W)`` so that ``min(H, W) == short_side``, keeping the aspect ratio."""
    h, w = clip.shape[-2:]
    if min(h, w) == short_side:
        return clip
    size = short_side_size(h, w, short_side)
    # Frames of one clip are resized together: time is the batch dimension of interpolate.
    out = F.interpolate(clip.transpose(0, 1), size=size, mode="bilinear", antialias=True)
    return out.transpose(0, 1)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize flow ``(2, T, h, w)`` to ``size = (H, W)``, scaling dx by W / w and dy by H / h.

    Displacements are lengths in pixels, so they grow with the image.
    """
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    out = F.interpolate(flow.transpose(0, 1), size=tuple(size), mode="bilinear", antialias=True)
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=out.dtype).view(1, 2, 1, 1)
    return (out * scale).transpose(0, 1)


def flip_flow(flow: torch.Tensor) -> torch.Tensor:
    """Mirror flow ``(2, ..., W)`` left-right: the field flips and dx changes sign."""
    out = flow.flip(-1)
    return torch.cat([-out[:1], out[1:]])


def short_side_size(h: int, w: int, short_side: int) -> tuple[int, int]:
    """``(H, W)`` with ``min(H, W) == short_side`` and the aspect ratio kept."""
    scale = short_side / min(h, w)
    return max(short_side, round(h * scale)), max(short_side, round(w * scale))


def crop(clip: torch.Tensor, size: int, top: int, left: int) -> torch.Tensor:
    """Crop ``(..., H, W)`` to ``(..., size, size)`` at ``(top, left)``."""
    return clip[..., top : top + size, left : left + size]


def planar(clip: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """A contiguous copy of a clip ``(3, T, H, W)``, written into ``out`` when given.

    A uint8 clip whose memory still interleaves the channels (a permuted ``(T, H, W, 3)``
    frame array, as decoded) is split frame by frame with OpenCV, about 4x faster than a strided
    copy: for a 64-frame 224 crop, 6 ms against 24 ms, an eighth of the clip's decoding time.
    With ``out`` (contiguous, the clip's shape and dtype) the planes land there directly, so a
    batch is built with one copy of each clip.

    >>> frames = torch.arange(24, dtype=torch.uint8).reshape(1, 2, 4, 3)  # (T, H, W, 3)
    >>> torch.equal(planar(frames.permute(3, 0, 1, 2)), frames.permute(3, 0, 1, 2).contiguous())
    True
    """
    if out is not None and (
        out.shape != clip.shape or out.dtype != clip.dtype or not out.is_contiguous()
    ):
        raise ValueError(f"planar: out {tuple(out.shape)} {out.dtype} cannot hold the clip")
    if clip.dtype != torch.uint8 or clip.shape[0] != 3 or clip.stride(0) != 1:
        return clip.contiguous() if out is None else out.copy_(clip)
    if out is None:
        out = torch.empty(tuple(clip.shape), dtype=torch.uint8)
    planes = out.numpy()
    for t, frame in enumerate(clip.permute(1, 2, 3, 0).numpy()):  # (H, W, 3) views
        cv2.split(frame, [planes[0, t], planes[1, t], planes[2, t]])
    return out


def center_crop(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Central ``size x size`` crop of ``(..., H, W)``."""
    h, w = clip.shape[-2:]
    return crop(clip, size, (h - size) // 2, (w - size) // 2)


@dataclass(frozen=True)
class Preset:
    """How a model wants its clips: resize, crop, normalisation. Stored in every checkpoint.

    Attributes:
        name: Preset family (``c3d``, ``i3d_rgb``, ``imagenet``, ``flow``).
        mean: Per-channel mean subtracted, in pixel units (0..255 for RGB, pixels of
            displacement for flow).
        std: Per-channel divisor, in the same units.
        short_side: Frames are resized so that their short side has this length.
        crop: Side of the square crop fed to the model.
        clip: Values are clamped to ``[-clip, clip]`` before normalising (flow), or not (None).
        size: ``(H, W)`` every frame is resized to instead, whatever its aspect (torchvision's
            R3D family: 128 x 171).
        convention: ``motionprobe`` (resize in float, centre crop offsets rounded down) or
            ``torchvision`` (what its video weights' transforms do: resize the uint8 frames
            without antialiasing, offsets rounded), so a model is fed exactly what it was
            evaluated on.
    """

    name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    short_side: int
    crop: int
    clip: float | None = None
    size: tuple[int, int] | None = None
    convention: str = "motionprobe"

    def resized_size(self, h: int, w: int) -> tuple[int, int]:
        """``(H, W)`` frames of ``(h, w)`` are resized to before cropping."""
        if self.size:
            return int(self.size[0]), int(self.size[1])
        if self.convention == "torchvision":  # its rule: the long side is truncated
            short, long = min(h, w), max(h, w)
            new_long = int(self.short_side * long / short)
            return (self.short_side, new_long) if h <= w else (new_long, self.short_side)
        return short_side_size(h, w, self.short_side)

    def resize(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Decoded uint8 frames ``(T, H, W, 3)`` to resized pixel units ``(3, T, H', W')``."""
        x = self.resize_uint8(frames)
        if x is not None:
            return x.float()
        size = self.resized_size(*frames.shape[1:3])
        x = to_model_layout(frames)
        out = F.interpolate(x.transpose(0, 1), size=size, mode="bilinear", antialias=True)
        return out.transpose(0, 1)

    def resize_uint8(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor | None:
        """:meth:`resize` kept in uint8, where its values are integers: frames already at the
        resized size, or the ``torchvision`` convention (which resizes uint8 frames).

        Args:
            frames: uint8 ``(T, H, W, 3)``.

        Returns:
            A uint8 view or tensor ``(3, T, H', W')`` equal to :meth:`resize`'s values, or None
            where resizing needs float pixels (``motionprobe`` convention at another size).
        """
        size = self.resized_size(*frames.shape[1:3])
        x = torch.as_tensor(frames).permute(0, 3, 1, 2)  # uint8 (T, 3, H, W), a view
        if tuple(x.shape[-2:]) != size:
            if self.convention != "torchvision":
                return None
            # Its video transforms resize without antialiasing, as the weights were trained.
            # Imported here: torchvision costs 3.5 s of start-up, for this one convention.
            import torchvision.transforms.functional as tvf

            x = tvf.resize(x, list(size), tvf.InterpolationMode.BILINEAR, antialias=False)
        return x.permute(1, 0, 2, 3)

    def centre(self, h: int, w: int) -> tuple[int, int]:
        """``(top, left)`` of the centre crop of an ``(h, w)`` frame."""
        if self.convention == "torchvision":
            return int(round((h - self.crop) / 2.0)), int(round((w - self.crop) / 2.0))
        return (h - self.crop) // 2, (w - self.crop) // 2

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a pixel-unit batch ``(B, C, T, H, W)`` (or clip ``(C, T, H, W)``).

        A uint8 batch (a loader's ``uint8`` clips) becomes float32 first, on its own device, so
        it crosses to the GPU at a quarter of the bytes; the result is the float batch's.
        """
        if not x.is_floating_point():
            x = x.float()
        if self.clip is not None:
            x = x.clamp(-self.clip, self.clip)
        shape = (-1, 1, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return (x - mean) / std

    def to_dict(self) -> dict:
        """Plain dict (lists and numbers) for checkpoints and configs."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> Preset:
        """Inverse of :meth:`to_dict` (also of dicts written before ``size`` existed)."""
        clip, size = d.get("clip"), d.get("size")
        return cls(
            d["name"],
            tuple(d["mean"]),
            tuple(d["std"]),
            int(d["short_side"]),
            int(d["crop"]),
            None if clip is None else float(clip),
            None if size is None else (int(size[0]), int(size[1])),
            d.get("convention", "motionprobe"),
        )


def preset(name: str, crop: int | None = None, short_side: int | None = None) -> Preset:
    """A named preset, optionally at another input size.

    ``c3d``: resize to short side 128, crop 112, subtract per-channel means (approximately those
    of the Sports-1M mean clip; C3D does not divide by a std). ``i3d_rgb``: rescale to [-1, 1],
    224 crop of a 256 short side. ``imagenet``: ImageNet mean/std, 224 crop of 256. ``flow``: I3D's
    flow input, (dx, dy) in pixels clamped to +-20 and divided by 20 into [-1, 1]. ``c3d_port``:
    what the C3D Sports-1M PyTorch port is fed (RGB 0..255, short side 112, no mean). With ``crop``
    given and no ``short_side``, the short side keeps the preset's ratio to the crop (128/112
    for C3D).

    >>> preset("c3d").crop, preset("c3d", crop=64).short_side
    (112, 73)
    """
    base = {
        "c3d": Preset("c3d", (90.25, 97.66, 101.41), (1.0, 1.0, 1.0), 128, 112),
        "i3d_rgb": Preset("i3d_rgb", (127.5, 127.5, 127.5), (127.5, 127.5, 127.5), 256, 224),
        "imagenet": Preset(
            "imagenet", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), 256, 224
        ),
        "flow": Preset("flow", (0.0, 0.0), (20.0, 20.0), 256, 224, clip=20.0),
        "c3d_port": Preset("c3d_port", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 112, 112),
    }
    if name not in base:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(base)}")
    p = base[name]
    if crop is None and short_side is None:
        return p
    new_crop = crop or p.crop
    new_short = short_side or round(new_crop * p.short_side / p.crop)
    if new_short < new_crop:
        raise ValueError(f"short side {new_short} is smaller than the crop {new_crop}")
    return Preset(p.name, p.mean, p.std, new_short, new_crop, p.clip)


def torchvision_preset(weights: object, name: str) -> Preset:
    """The preset of a torchvision video weights enum member, read off its own transforms.

    Its mean and std (in 0..1 units) become pixel units; its resize is a short side (one
    number) or a fixed ``(H, W)`` (two); crops are square.
    """
    t = weights.transforms()
    resize = list(t.resize_size)
    crop = list(t.crop_size)
    if crop[0] != crop[-1]:
        raise ValueError(f"{name}: non-square crop {crop} is not supported")
    return Preset(
        name,
        tuple(255.0 * m for m in t.mean),
        tuple(255.0 * s for s in t.std),
        int(min(resize)),
        int(crop[0]),
        size=(int(resize[0]), int(resize[1])) if len(resize) == 2 else None,
        convention="torchvision",
    )


class ClipTransform:
    """Decoded frames to a model-sized clip in pixel units (normalisation happens later, batched).

    Args:
        preset: Sizes to apply.
        train: Random crop (and flip if ``flip``) instead of the centre crop.
        flip: Random horizontal flips when training. Off by default: a flip turns ``move_left``
            into ``move_right``, so it is wrong for direction-defined classes.
        seed: Seed of the random crops.

    In evaluation, ``view = (k, n)`` picks crop ``k`` of ``n`` spread evenly along the long side
    (``(0, 1)``: the centre crop). Call it with uint8 ``(T, H, W, 3)``; it returns float32
    ``(3, T, crop, crop)``, or with ``uint8`` the same values as uint8 where resizing keeps them
    integers (:meth:`Preset.resize_uint8`; float32 elsewhere), a quarter of the bytes to move
    between processes and to the GPU, which :meth:`Preset.normalize` accepts (a uint8 clip that
    is not flipped comes as a view of the decoded frames, which :func:`planar` makes contiguous,
    as the collate does; every other clip is contiguous). Called with
    ``(frames, flow)`` (flow float32 ``(2, T, h, w)`` in pixels, at any resolution; ``frames`` may
    be None for flow alone) it returns ``(clip, flow_clip)``: the flow is resized to the frames'
    resized size (displacements scaled with it), and one crop and one flip apply to both, the
    flip negating dx.
    """

    def __init__(
        self,
        preset: Preset,
        train: bool = False,
        flip: bool = False,
        seed: int = 0,
        uint8: bool = False,
    ):
        self.preset = preset
        self.train = train
        self.flip = flip
        self.uint8 = uint8
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.view = (0, 1)

    def __call__(self, frames: np.ndarray | None, flow: np.ndarray | None = None):
        rgb = None
        if frames is not None:
            # Cropped while still uint8 where possible: converting the whole 340x256 frame to
            # float and then cropping took about as long as decoding the clip.
            rgb = self.preset.resize_uint8(frames)
            if rgb is None:
                rgb = self.preset.resize(frames)
        if flow is not None:
            flow = torch.as_tensor(flow, dtype=torch.float32)
            size = rgb.shape[-2:] if rgb is not None else self.preset.resized_size(*flow.shape[-2:])
            flow = resize_flow(flow, tuple(size))
        ref = rgb if rgb is not None else flow
        size = self.preset.crop
        h, w = ref.shape[-2:]
        if self.train:
            top = int(self.rng.integers(0, h - size + 1))
            left = int(self.rng.integers(0, w - size + 1))
            mirror = self.flip and self.rng.random() < 0.5
        else:
            (top, left), mirror = self.preset.centre(h, w), False
            k, n = self.view
            if n > 1:  # views spread along the long side, centred on the short one
                if w >= h:
                    left = round(k * (w - size) / (n - 1))
                else:
                    top = round(k * (h - size) / (n - 1))
        if rgb is not None:
            rgb = crop(rgb, size, top, left)
            if not self.uint8:
                rgb = rgb.contiguous().float()
            elif mirror or rgb.dtype != torch.uint8:  # flipped uint8 planes: split first (fast)
                rgb = planar(rgb)
            # Otherwise a uint8 crop stays a view of the decoded frames (which it keeps alive
            # until the collate): the collate writes its planes straight into the batch, one
            # copy of the clip instead of two.
            rgb = rgb.flip(-1) if mirror else rgb
        if flow is None:
            return rgb
        flow = crop(flow, size, top, left)
        return rgb, (flip_flow(flow) if mirror else flow).contiguous()


__all__ = [
    "TIME_DIM",
    "ClipTransform",
    "Preset",
    "center_crop",
    "crop",
    "flip_flow",
    "planar",
    "preset",
    "torchvision_preset",
    "resize_flow",
    "resize_short_side",
    "to_frames",
    "to_model_layout",
]
