"""3D-Fused two-stream network (Feichtenhofer et al., CVPR 2016, as configured in Quo Vadis).

Two 2-D Inception-V1 streams (one RGB frame, one stack of L flow fields) run at ``steps`` time
points ``spacing`` frames apart (Quo Vadis: 5 points 10 frames apart). Their last convolutional
features (Mixed_5c) are concatenated on channels and stacked in time, then a 3x3x3 convolution with
512 outputs, a 3x3x3 max-pool (stride 2) and a classifier (averaged over the remaining positions)
fuse them.
"""

from __future__ import annotations

import torch
from torch import nn

from motionprobe.models.i3d import TINY
from motionprobe.models.layers import (
    Inception,
    MaxPoolSame,
    Unit,
    VideoClassifier,
    ch,
    flow_stacks,
    frames_at,
)
from motionprobe.models.registry import register_model
from motionprobe.transforms import preset


class Fused3D(VideoClassifier):
    """``forward(rgb, flow)`` with ``rgb`` ``(B, 3, T, H, W)``, ``flow`` ``(B, 2, T, H, W)``.

    Args:
        num_classes: Logits.
        steps: Time points fused (paper: 5).
        spacing: Frames between time points (paper: 10).
        stack: Flow fields per temporal-stream input, L (paper: 10).
        width: Channel multiplier of the streams and the fusion convolution.
        dropout: Drop probability before the classifier.
        frames: Clip length, ``(steps - 1) * spacing + stack`` (50 at the paper's setting);
            longer clips use their centre.
        size: Crop side (224).
        short_side: Resize target before the crop.

    Each time point's RGB frame is the middle of its flow stack. Flow fields are not
    mean-subtracted (the 3-D fusion sees them as I3D's flow stream does).
    """

    inputs = ("rgb", "flow")
    head = ("fc",)

    def __init__(
        self,
        num_classes: int,
        steps: int = 5,
        spacing: int = 10,
        stack: int = 10,
        width: float = 1.0,
        dropout: float = 0.5,
        frames: int | None = None,
        size: int = 224,
        short_side: int | None = None,
    ) -> None:
        super().__init__()
        self.steps, self.spacing, self.stack = steps, spacing, stack
        self.spatial = Inception(2, 3, None, width)
        self.temporal = Inception(2, 2 * stack, None, width)
        fused = ch(512, width)
        self.fuse = Unit(3, self.spatial.out_channels + self.temporal.out_channels, fused, 3)
        self.pool = MaxPoolSame(3, 3, 2)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(fused, num_classes)
        self.presets = {
            "rgb": preset("imagenet", size, short_side),
            "flow": preset("flow", size, short_side),
        }
        self.frames = frames or (steps - 1) * spacing + stack

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        b, _, t, h, w = rgb.shape
        need = (self.steps - 1) * self.spacing + self.stack
        if t < need:
            raise ValueError(
                f"{self.steps} steps {self.spacing} frames apart with stacks of {self.stack} "
                f"need {need} frames, got {t}"
            )
        offset = (t - need) // 2
        starts = offset + torch.arange(self.steps, device=rgb.device) * self.spacing
        starts = starts.expand(b, -1)
        n = self.steps
        stacks = flow_stacks(flow, starts, self.stack).reshape(b * n, 2 * self.stack, h, w)
        frames = frames_at(rgb, starts + self.stack // 2).reshape(b * n, 3, h, w)
        a, m = self.spatial(frames), self.temporal(stacks)  # (B n, C, h', w')
        x = torch.cat([a, m], 1).unflatten(0, (b, n)).transpose(1, 2)  # (B, C, n, h', w')
        x = self.pool(self.fuse(x)).mean((2, 3, 4))
        return self.fc(self.dropout(x))


@register_model
def fused_3d(num_classes: int, **kwargs) -> Fused3D:
    """3D-Fused at the paper's size (39 M parameters with 400 classes), 50x224x224 clips."""
    return Fused3D(num_classes, **kwargs)


@register_model
def fused_3d_tiny(num_classes: int, **kwargs) -> Fused3D:
    """1/8 of the channels, 3 steps 4 frames apart, stacks of 4, 16x32x32 clips."""
    defaults = dict(steps=3, spacing=4, stack=4, **TINY)
    return Fused3D(num_classes, **{**defaults, **kwargs})
