"""Blocks shared by the model families: classifier base, SAME-padded units, Inception-V1.

One Inception-V1 serves every family: ``dims=3`` is I3D (Carreira & Zisserman, 2017), ``dims=2``
the 2-D Inception-V1 with BatchNorm behind the two-stream, ConvNet+LSTM and 3D-Fused baselines of
the same paper. Padding follows TensorFlow's "SAME" rule computed from the input size at run time,
so any input size works and published TensorFlow-trained weights see the borders they were
trained with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from motionprobe.transforms import Preset

#: Channels of an input kind.
INPUT_CHANNELS = {"rgb": 3, "flow": 2}

#: Inception-V1 mixed blocks: name -> (b0 1x1, b1 1x1 reduce, b1 3x3, b2 1x1 reduce, b2 3x3, b3 pool
#: proj). Branch 2 uses a 3x3 kernel, as TF-slim's Inception-V1 and I3D do (not GoogLeNet's 5x5).
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


class VideoClassifier(nn.Module):
    """Base of every model: what it takes and how to normalise it.

    Attributes:
        inputs: Names of the positional inputs of ``forward``, each ``rgb`` (3 channels) or
            ``flow`` (2 channels, dx and dy in pixels), all ``(B, C, T, H, W)`` aligned in time.
        presets: Normalisation preset per input name.
        frames: Clip length T at the paper's setting.
        head: Parameter-name prefixes of the final classifier layer(s), replaced when weights
            are loaded for another class count.
    """

    inputs: tuple[str, ...] = ("rgb",)
    head: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.presets: dict[str, Preset] = {}
        self.frames = 16

    @property
    def preset(self) -> Preset:
        """Preset of the first input (the only one for single-input models)."""
        return self.presets[self.inputs[0]]

    @preset.setter
    def preset(self, value: Preset) -> None:
        self.presets[self.inputs[0]] = value

    def normalize(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Normalise pixel-unit inputs ``(B, C, T, H, W)``, one per name in :attr:`inputs`."""
        if len(xs) != len(self.inputs):
            raise ValueError(f"expected inputs {self.inputs}, got {len(xs)} tensors")
        return tuple(self.presets[n].normalize(x) for n, x in zip(self.inputs, xs, strict=True))

    def example_inputs(self, batch: int = 1, frames: int | None = None, size: int | None = None):
        """Random normalised inputs at the model's (or the given) size, one per input name."""
        t = frames or self.frames
        return tuple(
            torch.randn(
                batch,
                INPUT_CHANNELS[n],
                t,
                size or self.presets[n].crop,
                size or self.presets[n].crop,
            )
            for n in self.inputs
        )


def _tuple(v: int | Sequence[int], dims: int) -> tuple[int, ...]:
    return (v,) * dims if isinstance(v, int) else tuple(v)


def same_padding(shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int]) -> list[int]:
    """TensorFlow "SAME" padding for ``F.pad``: output size ``ceil(n / s)`` per dimension.

    Returns pads last dimension first, the smaller half in front, as TensorFlow does.

    >>> same_padding((7,), (3,), (2,))
    [1, 1]
    >>> same_padding((8,), (3,), (2,))
    [0, 1]
    """
    pads: list[int] = []
    for n, k, s in zip(reversed(shape), reversed(kernel), reversed(stride), strict=True):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


def ch(c: int, width: float) -> int:
    """A channel count scaled by a width multiplier (at least 1)."""
    return max(1, round(c * width))


class Unit(nn.Module):
    """Convolution, BatchNorm (eps 1e-3, TF's momentum 0.01) and ReLU, with SAME padding.

    Input ``(B, cin, *S)`` with ``len(S) == dims``; output ``(B, cout, *ceil(S / stride))``.
    """

    def __init__(
        self,
        dims: int,
        cin: int,
        cout: int,
        kernel: int | Sequence[int] = 1,
        stride: int | Sequence[int] = 1,
        norm: bool = True,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.kernel, self.stride = _tuple(kernel, dims), _tuple(stride, dims)
        conv = nn.Conv3d if dims == 3 else nn.Conv2d
        # At stride 1 an odd kernel's SAME padding is symmetric and independent of the input
        # size: the convolution pads itself, without a padded copy of its input (1x1 units, most
        # of an Inception block, pad nothing at all).
        self.fixed = all(s == 1 for s in self.stride) and all(k % 2 for k in self.kernel)
        padding = tuple(k // 2 for k in self.kernel) if self.fixed else 0
        self.conv = conv(cin, cout, self.kernel, self.stride, padding=padding, bias=not norm)
        self.bn = (
            (nn.BatchNorm3d if dims == 3 else nn.BatchNorm2d)(cout, 1e-3, 0.01) if norm else None
        )
        self.relu = nn.ReLU() if act else None
        # He initialisation keeps the activation scale through ~60 layers even in eval mode (where
        # fresh BatchNorm is the identity); PyTorch's default shrinks it about 3x per layer.
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu" if act else "linear")

    def fold_batchnorm(self) -> bool:
        """Fold the BatchNorm (as in eval mode) into the convolution, for inference copies
        (:func:`motionprobe.device.for_inference`); the ReLU then runs in place on the fresh
        convolution output. Returns whether there was a BatchNorm to fold."""
        if self.bn is None or not self.bn.track_running_stats:
            return False
        self.conv, self.bn = fuse_conv_bn_eval(self.conv.eval(), self.bn.eval()), None
        if self.relu is not None:
            self.relu = nn.ReLU(inplace=True)
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fixed:
            x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride))
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x) if self.relu is not None else x


class MaxPoolSame(nn.Module):
    """Max-pool with TensorFlow's SAME output size, ``ceil(n / stride)``.

    The front half of the pad is the pool's own implicit padding and the rest comes from
    ``ceil_mode``, so padded positions are ignored as in TensorFlow. (The I3D port pads with
    zeros, which gives the same values here because every pool follows a ReLU.)

    The pool is functional on purpose: Captum's DeepLift rewrites ``nn.MaxPool`` modules with a
    tensor hook on their input, which is wrong when that input also feeds other branches (every
    Inception block) or another pool; with a functional pool DeepLift passes the max-pool's
    gradient and its attributions sum exactly to the logit difference (tested).
    """

    def __init__(self, dims: int, kernel: int | Sequence[int], stride: int | Sequence[int]) -> None:
        super().__init__()
        self.kernel, self.stride = _tuple(kernel, dims), _tuple(stride, dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        front = same_padding(x.shape[2:], self.kernel, self.stride)[::2][::-1]
        pool = F.max_pool3d if x.ndim == 5 else F.max_pool2d
        return pool(x, self.kernel, self.stride, tuple(front), ceil_mode=True)


class InceptionBlock(nn.Module):
    """Four branches concatenated on channels: 1x1; 1x1-3x3; 1x1-3x3; 3x3 max-pool-1x1.

    Module names (``b0``, ``b1a``, ``b1b``, ``b2a``, ``b2b``, ``b3a``, ``b3b``) follow the I3D port
    so its weights map one to one.
    """

    def __init__(self, dims: int, cin: int, widths: Sequence[int]) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = widths
        self.b0 = Unit(dims, cin, c0)
        self.b1a = Unit(dims, cin, c1a)
        self.b1b = Unit(dims, c1a, c1b, kernel=3)
        self.b2a = Unit(dims, cin, c2a)
        self.b2b = Unit(dims, c2a, c2b, kernel=3)
        self.b3a = MaxPoolSame(dims, 3, 1)
        self.b3b = Unit(dims, cin, c3)
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1
        )


class Logits(nn.Module):
    """Average pool (VALID, stride 1), dropout, 1x1 convolution, then the mean over positions.

    The pool kernel is (2, 7, 7) for I3D and (7, 7) for 2-D, clamped to the feature map so small
    inputs work. Averaging per-position logits is what I3D does over time; at the paper's input
    size there is one spatial position.
    """

    def __init__(self, dims: int, cin: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.kernel = (2, 7, 7) if dims == 3 else (7, 7)
        self.pool = F.avg_pool3d if dims == 3 else F.avg_pool2d
        self.dropout = nn.Dropout(dropout)
        self.conv = (nn.Conv3d if dims == 3 else nn.Conv2d)(cin, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = tuple(min(k, n) for k, n in zip(self.kernel, x.shape[2:], strict=True))
        x = self.conv(self.dropout(self.pool(x, kernel, stride=1)))
        return x.flatten(2).mean(2)


class Inception(VideoClassifier):
    """Inception-V1 with BatchNorm, 2-D or inflated to 3-D, with named endpoints.

    Endpoints are child modules in order (``Conv3d_1a_7x7``, ``MaxPool3d_2a_3x3``, ...,
    ``Mixed_5c``, ``Logits``; ``Conv2d_...``/``MaxPool2d_...`` in 2-D), so a caller can hook any
    of them (Captum layer methods) or read them with :meth:`forward_features`.

    Args:
        dims: 3 for I3D (input ``(B, C, T, H, W)``), 2 for frames (input ``(B, C, H, W)``).
        in_channels: Input channels (3 RGB, 2 flow, 2L stacked flow).
        num_classes: Logits; ``None`` builds no ``Logits`` endpoint (a feature extractor).
        width: Channel multiplier (1 = the paper's).
        final_endpoint: Last endpoint built (a depth knob, as in the I3D port).
        dropout: Drop probability before the logits.
    """

    def __init__(
        self,
        dims: int,
        in_channels: int,
        num_classes: int | None,
        width: float = 1.0,
        final_endpoint: str = "Mixed_5c",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.dims = dims
        d = f"{dims}d"
        # I3D keeps time in the first two pools (stride 1 in time) and strides it later.
        t = (lambda k: k) if dims == 3 else (lambda k: k[1:])
        layout: list[tuple[str, object]] = [
            (f"Conv{d}_1a_7x7", ("unit", 64, 7, 2)),
            (f"MaxPool{d}_2a_3x3", ("pool", t((1, 3, 3)), t((1, 2, 2)))),
            (f"Conv{d}_2b_1x1", ("unit", 64, 1, 1)),
            (f"Conv{d}_2c_3x3", ("unit", 192, 3, 1)),
            (f"MaxPool{d}_3a_3x3", ("pool", t((1, 3, 3)), t((1, 2, 2)))),
            ("Mixed_3b", None),
            ("Mixed_3c", None),
            (f"MaxPool{d}_4a_3x3", ("pool", t((3, 3, 3)), t((2, 2, 2)))),
            ("Mixed_4b", None),
            ("Mixed_4c", None),
            ("Mixed_4d", None),
            ("Mixed_4e", None),
            ("Mixed_4f", None),
            (f"MaxPool{d}_5a_2x2", ("pool", t((2, 2, 2)), t((2, 2, 2)))),
            ("Mixed_5b", None),
            ("Mixed_5c", None),
        ]
        names = [n for n, _ in layout]
        if final_endpoint not in names:
            raise ValueError(f"final_endpoint {final_endpoint!r} is not one of {names}")
        self.endpoints: list[str] = []
        cin = in_channels
        for name, spec in layout[: names.index(final_endpoint) + 1]:
            if spec is None:
                module = InceptionBlock(dims, cin, [ch(c, width) for c in MIXED[name]])
                cin = module.out_channels
            elif spec[0] == "unit":
                _, cout, k, s = spec
                module, cin = Unit(dims, cin, ch(cout, width), k, s), ch(cout, width)
            else:
                module = MaxPoolSame(dims, spec[1], spec[2])
            self.add_module(name, module)
            self.endpoints.append(name)
        self.out_channels = cin
        if num_classes is not None:
            self.Logits = Logits(dims, cin, num_classes, dropout)
            self.endpoints.append("Logits")
            self.head = ("Logits.conv",)

    def forward_features(
        self, x: torch.Tensor, endpoints: Sequence[str] = ("Mixed_5c",)
    ) -> dict[str, torch.Tensor]:
        """Outputs of the named endpoints, computing only as far as the last one asked for."""
        unknown = set(endpoints) - set(self.endpoints)
        if unknown:
            raise ValueError(f"unknown endpoints {sorted(unknown)}; choose from {self.endpoints}")
        out = {}
        last = max(self.endpoints.index(e) for e in endpoints)
        for name in self.endpoints[: last + 1]:
            x = getattr(self, name)(x)
            if name in endpoints:
                out[name] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)``, or the last endpoint's features without a head."""
        for name in self.endpoints:
            x = getattr(self, name)(x)
        return x


def frames_at(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Frames of a clip batch at per-clip time indices.

    Args:
        x: ``(B, C, T, H, W)``.
        index: Long ``(B, n)`` time indices.

    Returns:
        ``(B, n, C, H, W)`` (differentiable with respect to ``x``).
    """
    b = torch.arange(x.shape[0], device=x.device)[:, None]
    return x.transpose(1, 2)[b, index]


def flow_stacks(flow: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """Stacks of ``length`` consecutive flow fields, x and y interleaved (docs/design.md).

    Args:
        flow: ``(B, 2, T, H, W)``.
        starts: Long ``(B, n)`` first time index of each stack.
        length: Fields per stack, L.

    Returns:
        ``(B, n, 2L, H, W)`` with channels ``dx_0, dy_0, dx_1, dy_1, ...``.
    """
    b, n = starts.shape
    index = starts[..., None] + torch.arange(length, device=flow.device)  # (B, n, L)
    fields = frames_at(flow, index.reshape(b, n * length))  # (B, nL, 2, H, W)
    return fields.reshape(b, n, 2 * length, *flow.shape[-2:])


def fuse(a: torch.Tensor, b: torch.Tensor, fusion: str) -> torch.Tensor:
    """Late fusion of two streams' logits ``(B, K)``: ``logits`` sums them, ``softmax`` returns the
    log of the averaged softmax scores (a logit vector whose softmax is that average)."""
    if fusion == "logits":
        return a + b
    if fusion == "softmax":
        both = torch.stack([a.log_softmax(1), b.log_softmax(1)])
        return torch.logsumexp(both, 0) - math.log(2)
    raise ValueError(f"fusion must be 'logits' or 'softmax', got {fusion!r}")
