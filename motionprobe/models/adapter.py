"""One adapter for every model the toolkit runs: a checkpoint path or any ``nn.Module``.

A :class:`Target` knows what the probes, the bias measure, attribution, the generator and
evaluation need of a model: its positional inputs (``rgb``, ``flow``), their normalisation, its
clip length and its classes. It turns pixel-unit clips into the model's normalised inputs, and
recomputes flow from (intervened) frames, so that the two streams of a model always see the same
video.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from motionprobe.flow import clip_flow
from motionprobe.models.checkpoint import load_checkpoint
from motionprobe.transforms import Preset
from motionprobe.transforms import preset as named_preset


@dataclass
class Target:
    """What is probed: a module taking ``(B, C, T, H, W)`` inputs and returning logits.

    Attributes:
        model: The module, in eval mode.
        classes: Class names in logit order.
        frames: Clip length T.
        presets: Normalisation per input name (``rgb``, ``flow``).
        inputs: The module's positional inputs, in order.
        flow_method: How flow inputs are computed from (intervened) frames.
        info: What to record about it in ``config.json``.
    """

    model: nn.Module
    classes: list[str]
    frames: int
    presets: dict[str, Preset]
    inputs: tuple[str, ...] = ("rgb",)
    flow_method: str = "farneback"
    info: dict = field(default_factory=dict)

    @property
    def rgb_preset(self) -> Preset:
        """The preset clips are decoded with: the RGB one, or the only one a flow model has."""
        return self.presets["rgb"] if "rgb" in self.presets else next(iter(self.presets.values()))

    def given(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The model's pixel-unit inputs from ``T + 1`` frames ``(B, 3, T + 1, H, W)``.

        RGB is the first ``T`` frames; flow (when the model takes it) is recomputed from all
        ``T + 1`` with the method the model was trained on. A model without flow takes ``x`` as
        is (``(B, 3, T, H, W)``).
        """
        if "flow" not in self.inputs:
            return {"rgb": x}
        return {"rgb": x[:, :, : self.frames], "flow": clip_flow(x, self.flow_method)}

    @property
    def modality(self) -> str:
        """The dataset modality the inputs need: ``rgb``, ``flow`` or ``rgb+flow``."""
        return "+".join(self.inputs)

    def batch_inputs(
        self, batch: dict, device: str | torch.device
    ) -> tuple[torch.Tensor, ...] | None:
        """A collated batch's clips (and the flow its dataset read) as the model's normalised
        positional inputs; ``None`` when the batch has nothing usable."""
        given = {n: batch["video" if n == "rgb" else n] for n in self.inputs}
        if any(v is None for v in given.values()):
            return None
        return tuple(self.normalize(given, device))

    def normalize(
        self, given: dict[str, torch.Tensor], device: str | torch.device
    ) -> list[torch.Tensor | None]:
        """The model's positional inputs, normalised on ``device``; ``None`` where not given."""
        return [
            self.presets[n].normalize(given[n].to(device)) if n in given else None
            for n in self.inputs
        ]


def make_target(
    model: str | Path | nn.Module,
    device: str = "cpu",
    classes: Sequence[str] | None = None,
    frames: int | None = None,
    preset: Preset | str | dict | None = None,
    flow_method: str | None = None,
) -> Target:
    """A :class:`Target` from a checkpoint file, or from any module with its class list.

    A plain ``nn.Module`` needs ``classes`` and ``frames``; its normalisation comes from
    ``preset`` (a :class:`~motionprobe.transforms.Preset`, a preset name or its dict), or
    from its own ``presets`` when it is one of this package's models.
    """
    if isinstance(model, (str, Path)):
        net, ckpt = load_checkpoint(model, device)
        cfg = dict(ckpt.get("config") or {})
        method = flow_method or _trained_flow_method(cfg)
        return Target(
            net,
            list(ckpt["classes"]),
            int(frames or cfg.get("frames") or net.frames),
            dict(net.presets),
            tuple(net.inputs),
            method,
            {
                "checkpoint": str(Path(model).resolve()),
                "model": ckpt["model"],
                "train_config": cfg,
                "fps": cfg.get("fps"),
                "short": cfg.get("short", "loop"),
            },
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a checkpoint path or an nn.Module, got {type(model).__name__}")
    if classes is None or frames is None:
        raise ValueError("probing a plain module needs classes= (logit order) and frames=")
    presets = dict(getattr(model, "presets", {}) or {})
    if isinstance(preset, str):
        presets["rgb"] = named_preset(preset)
    elif isinstance(preset, dict):  # as a run's config.json records it
        presets["rgb"] = Preset.from_dict(preset)
    elif preset is not None:
        presets["rgb"] = preset
    inputs = tuple(getattr(model, "inputs", ("rgb",)))
    if any(n not in presets for n in inputs):
        raise ValueError(
            f"{type(model).__name__}: no normalisation preset; pass preset= (a Preset or a name "
            "such as 'i3d_rgb')"
        )
    return Target(
        model.to(device).eval(),
        list(classes),
        int(frames),
        presets,
        inputs,
        flow_method or "farneback",
        {"model": getattr(model, "config", {}).get("name", type(model).__name__)},
    )


def _trained_flow_method(cfg: dict) -> str:
    """The flow method a checkpoint was trained with (its cache's, or its on-the-fly one)."""
    cache = cfg.get("flow_cache")
    if cache and (Path(cache) / "flow.json").is_file():
        return json.loads((Path(cache) / "flow.json").read_text()).get("method", "tvl1")
    return cfg.get("flow_method") or "tvl1"
