"""Typed run configs and results, and one reader for every run folder.

Each kind of run (probe, bias, attribution, generator, evaluation; training has
:class:`motionprobe.train.TrainConfig`) is described by a frozen dataclass registered here under
its kind. The dataclass is the one place its parameters and defaults are written: the run
function builds it from its arguments, the command line takes its defaults from it, and the run
writes it, resolved (absolute paths, the interventions as run, the model's own classes and clip
length), verbatim to ``config.json`` under ``"run": kind``. :func:`read_run` opens any run folder
and gives the config back typed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pandas as pd
import torch

from motionprobe.io import write_json
from motionprobe.types import RunError, absolute_data

#: ``{kind: config class}`` of every registered kind of run.
RUNS: dict[str, type[RunConfig]] = {}

C = TypeVar("C", bound="RunConfig")


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: paths as strings, tuples as lists, presets as dicts.

    An object JSON cannot hold (a module passed as the model) is recorded by its type's name.

    >>> plain({"a": (Path("x"), 1.5), "b": None})
    {'a': ['x', 1.5], 'b': None}
    """
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "to_dict"):
        return plain(value.to_dict())
    return type(value).__name__


#: Fields that count something and must be at least 1 wherever a run config has them.
COUNTS = ("batch_size", "forward_batch", "num_clips", "num_crops", "epochs", "samples", "width",
          "clips_per_class")  # fmt: skip


@dataclass(frozen=True)
class RunConfig:
    """Base of the typed run configs: conversion to and from ``config.json``, and the checks
    every run shares (counts at least 1, workers at least 0) made when the config is built,
    before any work."""

    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for name in COUNTS:
            value = getattr(self, name, None)
            if isinstance(value, int) and not isinstance(value, bool) and value < 1:
                raise RunError(f"{name} must be at least 1, got {value}")
        if getattr(self, "workers", 0) < 0:
            raise RunError(f"workers must be at least 0, got {self.workers}")

    @classmethod
    def of(cls: type[C], first: Any, *args: Any, **options: Any) -> C:
        """The config of a call: ``first`` when it already is one (``options`` override its
        fields), else ``cls(first, *args, **options)``.

        Raises:
            TypeError: An option that is not a field, or a missing required one.
        """
        if isinstance(first, cls):
            if any(a is not None for a in args):
                raise TypeError(f"pass either a {cls.__name__} or its fields, not both")
            return replace(first, **options)
        return cls(first, *args, **options)

    def to_dict(self) -> dict:
        """Every field, as JSON can hold it (see :func:`plain`)."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls: type[C], config: Mapping[str, Any]) -> C:
        """The config from a ``config.json``'s entries (other entries are ignored).

        Raises:
            ValueError: A required field is missing.
        """
        names = {f.name for f in fields(cls)}
        missing = [
            f.name
            for f in fields(cls)
            if f.name not in config and f.default is MISSING and f.default_factory is MISSING
        ]
        if missing:
            raise ValueError(f"a {cls.kind} run's config needs {missing}")
        return cls(**{k: v for k, v in config.items() if k in names})

    def resolved(self: C, target_info: Mapping[str, Any] | None = None, **changes: Any) -> C:
        """What the run writes: ``data`` absolute, ``out`` a string, the checkpoint's resolved
        path from the model adapter's ``target_info`` (when it has one), then ``changes``."""
        base: dict[str, Any] = {"data": absolute_data(self.data), "out": str(self.out)}
        if target_info and "checkpoint" in target_info:
            base["checkpoint"] = target_info["checkpoint"]
        return replace(self, **{**base, **changes})

    @classmethod
    def default(cls, name: str) -> Any:
        """A field's default (what the command line shows and uses)."""
        for f in fields(cls):
            if f.name == name:
                if f.default is not MISSING:
                    return f.default
                if f.default_factory is not MISSING:
                    return f.default_factory()
                raise ValueError(f"{cls.__name__}.{name} is required; it has no default")
        raise KeyError(f"{cls.__name__} has no field {name!r}")


@dataclass
class RunResult:
    """Base of the typed run results: conversion to a plain dict (for JSON and printing)."""

    def to_dict(self) -> dict:
        """Every field, as JSON can hold it (see :func:`plain`)."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


def register_run(kind: str):
    """Class decorator: register a :class:`RunConfig` subclass as the config of ``kind`` runs."""

    def add(cls: type[C]) -> type[C]:
        if kind in RUNS and RUNS[kind] is not cls:
            raise ValueError(f"run kind {kind!r} is already registered to {RUNS[kind].__name__}")
        cls.kind = kind
        RUNS[kind] = cls
        return cls

    return add


@dataclass(frozen=True)
class RunFolder:
    """A run's output folder: its ``config.json`` and its tables.

    Attributes:
        path: The folder.
        config: ``config.json`` as written (empty when the folder has none).
    """

    path: Path
    config: dict

    @property
    def kind(self) -> str | None:
        """The kind of run that wrote the folder (``probe``, ``bias``, ...), if recorded."""
        return self.config.get("run")

    def typed(self) -> RunConfig:
        """The run's config as its registered dataclass.

        Raises:
            ValueError: The folder records no kind of run, or one not registered.
        """
        if self.kind not in RUNS:
            raise ValueError(
                f"{self.path / 'config.json'}: records run kind {self.kind!r}; "
                f"known: {sorted(RUNS)}"
            )
        return RUNS[self.kind].from_dict(self.config)

    def has(self, name: str) -> bool:
        """Whether the folder holds file ``name``."""
        return (self.path / name).is_file()

    def table(self, name: str, **read_options: Any) -> pd.DataFrame:
        """A CSV or Parquet table of the run (``read_options`` go to pandas' reader).

        Raises:
            FileNotFoundError: The folder has no such table.
        """
        path = self.path / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; is {self.path} a finished run folder?")
        if path.suffix == ".parquet":
            return pd.read_parquet(path, **read_options)
        return pd.read_csv(path, **read_options)

    def json(self, name: str) -> Any:
        """A JSON file of the run.

        Raises:
            FileNotFoundError: The folder has no such file.
        """
        path = self.path / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; is {self.path} a finished run folder?")
        return json.loads(path.read_text(encoding="utf-8"))


def file_digest(path: str | Path | None) -> str | None:
    """SHA-256 of a file's bytes (``None`` for no file): a checkpoint's identity is its content,
    not its path, since training may rewrite ``best.pt`` between two runs."""
    if path is None:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def module_digest(module: Any) -> str:
    """SHA-256 of a module's parameters and buffers (names, shapes, values)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def checkpoint_digest(checkpoint: Any) -> str | None:
    """SHA-256 of a checkpoint: of its file's bytes (:func:`file_digest`), or of a module's
    weights (:func:`module_digest`) when a model object was given instead of a file."""
    if isinstance(checkpoint, torch.nn.Module):
        return module_digest(checkpoint)
    return file_digest(checkpoint)


def identity_differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """The keys of two run fingerprints whose values differ, sorted.

    >>> identity_differences({"data": "a", "seed": 0}, {"data": "b", "seed": 0})
    ['data']
    """
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


def clear_outputs(folder: Path, names: Sequence[str]) -> None:
    """Remove a run's derived files and folders ``names`` from ``folder`` (those that exist),
    so that nothing of an earlier run survives beside the next one's."""
    for name in names:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


@dataclass(frozen=True)
class Outputs:
    """What one kind of run writes into its folder, for :func:`claim_folder`.

    Attributes:
        kind: The kind of run (``probe``, ``bias``, ...), as its ``config.json`` records it.
        names: Every file and folder the run (and a report rendered over it) derives there:
            removed before a run replaces another, so that nothing of the old run survives.
        stamp: The file, relative to the folder, holding the fingerprint of the run under way;
            the run removes it when it finishes, so a stamp left behind marks an unfinished run.
        results: Files whose presence marks a finished run.
    """

    kind: str
    names: tuple[str, ...]
    stamp: str
    results: tuple[str, ...]


def claim_folder(
    out: Path, outputs: Outputs, identity: Mapping[str, Any], overwrite: bool, fresh: bool = False
) -> None:
    """Stamp ``out`` with a run's fingerprint before the run writes anything there.

    A run (finished or not) already in ``out`` with another fingerprint is refused unless
    ``overwrite`` (then every one of its ``outputs.names`` is removed first); one with the same
    fingerprint is resumed or rewritten in place.

    Args:
        out: The run folder (it exists: the run holds its lock).
        outputs: What this kind of run writes.
        identity: The run's fingerprint (what its results depend on, files by their content).
        overwrite: Discard a run of this kind made with another fingerprint.
        fresh: Remove the outputs of a finished run with the same fingerprint too (for runs that
            do not rewrite every file, so none of the last run's files stays beside the new).

    Raises:
        RunError: ``out`` holds a run with another fingerprint (and no ``overwrite``), or the
            results of something other than this kind of run.
    """
    stamp = out / outputs.stamp
    ours = stamp.is_file() or read_run(out).config.get("run") == outputs.kind
    present = [n for n in outputs.results if (out / n).exists()]
    if overwrite and ours:
        clear_outputs(out, outputs.names)
    elif stamp.is_file():
        before = json.loads(stamp.read_text(encoding="utf-8"))
        refuse_other(out, outputs.kind, "an unfinished", before, identity)
    elif present:
        if not ours:
            raise RunError(f"{out}: holds {present[0]} of something other than a "
                           f"{outputs.kind} run; use another --out")  # fmt: skip
        before = read_run(out).config.get("fingerprint")
        refuse_other(out, outputs.kind, "a finished", before, identity)
        if fresh:
            clear_outputs(out, outputs.names)
    write_json(stamp, dict(identity))


def refuse_other(
    out: Path, kind: str, state: str, before: Mapping[str, Any] | None, identity: Mapping[str, Any]
) -> None:
    """Raise :class:`RunError` unless ``before`` is the same fingerprint as ``identity``.

    The message names the keys that differ and the two ways out.

    >>> try:
    ...     refuse_other(Path("runs/a"), "bias", "a finished", {"seed": 0}, {"seed": 1})
    ... except RunError as err:
    ...     print(str(err).replace("; ", "\\n"))
    runs/a: holds a finished bias run with another seed
    use another --out, or --overwrite to discard it
    """
    if not before:
        what = "made by an older version (no fingerprint)"
    else:
        differ = identity_differences(before, identity)
        if not differ:
            return
        what = f"with another {', '.join(differ)}"
    raise RunError(
        f"{out}: holds {state} {kind} run {what}; use another --out, or --overwrite to discard it"
    )


def read_run(path: str | Path) -> RunFolder:
    """Open a run folder written by any of the toolkit's runs or studies.

    Raises:
        FileNotFoundError: ``path`` is not a folder.
        ValueError: Its ``config.json`` is not a JSON object.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such run folder")
    config_path = folder / "config.json"
    config: Any = {}
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{config_path}: not valid JSON ({err})") from err
    if not isinstance(config, dict):
        raise ValueError(f"{config_path}: expected a JSON object, got {type(config).__name__}")
    return RunFolder(folder, config)


__all__ = [
    "RUNS",
    "Outputs",
    "RunConfig",
    "RunFolder",
    "RunResult",
    "checkpoint_digest",
    "claim_folder",
    "clear_outputs",
    "file_digest",
    "identity_differences",
    "module_digest",
    "plain",
    "read_run",
    "refuse_other",
    "register_run",
]
