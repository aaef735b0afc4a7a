"""I3D (Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017).

Inception-V1 inflated to 3-D: a 7x7x7 stride-2 stem, no temporal stride in the first two max-pools,
Mixed_3b to Mixed_5c, a 2x7x7 average pool, dropout, 1x1x1 convolution logits averaged over the
remaining time steps. Trained on 64x224x224 clips; any T >= 8 and H, W >= 32 work. The RGB stream
takes ``x / 127.5 - 1``, the flow stream TV-L1 (dx, dy) clipped to +-20 px and scaled to [-1, 1];
the two streams are trained separately and fused late.
"""

from __future__ import annotations

import torch

from motionprobe.models.layers import Inception, VideoClassifier, fuse
from motionprobe.models.registry import register_model
from motionprobe.transforms import preset

#: Tiny variants: 1/8 of the channels at 16x32x32, resized whole.
TINY = dict(width=0.125, frames=16, size=32, short_side=32)


class I3D(Inception):
    """One I3D stream: ``forward(x)`` with ``x`` ``(B, C, T, H, W)`` -> logits ``(B, num_classes)``.

    Args:
        num_classes: Logits.
        modality: ``rgb`` (3 channels) or ``flow`` (2 channels).
        width: Channel multiplier (1 = the paper's).
        final_endpoint: Last Inception endpoint (depth knob).
        dropout: Drop probability before the logits (the released model: 0.5 in training).
        frames: Clip length T of the paper's setting (64).
        size: Crop side (224).
        short_side: Resize target before the crop (256 at full size).
    """

    def __init__(
        self,
        num_classes: int,
        modality: str = "rgb",
        width: float = 1.0,
        final_endpoint: str = "Mixed_5c",
        dropout: float = 0.5,
        frames: int = 64,
        size: int = 224,
        short_side: int | None = None,
    ) -> None:
        if modality not in ("rgb", "flow"):
            raise ValueError(f"modality must be 'rgb' or 'flow', got {modality!r}")
        super().__init__(
            3, 3 if modality == "rgb" else 2, num_classes, width, final_endpoint, dropout
        )
        self.inputs = (modality,)
        self.presets = {
            modality: preset("i3d_rgb" if modality == "rgb" else "flow", size, short_side)
        }
        self.frames = frames


class I3DTwoStream(VideoClassifier):
    """RGB and flow I3Ds fused late: ``forward(rgb, flow)`` -> ``(B, num_classes)``.

    Args:
        num_classes: Logits.
        fusion: ``logits`` sums the two streams' logits, as the released models do; ``softmax``
            averages their softmax scores and returns the log of the average, which is a valid
            logit vector (its softmax is the averaged probabilities).
        **kwargs: Passed to both :class:`I3D` streams.

    Inputs are aligned in time: ``rgb`` ``(B, 3, T, H, W)`` and ``flow`` ``(B, 2, T, H, W)``.
    """

    inputs = ("rgb", "flow")
    head = ("rgb.Logits.conv", "flow.Logits.conv")
    #: ``forward(..., stream="rgb" | "flow")`` returns one stream's logits (probing a stream alone).
    separable = True

    def __init__(self, num_classes: int, fusion: str = "logits", **kwargs) -> None:
        super().__init__()
        fuse(torch.zeros(1, 1), torch.zeros(1, 1), fusion)  # validates the name early
        self.fusion = fusion
        self.rgb = I3D(num_classes, "rgb", **kwargs)
        self.flow = I3D(num_classes, "flow", **kwargs)
        self.presets = {**self.rgb.presets, **self.flow.presets}
        self.frames = self.rgb.frames

    def forward(
        self, rgb: torch.Tensor | None, flow: torch.Tensor | None, stream: str = "both"
    ) -> torch.Tensor:
        """Fused logits ``(B, num_classes)``; ``stream="rgb"``/``"flow"``: that stream's alone
        (the other input may then be None)."""
        if stream == "rgb":
            return self.rgb(rgb)
        if stream == "flow":
            return self.flow(flow)
        return fuse(self.rgb(rgb), self.flow(flow), self.fusion)


@register_model
def i3d_rgb(num_classes: int, **kwargs) -> I3D:
    """RGB I3D at the paper's size (12.3 M parameters with 400 classes), 64x224x224 input."""
    return I3D(num_classes, "rgb", **kwargs)


@register_model
def i3d_rgb_tiny(num_classes: int, **kwargs) -> I3D:
    """RGB I3D with 1/8 of the channels, 16x32x32 input."""
    return I3D(num_classes, "rgb", **{**TINY, **kwargs})


@register_model
def i3d_flow(num_classes: int, **kwargs) -> I3D:
    """Flow I3D at the paper's size: 2-channel (dx, dy) input, 64x224x224."""
    return I3D(num_classes, "flow", **kwargs)


@register_model
def i3d_flow_tiny(num_classes: int, **kwargs) -> I3D:
    """Flow I3D with 1/8 of the channels, 16x32x32 input."""
    return I3D(num_classes, "flow", **{**TINY, **kwargs})


@register_model
def i3d_two_stream(num_classes: int, **kwargs) -> I3DTwoStream:
    """Two-Stream I3D at the paper's size (25 M parameters with 400 classes)."""
    return I3DTwoStream(num_classes, **kwargs)


@register_model
def i3d_two_stream_tiny(num_classes: int, **kwargs) -> I3DTwoStream:
    """Two-Stream I3D with 1/8 of the channels, 16x32x32 input."""
    return I3DTwoStream(num_classes, **{**TINY, **kwargs})


__all__ = ["I3D", "I3DTwoStream"]
