"""Model registry: ``create_model(name, num_classes, **kwargs)`` and ``list_models()``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from torch import nn

from motionprobe.models.sources import is_spec, spec_model
from motionprobe.models.weights import load_weights

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a builder under its function name (decorator)."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted.

    >>> "c3d" in list_models()
    True
    """
    return sorted(_MODELS)


def create_model(
    name: str, num_classes: int, weights: str | Path | Mapping | None = None, **kwargs
) -> nn.Module:
    """Build a registered model returning ``(B, num_classes)`` logits.

    The model carries ``model.presets`` (per input), ``model.inputs`` and ``model.config`` (name
    and kwargs, so a checkpoint can rebuild it).

    Args:
        name: A name from :func:`list_models`, or a model spec (``torchvision:r3d_18``; see
            :mod:`motionprobe.models.sources`) with ``frames``, ``size`` and ``short_side``
            as its knobs.
        num_classes: Logits.
        weights: A local weights file (this project's checkpoint, or a published layout that
            :mod:`motionprobe.models.weights` recognises), or a mapping of stream name to file.
            A different class count keeps everything but a freshly initialised classifier.
        **kwargs: Width, depth and input-size knobs of the family.

    >>> model = create_model("c3d_tiny", num_classes=5)
    >>> model.config["name"], model.preset.crop
    ('c3d_tiny', 32)
    """
    if is_spec(name):  # torchvision:r3d_18 and other sources, trained like our own
        if weights is not None and not isinstance(weights, (str, Path)):
            raise ValueError(f"{name}: weights must be one enum member name or file")
        return spec_model(name, num_classes, None if weights is None else str(weights), **kwargs)
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {list_models()}")
    model = _MODELS[name](num_classes=num_classes, **kwargs)
    model.config = {"name": name, "num_classes": num_classes, "kwargs": dict(kwargs)}
    if weights is not None:
        model.weights_report = load_weights(model, weights)
    return model
