"""What every study resolves once: its data, output folder, shared models, device and workers.

Studies that run in the same parent folder share the synthetic dataset
(``{parent}/synthetic``) and the trained models (``{parent}/models/{name}``), so each model
trains once for all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from motionprobe.data.synthetic import default_dataset
from motionprobe.models.checkpoint import two_stream_checkpoint
from motionprobe.models.sources import is_spec
from motionprobe.recipes import SMOKE
from motionprobe.train import TrainConfig, train


def trained(
    name: str, data: str | Path, out: str | Path, progress: bool = True, **overrides
) -> Path:
    """The best checkpoint of recipe ``name`` trained on ``data`` in ``out``, training if needed.

    A finished run (``out/result.json``) is reused as is, an unfinished one resumes, so studies
    that share a model train it once.

    Args:
        name: A recipe of :data:`RECIPES`.
        data: Dataset root.
        out: Run folder of the training.
        progress: Show progress bars.
        **overrides: Recipe fields to change (e.g. ``epochs``, ``device``).

    Returns:
        The path of ``out/checkpoints/best.pt``.
    """
    out = Path(out)
    best = out / "checkpoints" / "best.pt"
    if not ((out / "result.json").is_file() and best.is_file()):
        config = TrainConfig.from_recipe(name, data=str(data), out=str(out), **overrides)
        result = train(config, progress=progress)
        print(f"trained {name}: test acc {result.get('test_acc', float('nan')):.3f} -> {best}")
    return best


#: The models the studies train on their synthetic default, keyed by a short name. Studies that
#: run in the same parent folder share them (``{parent}/models/{name}``), so each trains once.
STUDY_MODELS = {
    "c3d": "c3d_synthetic",
    "i3d_rgb": "i3d_rgb_synthetic",
    "i3d_flow": "i3d_flow_synthetic",
    "convnet_lstm": "convnet_lstm_synthetic",
}


def study_model(
    name: str,
    models: str | Path,
    data: str | Path,
    smoke: bool = False,
    device: str = "cpu",
    progress: bool = True,
    truncated: str = "skip",
) -> Path:
    """A default model of the studies, trained on ``data`` into ``models/{name}`` if missing.

    ``i3d_two_stream`` joins the separately trained ``i3d_rgb`` and ``i3d_flow`` into one
    checkpoint, as Quo Vadis does (:func:`motionprobe.models.checkpoint.two_stream_checkpoint`).

    Args:
        name: A key of :data:`STUDY_MODELS`, or ``i3d_two_stream``.
        models: Folder of the shared models.
        data: Dataset root to train on.
        smoke: Train with the :data:`SMOKE` overrides (into ``models/{name}_smoke``).
        device: Torch device.
        progress: Show progress bars.
        truncated: The policy for truncated videos of ``data``.

    Returns:
        The checkpoint path.
    """
    models = Path(models)
    suffix = "_smoke" if smoke else ""
    if name == "i3d_two_stream":
        out = models / f"i3d_two_stream{suffix}.pt"
        if not out.is_file():
            rgb, flow = (
                study_model(s, models, data, smoke, device, progress, truncated)
                for s in ("i3d_rgb", "i3d_flow")
            )
            two_stream_checkpoint(rgb, flow, out)
        return out
    if name not in STUDY_MODELS:
        raise ValueError(
            f"unknown study model {name!r}; choose from {[*STUDY_MODELS, 'i3d_two_stream']}"
        )
    overrides = (dict(SMOKE) if smoke else {}) | {"truncated": truncated}
    return trained(
        STUDY_MODELS[name], data, models / f"{name}{suffix}", progress, device=device, **overrides
    )


def named_checkpoints(specs: list[str] | None) -> dict[str, Path]:
    """``{name: path}`` from repeated or comma-separated ``[name=]path`` command-line values.

    A path may be a model spec (:mod:`motionprobe.models.sources`), named after its model.
    An unnamed ``runs/x/checkpoints/best.pt`` is called ``x``, any other file by its stem; names
    that repeat get ``_2``, ``_3``, ... so that every model has its own folder and rows.

    >>> named_checkpoints(["c3d=a.pt,runs/i3d/checkpoints/best.pt", "b.pt", "b.pt"])
    {'c3d': PosixPath('a.pt'), 'i3d': PosixPath('runs/i3d/checkpoints/best.pt'), \
'b': PosixPath('b.pt'), 'b_2': PosixPath('b.pt')}
    """
    named: dict[str, Path] = {}
    for spec in specs or []:
        for item in filter(None, (s.strip() for s in spec.split(","))):
            name, sep, path = item.partition("=")
            if not sep and is_spec(item):  # torchvision:r3d_18@KINETICS400_V1 -> r3d_18
                path, name = item, re.split(r"[:@/]", item)[1]
            elif not sep:
                path = item
                p = Path(path)
                name = p.parent.parent.name if p.parent.name == "checkpoints" else p.stem
            if not name or not path:
                raise ValueError(f"{item!r}: expected [name=]path")
            base, k = name, 1
            while name in named:
                k += 1
                name = f"{base}_{k}"
            named[name] = Path(path)
    return named


@dataclass
class StudyContext:
    """The settings every study shares, resolved once.

    Attributes:
        out: The study's results folder.
        data: Dataset root: the user's, or the synthetic controls made on first use (``None``
            for a study that makes its own data).
        smoke: Tiny data and models (seconds), for tests.
        device: Torch device of every model the study trains or probes.
        workers: DataLoader workers.
        progress: Show progress bars.
        overwrite: Sub-runs replace earlier ones in ``out`` made with other settings.
        truncated: The policy for truncated videos of the data
            (:data:`motionprobe.video.TRUNCATED_POLICIES`), passed to every sub-run.
    """

    out: Path
    data: Path | None
    smoke: bool = False
    device: str = "cpu"
    workers: int = 0
    progress: bool = True
    overwrite: bool = False
    truncated: str = "skip"

    @classmethod
    def create(
        cls,
        out: str | Path,
        data: str | Path | None = None,
        smoke: bool = False,
        device: str = "cpu",
        workers: int = 0,
        progress: bool = True,
        make_data: bool = True,
        overwrite: bool = False,
        truncated: str = "skip",
    ) -> StudyContext:
        """A context; without ``data``, the synthetic controls beside ``out`` (made if missing
        and ``make_data``)."""
        out = Path(out)
        if data is None and make_data:
            suffix = "_smoke" if smoke else ""
            data = default_dataset(
                out.parent / f"synthetic{suffix}", smoke=smoke, progress=progress
            )
        data = None if data is None else Path(data)
        return cls(out, data, smoke, device, workers, progress, overwrite, truncated)

    @property
    def models(self) -> Path:
        """Folder of the models shared by the studies of one parent folder."""
        return self.out.parent / "models"

    @property
    def suffix(self) -> str:
        """``_smoke`` in smoke mode, so smoke and real models and data never mix."""
        return "_smoke" if self.smoke else ""

    def model(self, name: str) -> Path:
        """A default study model (:data:`STUDY_MODELS`) trained on the data, trained if missing."""
        return study_model(
            name, self.models, self.data, self.smoke, self.device, self.progress, self.truncated
        )
