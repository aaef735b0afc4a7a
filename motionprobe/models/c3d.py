"""C3D (Tran et al., ICCV 2015): eight 3x3x3 convolutions, five pools, two fully connected layers.

For a 16x112x112 clip, pool5 pads (0, 1, 1) to emulate Caffe's round-up pooling, so fc6 sees
512 x 1 x 4 x 4 = 8192 inputs as in the released weights. Unlike the common port, the model
returns logits, not softmax probabilities.
"""

from __future__ import annotations

import torch
from torch import nn

from motionprobe.models.layers import VideoClassifier
from motionprobe.models.registry import register_model
from motionprobe.transforms import preset

#: Convolutions per stage of the paper: conv1a, conv2a, conv3a/b, conv4a/b, conv5a/b.
STAGES = (1, 1, 2, 2, 2)


def _conv(cin: int, cout: int, norm: bool) -> list[nn.Module]:
    # A fresh nn.ReLU per layer (not functional, not in-place): Captum's DeepLift/LRP see each.
    if norm:
        return [nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU()]
    return [nn.Conv3d(cin, cout, kernel_size=3, padding=1), nn.ReLU()]


class C3D(VideoClassifier):
    """C3D.

    Args:
        num_classes: Output logits.
        widths: Channels of the five stages (paper: 64, 128, 256, 512, 512).
        fc: Units of fc6 and fc7 (paper: 4096).
        frames: Clip length T the fully connected layers are sized for (paper: 16).
        size: Crop side H = W the fully connected layers are sized for (paper: 112).
        dropout: Drop probability after fc6 and fc7 (paper: 0.5).
        norm: BatchNorm after every convolution. The paper has none (it trained for days on
            Sports-1M); the narrow variant uses it so that it trains from scratch in minutes on a
            CPU.
        short_side: Short side frames are resized to before the crop (default: the paper's
            128/112 of the crop).

    Input ``(B, 3, T, H, W)`` normalised by :attr:`preset`; output ``(B, num_classes)`` logits.
    """

    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, ...] = (64, 128, 256, 512, 512),
        fc: int = 4096,
        frames: int = 16,
        size: int = 112,
        dropout: float = 0.5,
        norm: bool = False,
        short_side: int | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for stage, (n, width) in enumerate(zip(STAGES, widths, strict=True)):
            for _ in range(n):
                layers += _conv(cin, width, norm)
                cin = width
            if stage == 0:  # pool1 keeps time so early layers see motion before it is merged.
                layers.append(nn.MaxPool3d((1, 2, 2), (1, 2, 2)))
            elif stage == 4:
                layers.append(nn.MaxPool3d(2, 2, padding=(0, 1, 1)))
            else:
                layers.append(nn.MaxPool3d(2, 2))
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, 3, frames, size, size)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, fc),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(fc, fc),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(fc, num_classes),
        )
        self.presets = {"rgb": preset("c3d", crop=size, short_side=short_side)}
        self.frames = frames
        self.head = ("classifier.7",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of a normalised batch ``(B, 3, T, H, W)``."""
        return self.classifier(self.features(x))


@register_model
def c3d(num_classes: int, **kwargs) -> C3D:
    """C3D at the paper's size: 16x112x112 input, fc6 on 8192 features, 4096-unit fc6/fc7."""
    return C3D(num_classes, **kwargs)


@register_model
def c3d_tiny(num_classes: int, **kwargs) -> C3D:
    """The same structure, narrow, for CPU runs.

    Widths 16-32, 128-unit fully connected layers without dropout (which starves layers this
    narrow), BatchNorm, 16x32x32 input resized whole (short side = crop, so nothing at the borders
    is cut away).
    """
    defaults = dict(widths=(16, 16, 32, 32, 32), fc=128, frames=16, size=32, dropout=0.0, norm=True)
    kwargs = {**defaults, **kwargs}
    kwargs.setdefault("short_side", kwargs["size"])
    return C3D(num_classes, **kwargs)
