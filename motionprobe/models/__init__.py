"""Models behind a registry: ``create_model(name, num_classes, weights=None, **kwargs)``.

Families (one module each): ``c3d``, ``i3d_rgb``/``i3d_flow``/``i3d_two_stream``, ``two_stream``,
``convnet_lstm`` and ``fused_3d``, each with a ``_tiny`` variant for CPU runs.
"""

# Importing the family modules registers their builders.
from motionprobe.models import c3d, fused, i3d, lstm, two_stream  # noqa: F401
from motionprobe.models.layers import VideoClassifier
from motionprobe.models.registry import create_model, list_models, register_model
from motionprobe.models.weights import load_weights

__all__ = ["VideoClassifier", "create_model", "list_models", "load_weights", "register_model"]
