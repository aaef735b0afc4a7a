"""Checkpoints: one file holds the model's name, arguments, classes, presets, config and weights.

Written atomically and read with ``torch.load(..., weights_only=True)``: a checkpoint is data,
never code. The layout is described in ``docs/design.md``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from motionprobe.io import atomic_path
from motionprobe.models.registry import create_model
from motionprobe.transforms import Preset


def save_checkpoint(
    path: Path, model: nn.Module, classes: list[str], config: dict, **extra
) -> None:
    """Atomically write a checkpoint (docs/design.md), loadable with ``weights_only=True``."""
    state = {
        "model": model.config["name"],
        "model_kwargs": model.config["kwargs"],
        "num_classes": model.config["num_classes"],
        "classes": list(classes),
        "preset": model.preset.to_dict(),
        "presets": {k: v.to_dict() for k, v in model.presets.items()},
        "config": config,
        "state_dict": model.state_dict(),
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a model from a checkpoint, in ``eval()`` mode.

    Returns:
        The model (with ``model.preset`` from the checkpoint) and the checkpoint dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        # torch's own message would advise weights_only=False, which must never be followed.
        reason = "truncated" if isinstance(err, EOFError) else "not a readable torch file"
        raise ValueError(f"{path}: not a motionprobe checkpoint ({reason})") from err
    missing = [k for k in ("model", "num_classes", "model_kwargs", "state_dict", "classes")
               if not isinstance(ckpt, dict) or k not in ckpt]  # fmt: skip
    if missing:
        raise ValueError(f"{path}: not a motionprobe checkpoint (no {', '.join(missing)})")
    kwargs = dict(ckpt["model_kwargs"])
    for key, value in kwargs.items():  # JSON-like round trip turns tuples into lists.
        if isinstance(value, list):
            kwargs[key] = tuple(value)
    model = create_model(ckpt["model"], ckpt["num_classes"], **kwargs)
    model.load_state_dict(ckpt["state_dict"])
    if "presets" in ckpt:
        model.presets = {k: Preset.from_dict(v) for k, v in ckpt["presets"].items()}
    else:
        model.preset = Preset.from_dict(ckpt["preset"])
    return model.to(device).eval(), ckpt


def two_stream_checkpoint(
    rgb: str | Path, flow: str | Path, out: str | Path, fusion: str = "logits"
) -> Path:
    """Join separately trained RGB and flow I3D checkpoints into one Two-Stream I3D checkpoint.

    Quo Vadis trains the two streams separately and sums their logits at test time; the result
    loads with :func:`load_checkpoint` like any other model (``forward(rgb, flow, stream=)``).

    Args:
        rgb: Checkpoint of an ``i3d_rgb*`` model.
        flow: Checkpoint of the matching ``i3d_flow*`` model (same classes, width and clip).
        out: Path of the new checkpoint.
        fusion: ``logits`` (sum) or ``softmax`` (see :class:`~motionprobe.models.i3d.I3DTwoStream`).

    Returns:
        ``out``.
    """
    rgb_model, rgb_ckpt = load_checkpoint(rgb)
    flow_model, flow_ckpt = load_checkpoint(flow)
    if list(rgb_ckpt["classes"]) != list(flow_ckpt["classes"]):
        raise ValueError(f"{rgb} and {flow}: trained on different classes; cannot fuse")
    if rgb_ckpt["model"].replace("rgb", "") != flow_ckpt["model"].replace("flow", ""):
        raise ValueError(f"{rgb} ({rgb_ckpt['model']}) and {flow} ({flow_ckpt['model']}) differ")
    name = rgb_ckpt["model"].replace("i3d_rgb", "i3d_two_stream")
    kwargs = dict(rgb_ckpt["model_kwargs"])
    kwargs.pop("modality", None)
    model = create_model(name, rgb_ckpt["num_classes"], fusion=fusion, **kwargs)
    model.rgb.load_state_dict(rgb_model.state_dict())
    model.flow.load_state_dict(flow_model.state_dict())
    model.presets = {**rgb_model.presets, **flow_model.presets}
    config = {
        **rgb_ckpt["config"],
        "model": name,
        "flow_method": flow_ckpt["config"].get("flow_method"),
        "streams": {"rgb": str(rgb), "flow": str(flow)},
    }
    metrics = {"rgb": rgb_ckpt.get("metrics", {}), "flow": flow_ckpt.get("metrics", {})}
    save_checkpoint(Path(out), model, rgb_ckpt["classes"], config, metrics=metrics)
    return Path(out)
