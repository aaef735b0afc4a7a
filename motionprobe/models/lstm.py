"""ConvNet+LSTM (the first baseline of Quo Vadis, after Ng et al. and Donahue et al.).

Inception-V1 (with BatchNorm) embeds each frame after its last average pool; an LSTM with 512
units runs over the frame features, and a linear layer reads class logits from its last step
(Quo Vadis tests on the last step's output). Quo Vadis feeds 25 frames at 5 fps (one in five).

The LSTM's gates use functional sigmoid/tanh inside ``nn.LSTM``, so Captum methods that rewrite
nonlinearities (DeepLift, LRP) do not apply to it; gradient-based ones (saliency, integrated
gradients, Grad-CAM on the Inception endpoints) do.
"""

from __future__ import annotations

import torch
from torch import nn

from motionprobe.models.i3d import TINY
from motionprobe.models.layers import Inception, VideoClassifier
from motionprobe.models.registry import register_model
from motionprobe.transforms import preset


class ConvNetLSTM(VideoClassifier):
    """``forward(rgb)`` with ``rgb`` ``(B, 3, T, H, W)`` -> logits ``(B, num_classes)``.

    Args:
        num_classes: Logits.
        hidden: LSTM units (paper: 512).
        readout: ``last`` (logits of the last step, as tested in the paper) or ``mean`` (logits
            averaged over steps).
        width: Channel multiplier of the Inception-V1.
        dropout: Drop probability before the classifier.
        frames: Clip length (25 frames, sampled at 5 fps).
        size: Crop side (224).
        short_side: Resize target before the crop.
    """

    head = ("fc",)

    def __init__(
        self,
        num_classes: int,
        hidden: int = 512,
        readout: str = "last",
        width: float = 1.0,
        dropout: float = 0.5,
        frames: int = 25,
        size: int = 224,
        short_side: int | None = None,
    ) -> None:
        super().__init__()
        if readout not in ("last", "mean"):
            raise ValueError(f"readout must be 'last' or 'mean', got {readout!r}")
        self.readout = readout
        self.cnn = Inception(2, 3, None, width)
        self.lstm = nn.LSTM(self.cnn.out_channels, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)
        self.presets = {"rgb": preset("imagenet", size, short_side)}
        self.frames = frames

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = rgb.shape
        feats = self.cnn(rgb.transpose(1, 2).reshape(b * t, c, h, w)).mean((-2, -1))
        states, _ = self.lstm(feats.view(b, t, -1))  # (B, T, hidden)
        state = states[:, -1] if self.readout == "last" else states.mean(1)
        return self.fc(self.dropout(state))


@register_model
def convnet_lstm(num_classes: int, **kwargs) -> ConvNetLSTM:
    """ConvNet+LSTM at the paper's size (9 M parameters with 400 classes), 25x224x224 input."""
    return ConvNetLSTM(num_classes, **kwargs)


@register_model
def convnet_lstm_tiny(num_classes: int, **kwargs) -> ConvNetLSTM:
    """1/8 of the channels, 32 LSTM units, 16x32x32 clips."""
    return ConvNetLSTM(num_classes, **{"hidden": 32, **TINY, **kwargs})
