"""Two-Stream 2-D ConvNet (Simonyan & Zisserman, NIPS 2014), as re-implemented in Quo Vadis.

A spatial Inception-V1 (with BatchNorm) sees one RGB frame, a temporal one a stack of L = 10 flow
fields (2L = 20 channels, x and y interleaved, each field's mean subtracted to compensate camera
motion). The streams are fused late. In training each clip contributes one random position; in
evaluation ``samples`` positions spread evenly over the clip are averaged (the paper: 25).
"""

from __future__ import annotations

import torch

from motionprobe.models.i3d import TINY
from motionprobe.models.layers import Inception, VideoClassifier, flow_stacks, frames_at, fuse
from motionprobe.models.registry import register_model
from motionprobe.transforms import preset


def stack_starts(
    batch: int, frames: int, length: int, samples: int, random: bool, device=None
) -> torch.Tensor:
    """First frame of each flow stack: long ``(batch, n)``.

    ``random``: one uniformly drawn start per clip (training). Otherwise ``samples`` starts spread
    evenly from the first to the last possible one, the same for every clip (evaluation).
    """
    last = frames - length
    if last < 0:
        raise ValueError(f"a clip of {frames} frames cannot hold a stack of {length} flow fields")
    if random:
        return torch.randint(0, last + 1, (batch, 1), device=device)
    starts = torch.linspace(0, last, min(samples, last + 1), device=device).round().long()
    return starts.expand(batch, -1)


class TwoStream(VideoClassifier):
    """``forward(rgb, flow)`` with ``rgb`` ``(B, 3, T, H, W)`` and ``flow`` ``(B, 2, T, H, W)``.

    Args:
        num_classes: Logits.
        stack: Flow fields per temporal-stream input, L (paper: 10).
        samples: Positions averaged in evaluation (paper: 25 over the whole video).
        fusion: ``softmax`` (average of scores, the paper's simple fusion) or ``logits`` (sum).
        mean_subtract: Subtract each flow field's spatial mean (camera-motion compensation).
        width: Channel multiplier of both Inception-V1s.
        dropout: Drop probability before each stream's logits.
        frames: Clip length fed to the model (64, as for I3D; T >= L needed).
        size: Crop side (224).
        short_side: Resize target before the crop.

    The spatial stream sees the frame in the middle of each stack. Stream logits are averaged
    over positions before fusion.
    """

    inputs = ("rgb", "flow")
    head = ("spatial.Logits.conv", "temporal.Logits.conv")
    #: ``forward(..., stream="rgb" | "flow")`` returns one stream's logits (probing a stream alone).
    separable = True

    def __init__(
        self,
        num_classes: int,
        stack: int = 10,
        samples: int = 25,
        fusion: str = "softmax",
        mean_subtract: bool = True,
        width: float = 1.0,
        dropout: float = 0.5,
        frames: int = 64,
        size: int = 224,
        short_side: int | None = None,
    ) -> None:
        super().__init__()
        fuse(torch.zeros(1, 1), torch.zeros(1, 1), fusion)  # validates the name early
        self.stack, self.samples, self.fusion = stack, samples, fusion
        self.mean_subtract = mean_subtract
        self.spatial = Inception(2, 3, num_classes, width, dropout=dropout)
        self.temporal = Inception(2, 2 * stack, num_classes, width, dropout=dropout)
        self.presets = {
            "rgb": preset("imagenet", size, short_side),
            "flow": preset("flow", size, short_side),
        }
        self.frames = frames

    def forward(
        self, rgb: torch.Tensor | None, flow: torch.Tensor | None, stream: str = "both"
    ) -> torch.Tensor:
        """Fused logits ``(B, num_classes)``; ``stream="rgb"``/``"flow"``: the spatial or temporal
        stream's alone (the other input may then be None)."""
        ref = rgb if rgb is not None else flow
        b, _, t, h, w = ref.shape
        starts = stack_starts(b, t, self.stack, self.samples, self.training, ref.device)
        n = starts.shape[1]
        spatial = temporal = None
        if stream in ("both", "rgb"):
            frames = frames_at(rgb, starts + self.stack // 2).reshape(b * n, 3, h, w)
            spatial = self.spatial(frames).view(b, n, -1).mean(1)
        if stream in ("both", "flow"):
            stacks = flow_stacks(flow, starts, self.stack).reshape(b * n, 2 * self.stack, h, w)
            if self.mean_subtract:
                stacks = stacks - stacks.mean((-2, -1), keepdim=True)
            temporal = self.temporal(stacks).view(b, n, -1).mean(1)
        if stream == "rgb":
            return spatial
        if stream == "flow":
            return temporal
        return fuse(spatial, temporal, self.fusion)


@register_model
def two_stream(num_classes: int, **kwargs) -> TwoStream:
    """Two-Stream 2-D Inception-V1 at the paper's size (12 M parameters with 400 classes)."""
    return TwoStream(num_classes, **kwargs)


@register_model
def two_stream_tiny(num_classes: int, **kwargs) -> TwoStream:
    """1/8 of the channels, stacks of 4 flow fields, 3 positions, 16x32x32 clips."""
    defaults = dict(stack=4, samples=3, **TINY)
    return TwoStream(num_classes, **{**defaults, **kwargs})
