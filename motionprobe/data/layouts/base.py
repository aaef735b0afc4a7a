"""What a dataset layout is, the registry of layouts, and the ``--data`` spec that picks one.

A layout is one module of this package: a :class:`Layout` with a ``detect`` test (does this
root look like me?) and an ``index`` function (a split of it as a
:class:`~motionprobe.data.kinetics.DatasetIndex`), passed to :func:`register_layout`. The
package imports every module, so a new layout is one new file (and its test).

``--data`` is a path, or ``LAYOUT[@FOLD]:PATH`` to force a layout (and choose the official
split of UCF101/HMDB51): ``ucf101@2:/data/UCF101``. :func:`load_index` detects the layout of a
bare path by trying every layout in ``priority`` order and, when none matches, says what each
looked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from motionprobe.data.kinetics import DatasetIndex, LabelMap
from motionprobe.types import DATA_SPEC

#: ``index(root, split, label_map, fold) -> DatasetIndex``.
IndexFn = Callable[[Path, str, LabelMap, int | None], DatasetIndex]


@dataclass(frozen=True)
class Layout:
    """One way datasets are kept on disk.

    Attributes:
        name: Registry key, used in ``--layout`` and in ``LAYOUT:PATH`` specs.
        looks_for: What ``detect`` looks for, in words (the error for an unknown root lists it).
        detect: Whether a root looks like this layout (cheap: a few file tests).
        index: A split of the root as records, class order and bad rows.
        priority: Detection order (lower first): specific layouts before the generic ones.
        folds: The official split numbers it takes (UCF101 and HMDB51: 1-3); empty: none.
    """

    name: str
    looks_for: str
    detect: Callable[[Path], bool]
    index: IndexFn
    priority: int = 50
    folds: tuple[int, ...] = ()


#: Every registered layout by name (:func:`register_layout` adds one).
LAYOUTS: dict[str, Layout] = {}


def register_layout(layout: Layout) -> Layout:
    """Add a layout to :data:`LAYOUTS` (a name may be registered once)."""
    if layout.name in LAYOUTS:
        raise ValueError(f"layout {layout.name!r} is already registered")
    LAYOUTS[layout.name] = layout
    return layout


@dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` value: the root, and the forced layout and fold if any.

    >>> DataSpec.parse("ucf101@2:/data/UCF101")
    DataSpec(root=PosixPath('/data/UCF101'), layout='ucf101', fold=2)
    >>> DataSpec.parse("data/synth")
    DataSpec(root=PosixPath('data/synth'), layout=None, fold=None)
    """

    root: Path
    layout: str | None = None
    fold: int | None = None

    @classmethod
    def parse(cls, data: str | Path | DataSpec) -> DataSpec:
        """A spec from ``PATH`` or ``LAYOUT[@FOLD]:PATH`` (a path that exists is a path)."""
        if isinstance(data, DataSpec):
            return data
        text = str(data)
        match = DATA_SPEC.match(text)
        if match is None or Path(text).exists() or match["layout"] not in LAYOUTS:
            return cls(Path(text))
        fold = int(match["fold"]) if match["fold"] else None
        return cls(Path(match["root"]), match["layout"], fold)

    def __str__(self) -> str:
        if self.layout is None:
            return str(self.root)
        return f"{self.layout}{'' if self.fold is None else f'@{self.fold}'}:{self.root}"


def require_split(root: Path, dataset: str, split: str | None, splits: tuple[str, ...]) -> str:
    """``split`` when ``dataset`` has it; else FileNotFoundError (the split does not exist)."""
    if split not in splits:
        raise FileNotFoundError(
            f"{root}: {dataset} has the splits {', '.join(splits)}, not {split!r}"
        )
    return split


def data_spec(root: str | Path, layout: str | None = None, fold: int | None = None) -> str:
    """The ``--data`` text of a root with an optional forced layout and fold (what the CLI's
    ``--layout`` and ``--fold`` make)."""
    spec = DataSpec.parse(root)
    layout = layout or spec.layout
    fold = fold if fold is not None else spec.fold
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {sorted(LAYOUTS)}")
    if fold is not None and layout is None:  # the fold of the layout the root has
        layout = detect_layout(spec.root).name
    spec = DataSpec(spec.root, layout, fold)
    detect_layout(spec)  # a fold the layout does not take is refused here, before any work
    return str(spec)


def data_root(data: str | Path | DataSpec) -> Path:
    """The folder a ``--data`` value names."""
    return DataSpec.parse(data).root


def detect_layout(data: str | Path | DataSpec) -> Layout:
    """The layout of ``data``: the forced one, else the first whose ``detect`` matches.

    Raises:
        FileNotFoundError: The root does not exist.
        ValueError: No layout matches (the message lists what each looked for), or a fold is
            given for a layout without folds, or one out of range.
    """
    spec = DataSpec.parse(data)
    if not spec.root.is_dir():
        raise FileNotFoundError(f"dataset root {spec.root} not found")
    if spec.layout is not None:
        layout = LAYOUTS[spec.layout]
    else:
        ordered = sorted(LAYOUTS.values(), key=lambda lay: lay.priority)
        layout = next((lay for lay in ordered if lay.detect(spec.root)), None)
        if layout is None:
            looked = "; ".join(f"{lay.name}: {lay.looks_for}" for lay in ordered)
            raise ValueError(f"{spec.root}: no known dataset layout; looked for {looked}")
    if spec.fold is not None and spec.fold not in layout.folds:
        allowed = f"one of {list(layout.folds)}" if layout.folds else "none"
        raise ValueError(f"{spec}: layout {layout.name} takes folds {allowed}, not {spec.fold}")
    return layout


def has_split(data: str | Path | DataSpec, split: str, label_map: LabelMap = None) -> bool:
    """Whether the dataset has videos in ``split`` (UCF101, HMDB51 and Diving48 have no val)."""
    try:
        return bool(load_index(data, split, label_map).records)
    except FileNotFoundError:
        return False


def load_index(
    data: str | Path | DataSpec, split: str | None, label_map: LabelMap = None
) -> DatasetIndex:
    """Index one split of a dataset in any registered layout (detected, or forced by the spec).

    Args:
        data: A root, or ``LAYOUT[@FOLD]:PATH``.
        split: ``train``, ``val`` or ``test`` (``None``: class folders without a split level).
        label_map: Label map file or class names (default: the layout's own class order).

    Returns:
        The index, its ``layout`` naming the layout it was read as.

    Raises:
        FileNotFoundError: The root, or the split in this layout, does not exist.
        ValueError: No layout matches (see :func:`detect_layout`), or a split file is malformed.

    >>> index = load_index("data/synth", "train")  # doctest: +SKIP
    >>> index.layout, index.classes[:2], len(index.records), len(index.bad)  # doctest: +SKIP
    """
    spec = DataSpec.parse(data)
    layout = detect_layout(spec)
    index = layout.index(spec.root, split, label_map, spec.fold)
    index.layout = layout.name
    return index
