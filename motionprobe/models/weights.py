"""Load weights into a model: this project's checkpoints and the layouts of widely used ports.

Recognised layouts (detected from the keys):

- ``checkpoint``: this project's checkpoint dict (``state_dict`` plus model name and presets).
- ``native``: a bare state dict with this project's keys.
- ``i3d_port``: the Inception-I3D PyTorch port (``rgb_imagenet.pt``, ``flow_imagenet.pt``):
  ``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_3b.b0.conv3d.weight``, ``Conv3d_1a_7x7.bn.running_mean``,
  ``logits.conv3d.weight``, ... Endpoint and branch names are the same as ours, so the map only
  renames ``conv3d`` to ``conv`` and ``logits`` to ``Logits``.
- ``c3d_port``: the C3D Sports-1M port (``conv1``, ``conv2``, ``conv3a`` ... ``conv5b``, ``fc6``,
  ``fc7``, ``fc8``; 487 classes), mapped in order onto our convolutions and linear layers. The
  model's preset becomes ``c3d_port`` (raw RGB 0..255 at 112 short side, as the port is fed).

Files are read with ``torch.load(weights_only=True)``; nothing is unpickled as code. A leading
``module.`` (from ``DataParallel``) is stripped. When the classifier's shape differs (another class
count) the model keeps its freshly initialised classifier and everything else is loaded; any other
missing key, unexpected key or shape mismatch is an error that lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from motionprobe.transforms import Preset, preset

C3D_PORT = ("conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b")
C3D_PORT_FC = ("fc6", "fc7", "fc8")
#: Keys listed per kind of problem in an error (a wrong file can differ in hundreds).
MAX_LISTED = 25


def read_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The state dict in a weights file and, for this project's checkpoints, the whole dict.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file holds no state dict (names the file and what it found).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors are many types; torch's text advises unsafe loading
        raise ValueError(
            f"{path}: not a weights file loadable with weights_only=True ({type(err).__name__})"
        ) from err
    ckpt = obj if isinstance(obj, dict) and "state_dict" in obj else {}
    state = ckpt["state_dict"] if ckpt else obj
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict of tensors, found {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    return state, ckpt


def detect_layout(state: Mapping[str, torch.Tensor]) -> str:
    """``i3d_port``, ``c3d_port`` or ``native`` from the keys of a state dict."""
    if any(k.endswith(".conv3d.weight") for k in state):
        return "i3d_port"
    if "conv1.weight" in state and "fc8.weight" in state:
        return "c3d_port"
    return "native"


def _c3d_names(model: nn.Module) -> list[str]:
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv3d)]
    fcs = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if len(convs) != len(C3D_PORT) or len(fcs) != len(C3D_PORT_FC):
        raise ValueError(
            f"the C3D port has 8 convolutions and 3 linear layers; "
            f"this model has {len(convs)} and {len(fcs)}"
        )
    return convs + fcs


def to_native(state: Mapping[str, torch.Tensor], layout: str, model: nn.Module) -> dict:
    """Rename a state dict of a recognised layout to this project's keys."""
    if layout == "i3d_port":
        out = {}
        for key, value in state.items():
            key = key.replace(".conv3d.", ".conv.")
            out["Logits." + key.removeprefix("logits.") if key.startswith("logits.") else key] = (
                value
            )
        return out
    if layout == "c3d_port":
        names = dict(zip(C3D_PORT + C3D_PORT_FC, _c3d_names(model), strict=True))
        out = {}
        for key, value in state.items():
            layer, _, param = key.partition(".")
            out[f"{names.get(layer, layer)}.{param}"] = value
        return out
    return dict(state)


def load_weights(
    model: nn.Module, source: str | Path | Mapping[str, str | Path]
) -> dict[str, object]:
    """Load weights into ``model`` in place, keeping a fresh classifier for a new class count.

    Args:
        model: A model from :func:`~motionprobe.models.create_model`.
        source: A weights file, or for a multi-stream model a mapping from submodule name to
            file, e.g. ``{"rgb": "rgb_imagenet.pt", "flow": "flow_imagenet.pt"}`` for
            ``i3d_two_stream``.

    Returns:
        ``{"layout": ..., "replaced": [classifier keys kept fresh], "path": ...}`` (per stream for a
        mapping).

    Raises:
        ValueError: Keys or shapes do not fit; the message names the file and lists every
            missing key, unexpected key and shape mismatch.
    """
    if isinstance(source, Mapping):
        return {
            name: load_weights(model.get_submodule(name), path) for name, path in source.items()
        }
    state, ckpt = read_state(source)
    layout = "checkpoint" if ckpt else detect_layout(state)
    state = to_native(state, layout, model)
    own = model.state_dict()
    head = tuple(getattr(model, "head", ()))
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    replaced, mismatched = [], []
    for key in own.keys() & state.keys():
        if own[key].shape == state[key].shape:
            continue
        if key.startswith(head) and head:
            replaced.append(key)
        else:
            mismatched.append(
                f"{key}: file {tuple(state[key].shape)}, model {tuple(own[key].shape)}"
            )
    if missing or unexpected or mismatched:
        name = getattr(model, "config", {}).get("name", type(model).__name__)
        lines = [f"{source}: {layout} weights do not fit {name}"]
        for title, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape", mismatched),
        ):
            if items:
                shown = sorted(items)[:MAX_LISTED]
                more = f", ... {len(items) - len(shown)} more" if len(items) > len(shown) else ""
                lines.append(f"  {title} ({len(items)}): " + ", ".join(shown) + more)
        raise ValueError("\n".join(lines))
    merged = {**own, **{k: v for k, v in state.items() if k not in replaced}}
    model.load_state_dict(merged, strict=True)
    if ckpt.get("presets"):
        model.presets = {k: Preset.from_dict(v) for k, v in ckpt["presets"].items()}
    elif ckpt.get("preset") and hasattr(model, "presets"):
        model.preset = Preset.from_dict(ckpt["preset"])
    elif layout == "c3d_port":  # the port's weights expect its own input: raw RGB, 112 short side
        model.preset = preset("c3d_port")
    return {"layout": layout, "replaced": sorted(replaced), "path": str(source)}
