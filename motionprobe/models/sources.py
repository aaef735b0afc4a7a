"""Models from elsewhere behind one spec string: torchvision, Hugging Face, any callable.

Wherever a checkpoint is accepted, so is a spec:

=============================  ===========================================================
``runs/x/checkpoints/best.pt``  this project's checkpoint (:mod:`motionprobe.models.checkpoint`)
``torchvision:NAME[@WEIGHTS]``  a torchvision video classifier (:data:`TORCHVISION_MODELS`);
                                ``weights`` is a member of its weights enum
                                (``KINETICS400_V1``, downloaded by torchvision), a local
                                state-dict file, or None (random initialisation, seed 0)
``hf:PATH_OR_ID``               a ``transformers`` video classifier (VideoMAE, TimeSformer,
                                ViViT) with its saved image processor
``package.module:function``     a callable returning an ``nn.Module``, or ``(module, spec)``
                                with ``spec`` keys ``preset``, ``frames``, ``classes``,
                                ``fps``, ``layout`` (``bcthw`` or ``btchw``)
=============================  ===========================================================

Preprocessing (resize, crop, mean, std), clip length, frame rate and class names come from the
source's own metadata: a torchvision weights enum's transforms and documentation, a Hugging Face
processor and config. Every model is wrapped (:class:`Adapted`) to the toolkit's calling
convention: normalised clips ``(B, 3, T, H, W)`` in, logits ``(B, K)`` out.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from motionprobe.io import hide_bars
from motionprobe.models.features import as_map, feature_spec
from motionprobe.models.layers import VideoClassifier
from motionprobe.models.weights import read_state
from motionprobe.transforms import Preset, torchvision_preset
from motionprobe.transforms import preset as named_preset
from motionprobe.types import RunError

#: Every torchvision video classifier (``torchvision.models.video``).
TORCHVISION_MODELS = (
    "r3d_18",
    "mc3_18",
    "r2plus1d_18",
    "s3d",
    "mvit_v1_b",
    "mvit_v2_s",
    "swin3d_t",
    "swin3d_s",
    "swin3d_b",
)
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass
class Loaded:
    """A model from a spec, before it meets a dataset.

    Attributes:
        model: Normalised ``(B, 3, T, H, W)`` clips in, ``(B, K)`` logits out.
        classes: Class names in logit order; ``None`` when the weights carry none.
        frames: Clip length T the model was evaluated with.
        preset: Its preprocessing.
        info: What ``config.json`` records (source, spec, weights, fps).
    """

    model: nn.Module
    classes: list[str] | None
    frames: int
    preset: Preset
    info: dict = field(default_factory=dict)


class Adapted(VideoClassifier):
    """A foreign classifier called as the toolkit calls its models (and carrying what its own
    models carry: ``presets``, ``inputs``, ``frames``, set by whoever builds it).

    Args:
        net: The classifier.
        layout: ``bcthw`` (torchvision) or ``btchw`` (Hugging Face ``pixel_values``).
        keyword: Pass the clips as this keyword argument instead of positionally.
    """

    def __init__(self, net: nn.Module, layout: str = "bcthw", keyword: str | None = None):
        super().__init__()
        if layout not in ("bcthw", "btchw"):
            raise ValueError(f"layout must be 'bcthw' or 'btchw', got {layout!r}")
        self.net, self.layout, self.keyword = net, layout, keyword
        self.features = feature_spec(net)
        #: Grad-CAM's default layer and the unit analysis's stage ends (``net.`` names).
        self.gradcam_layer = f"net.{self.features.gradcam}" if self.features else None
        self.stage_layers = [f"net.{s}" for s in self.features.stages] if self.features else []

    def feature_map(self, output: object, shape: torch.Size) -> torch.Tensor:
        """A layer's output as a map ``(B, C, T', H', W')`` (see
        :func:`motionprobe.models.features.as_map`) for clips of ``shape``."""
        if self.features is None:
            return output[0] if isinstance(output, (tuple, list)) else output
        return as_map(self.net, self.features, output, shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` of normalised clips ``(B, 3, T, H, W)``."""
        if self.layout == "btchw":
            x = x.transpose(1, 2)
        out = self.net(**{self.keyword: x}) if self.keyword else self.net(x)
        if hasattr(out, "logits"):
            return out.logits
        return out[0] if isinstance(out, (tuple, list)) else out


def is_spec(model: object) -> bool:
    """Whether ``model`` names a model source rather than a checkpoint file.

    >>> is_spec("torchvision:r3d_18"), is_spec("hf:MCG-NJU/videomae-base"), is_spec("a/b.pt")
    (True, True, False)
    """
    if not isinstance(model, (str, Path)) or Path(model).exists():
        return False
    text = str(model)
    return text.startswith(("torchvision:", "hf:")) or bool(_CALLABLE.match(text))


def load_spec(spec: str, weights: str | None = None, num_classes: int | None = None) -> Loaded:
    """The model a spec names (see the module docstring).

    Args:
        spec: ``torchvision:NAME``, ``hf:PATH_OR_ID`` or ``package.module:function``.
        weights: torchvision: an enum member name or a state-dict file; a callable receives it.
        num_classes: Head size of a randomly initialised model (the dataset's class count).

    Raises:
        RunError: Unknown model or weights, a file that does not fit, a missing package.
    """
    spec = str(spec)
    source, _, name = spec.partition(":")
    if source == "torchvision" and "@" in name:  # torchvision:NAME@WEIGHTS, for studies
        name, _, inline = name.partition("@")
        weights = weights or inline
    if source == "torchvision":
        loaded = _torchvision(name, weights, num_classes)
    elif source == "hf":
        if weights:
            raise RunError(f"{spec}: --weights does not apply; the folder or id holds them")
        loaded = _huggingface(name)
    else:
        loaded = _from_callable(spec, weights)
    loaded.info.update(checkpoint=spec, model=spec, weights=weights)
    return loaded


def spec_model(
    spec: str,
    num_classes: int,
    weights: str | None = None,
    frames: int | None = None,
    size: int | None = None,
    short_side: int | None = None,
) -> Adapted:
    """A model spec as a trainable model of this package (what :func:`create_model` returns).

    Args:
        spec: ``torchvision:NAME`` (or another spec whose model has ``num_classes`` outputs).
        num_classes: Logits.
        weights: As :func:`load_spec`.
        frames, size, short_side: Clip length, crop and resize short side to train at
            (default: the source's own).

    Returns:
        The wrapped model with ``presets``, ``inputs``, ``frames`` and ``config`` set.
    """
    loaded = load_spec(spec, weights, num_classes)
    net = loaded.model
    preset = loaded.preset
    if size or short_side:
        crop = size or preset.crop
        short = short_side or round(crop * preset.short_side / preset.crop)
        preset = replace(preset, crop=crop, short_side=short, size=None)
    net.presets = {"rgb": preset}
    net.frames = int(frames or loaded.frames)
    sizes = {"frames": frames, "size": size, "short_side": short_side}
    net.config = {"name": spec, "num_classes": num_classes, "weights": weights,
                  "kwargs": {k: v for k, v in sizes.items() if v}}  # fmt: skip
    return net


def _torchvision(name: str, weights: str | None, num_classes: int | None) -> Loaded:
    """A torchvision video classifier with its enum's preprocessing, clip and classes."""
    from torchvision import models

    if name not in TORCHVISION_MODELS:
        raise RunError(f"torchvision:{name}: not a video classifier; one of {TORCHVISION_MODELS}")
    enum = models.get_model_weights(name)
    builder = models.get_model_builder(name)
    member = None
    if weights and not Path(weights).is_file():
        try:
            member = enum[weights.rpartition(".")[2]]
        except KeyError:
            names = [w.name for w in enum]
            raise RunError(
                f"torchvision:{name}: no weights {weights!r} (not a file, not one of {names})"
            ) from None
    meta = member or enum.DEFAULT  # a random or file-loaded model keeps the published input
    frames, fps = _clip_of(meta.meta.get("_docs", ""))
    info = {"source": "torchvision", "fps": fps, "short": "loop"}
    info["min_frames"] = meta.meta.get("min_temporal_size")
    preset = torchvision_preset(meta, f"torchvision:{name}")
    if member is not None:
        try:  # torchvision downloads them (once) into its cache
            net = builder(weights=member)
        except (OSError, RuntimeError) as err:
            raise RunError(
                f"torchvision:{name}: could not get the {member.name} weights ({err}); fetch them "
                "where there is a network, or give a local state dict with --weights FILE"
            ) from None
        classes = list(member.meta["categories"])
    elif weights:
        state, _ = read_state(weights)
        net = builder(weights=None, num_classes=_head_size(state, weights))
        _load_strict(net, state, weights)
        classes = None
    else:
        with torch.random.fork_rng(devices=[]):  # the same random model on every run (resumable)
            torch.manual_seed(0)
            net = builder(weights=None, num_classes=num_classes or len(meta.meta["categories"]))
        classes = None
    return Loaded(Adapted(net), classes, frames, preset, info)


def _clip_of(docs: str) -> tuple[int, float | None]:
    """``(clip_len, frame_rate)`` from a torchvision weights' documentation line."""
    clip = re.search(r"clip_len=(\d+)", docs)
    rate = re.search(r"frame_rate=([\d.]+)", docs)
    return (int(clip.group(1)) if clip else 16), (float(rate.group(1)) if rate else None)


def _head_size(state: dict[str, torch.Tensor], path: str) -> int:
    """The class count of a classifier's state dict: its last weight's output size."""
    heads = [v for k, v in state.items() if k.endswith("weight") and v.ndim >= 2]
    if not heads:
        raise RunError(f"{path}: no layer weights found")
    return int(heads[-1].shape[0])


def _load_strict(net: nn.Module, state: dict[str, torch.Tensor], path: str) -> None:
    """Load ``state`` into ``net``, or one error naming what is missing, extra or misshapen."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or extra or shapes:
        parts = [
            f"{label}: {', '.join(items[:6])}{' ...' if len(items) > 6 else ''} ({len(items)})"
            for label, items in (("missing", missing), ("unexpected", extra), ("shape", shapes))
            if items
        ]
        raise RunError(f"{path}: does not fit {type(net).__name__}; " + "; ".join(parts))
    net.load_state_dict(state)


def _huggingface(path: str) -> Loaded:
    """A ``transformers`` video classifier and the preprocessing of its saved processor."""
    try:
        import transformers
    except ImportError:
        raise RunError(
            f"hf:{path}: needs the transformers package (pip install 'motionprobe[hf]')"
        ) from None
    if hide_bars(True):  # --quiet: no loading bar either
        transformers.utils.logging.disable_progress_bar()
    try:
        net = transformers.AutoModelForVideoClassification.from_pretrained(path)
        processor = transformers.AutoImageProcessor.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise RunError(f"hf:{path}: {str(err).splitlines()[0]}") from None
    config = net.config
    names = [str(config.id2label[i]) for i in range(config.num_labels)]
    unnamed = all(re.fullmatch(r"LABEL_\d+", n) for n in names)
    frames = int(getattr(config, "num_frames", 16))
    preset = hf_preset(processor.to_dict(), f"hf:{type(net).__name__}")
    info = {"source": "hf", "fps": None, "short": "loop"}
    return Loaded(Adapted(net, "btchw", "pixel_values"), None if unnamed else names, frames,
                  preset, info)  # fmt: skip


def hf_preset(processor: dict, name: str) -> Preset:
    """A Hugging Face image processor's settings as a preset (pixel units).

    The processor maps a pixel ``x`` to ``(x * rescale - offset - mean) / std``; in pixel units
    that is mean ``(mean + offset) / rescale`` and std ``std / rescale``.

    >>> p = hf_preset({"size": {"shortest_edge": 36}, "crop_size": {"height": 32, "width": 32},
    ...                "image_mean": [0.5] * 3, "image_std": [0.5] * 3}, "hf")
    >>> p.short_side, p.crop, p.mean[0], p.std[0]
    (36, 32, 127.5, 127.5)
    """
    rescale = processor.get("rescale_factor", 1 / 255) if processor.get("do_rescale", True) else 1
    offset = 1.0 if processor.get("offset") else 0.0
    normalize = processor.get("do_normalize", True)
    mean = processor.get("image_mean", [0.0] * 3) if normalize else [0.0] * 3
    std = processor.get("image_std", [1.0] * 3) if normalize else [1.0] * 3
    size = processor.get("size") or {}
    fixed = None
    if "shortest_edge" in size:
        short = int(size["shortest_edge"])
    else:
        fixed = (int(size["height"]), int(size["width"]))
        short = min(fixed)
    crop_size = processor.get("crop_size") or {}
    crop = int(crop_size.get("height", short)) if processor.get("do_center_crop", True) else short
    return Preset(
        name,
        tuple((m + offset) / rescale for m in mean),
        tuple(s / rescale for s in std),
        short,
        crop,
        size=fixed,
    )


def _from_callable(spec: str, weights: str | None) -> Loaded:
    """``package.module:function`` called (with ``weights`` when given); modules in the
    current folder are found as ``python -m`` would find them."""
    module_name, _, fn_name = spec.rpartition(":")
    here = str(Path.cwd())
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        fn = getattr(importlib.import_module(module_name), fn_name)
    except (ImportError, AttributeError) as err:
        raise RunError(f"{spec}: cannot import it ({err})") from None
    finally:
        if added:
            sys.path.remove(here)
    out = fn(weights) if weights else fn()
    net, spec_d = out if isinstance(out, tuple) else (out, {})
    if not isinstance(net, nn.Module):
        raise RunError(f"{spec}: returned {type(net).__name__}, not an nn.Module")
    given = spec_d.get("preset") or getattr(net, "presets", {}).get("rgb")
    if given is None:
        raise RunError(f"{spec}: no preprocessing; return (module, {{'preset': ...}})")
    preset = _as_preset(given)
    frames = spec_d.get("frames") or getattr(net, "frames", None)
    if not frames:
        raise RunError(f"{spec}: no clip length; return (module, {{'frames': T, ...}})")
    classes = spec_d.get("classes")
    info = {"source": "callable", "fps": spec_d.get("fps"), "short": "loop"}
    wrapped = Adapted(net, spec_d.get("layout", "bcthw"))
    return Loaded(wrapped, None if classes is None else list(classes), int(frames), preset, info)


def _as_preset(given: Preset | str | dict) -> Preset:
    """A preset from itself, a preset name, or its dict."""
    if isinstance(given, Preset):
        return given
    return named_preset(given) if isinstance(given, str) else Preset.from_dict(given)


def class_key(name: str) -> str:
    """A class name as compared across label maps: case, quotes, parentheses, underscores and
    spaces do not count.

    >>> class_key("Passing 'American' (in game)") == class_key("passing_american_in_game")
    True
    """
    name = re.sub(r"[\"'`()\[\]]", "", name.lower())
    return " ".join(re.sub(r"[_\-]", " ", name).split())


def align_classes(
    model_classes: Sequence[str], data_classes: Sequence[str], partial: bool = False, what: str = ""
) -> tuple[list[str], list[str]]:
    """The model's classes spelt as the dataset spells them, and the dataset classes it lacks.

    Args:
        model_classes: Class names in logit order.
        data_classes: The dataset's classes.
        partial: Accept a dataset with classes the model does not have (their videos are
            skipped and listed); otherwise such classes are an error.
        what: The model, for the message.

    Raises:
        RunError: Dataset classes the model lacks (without ``partial``), or none in common.
    """
    by_key = {class_key(c): c for c in data_classes}
    renamed = [by_key.get(class_key(c), c) for c in model_classes]
    missing = [c for c in data_classes if c not in set(renamed)]
    if len(missing) == len(data_classes):
        raise RunError(f"{what}: none of the dataset's {len(data_classes)} classes is among the "
                       f"model's {len(model_classes)} (e.g. {list(data_classes)[:3]})")  # fmt: skip
    if missing and not partial:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise RunError(
            f"{what}: {len(missing)} dataset class(es) not among the model's: {shown}; "
            "--partial-classes probes the others and records the ones dropped"
        )
    return renamed, missing


__all__ = [
    "TORCHVISION_MODELS",
    "Adapted",
    "Loaded",
    "align_classes",
    "class_key",
    "hf_preset",
    "is_spec",
    "load_spec",
    "spec_model",
]
