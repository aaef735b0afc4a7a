"""Models behind a registry: ``create_model(name, num_classes, **kwargs)``, ``list_models()``."""

from motionprobe.models import c3d  # noqa: F401  (registers the C3D family)
from motionprobe.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
