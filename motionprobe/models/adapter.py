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
from typing import Any

import torch
from torch import nn

from motionprobe.data.layouts import load_index
from motionprobe.device import channels_last
from motionprobe.flow import clip_flow
from motionprobe.models.checkpoint import load_checkpoint
from motionprobe.models.sources import align_classes, is_spec, load_spec
from motionprobe.runs import file_digest, module_digest
from motionprobe.transforms import Preset
from motionprobe.transforms import preset as named_preset
from motionprobe.types import RunError


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
        """The model's positional inputs, normalised on ``device``; ``None`` where not given.

        Clips may be uint8 (a loader's ``uint8`` clips): they are made float on ``device``. The
        copy does not block; from pinned memory it overlaps the GPU's work, and the normalisation
        that follows on the same stream waits for it.
        """
        return [
            self.presets[n].normalize(given[n].to(device, non_blocking=True))
            if n in given
            else None
            for n in self.inputs
        ]


def make_target(
    model: str | Path | nn.Module,
    device: str = "cpu",
    classes: Sequence[str] | None = None,
    frames: int | None = None,
    preset: Preset | str | dict | None = None,
    flow_method: str | None = None,
    *,
    weights: str | None = None,
    data_classes: Sequence[str] | None = None,
    partial_classes: bool = False,
) -> Target:
    """A :class:`Target` from a checkpoint file, a model spec, or any module with its classes.

    A plain ``nn.Module`` needs ``classes`` and ``frames``; its normalisation comes from
    ``preset`` (a :class:`~motionprobe.transforms.Preset`, a preset name or its dict), or
    from its own ``presets`` when it is one of this package's models. A spec
    (``torchvision:NAME``, ``hf:PATH``, ``package.module:function``; see
    :mod:`motionprobe.models.sources`) brings its own preprocessing, clip length and classes;
    ``weights`` picks its weights and ``frames`` overrides its clip length.

    With ``data_classes`` (the dataset's), the model's class names are matched to them by
    :func:`~motionprobe.models.sources.class_key` and spelt as the dataset spells them; a
    model whose weights carry no names takes the dataset's when the counts agree. Dataset
    classes the model lacks are an error unless ``partial_classes`` (then listed in
    ``info["classes_dropped"]``).
    """
    target = _target(model, device, classes, frames, preset, flow_method, weights, data_classes)
    if data_classes is not None:
        align_target(target, data_classes, partial_classes)
    return target


def _target(model, device, classes, frames, preset, flow_method, weights, data_classes) -> Target:
    """:func:`make_target` before the classes meet the dataset's."""
    if is_spec(model):
        loaded = load_spec(model, weights, len(data_classes) if data_classes else None)
        least = loaded.info.get("min_frames") or 1
        if frames and frames < least:
            raise RunError(f"{model}: takes clips of at least {least} frames, not {frames}")
        # What this package's own models carry, for code that asks the module itself.
        net = loaded.model
        net.presets = {"rgb": loaded.preset}
        net.frames = int(frames or loaded.frames)
        return Target(
            channels_last(loaded.model.to(device).eval()),
            list(loaded.classes or []),
            int(frames or loaded.frames),
            {"rgb": loaded.preset},
            ("rgb",),
            flow_method or "farneback",
            loaded.info | {"classes_from": "weights" if loaded.classes else None},
        )
    if isinstance(model, (str, Path)):
        net, ckpt = load_checkpoint(model, device)
        cfg = dict(ckpt.get("config") or {})
        method = flow_method or _trained_flow_method(cfg)
        return Target(
            channels_last(net),
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
        channels_last(model.to(device).eval()),
        list(classes),
        int(frames),
        presets,
        inputs,
        flow_method or "farneback",
        {"model": getattr(model, "config", {}).get("name", type(model).__name__)},
    )


def run_target(cfg: Any, device: str, label_map: str | None = None) -> Target:
    """:func:`make_target` for a run config (a probe's, the bias analysis's): its model fields
    (``checkpoint, classes, frames, preset, flow_method, weights, partial_classes``) and the
    classes of its ``data`` and ``split``."""
    return make_target(
        cfg.checkpoint,
        device,
        cfg.classes,
        cfg.frames,
        cfg.preset,
        cfg.flow_method,
        weights=cfg.weights,
        data_classes=load_index(cfg.data, cfg.split, label_map=label_map).classes,
        partial_classes=cfg.partial_classes,
    )


def align_target(target: Target, data_classes: Sequence[str], partial: bool = False) -> None:
    """Match ``target``'s classes to the dataset's (see :func:`make_target`), in place."""
    what = str(target.info.get("checkpoint") or target.info.get("model"))
    if not target.classes:  # weights without names: the dataset's, when the counts agree
        device = next(target.model.parameters()).device
        side = target.rgb_preset.crop
        with torch.inference_mode():
            n = int(
                target.model(torch.zeros(1, 3, target.frames, side, side, device=device)).shape[-1]
            )
        if n != len(data_classes):
            raise RunError(
                f"{what}: its weights name no classes and it has {n} outputs, but the dataset "
                f"has {len(data_classes)} classes; use weights that name them"
            )
        target.classes = list(data_classes)
        target.info["classes_from"] = "dataset (label-map order)"
        return
    target.classes, dropped = align_classes(target.classes, data_classes, partial, what)
    if dropped:
        target.info["classes_dropped"] = dropped


def model_digest(checkpoint: str | Path | nn.Module, target: Target) -> str | None:
    """SHA-256 identifying a run's model: a checkpoint file's bytes, else (a model spec or a
    module) the values of its weights."""
    if is_spec(checkpoint) or isinstance(checkpoint, nn.Module):
        return module_digest(target.model)
    return file_digest(checkpoint)


def _trained_flow_method(cfg: dict) -> str:
    """The flow method a checkpoint was trained with (its cache's, or its on-the-fly one)."""
    cache = cfg.get("flow_cache")
    if cache and (Path(cache) / "flow.json").is_file():
        return json.loads((Path(cache) / "flow.json").read_text()).get("method", "tvl1")
    return cfg.get("flow_method") or "tvl1"
