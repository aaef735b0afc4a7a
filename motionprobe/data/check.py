"""Scan a dataset folder: which videos can be used, and why the others cannot.

:func:`check_dataset` probes (and optionally fully decodes) every video file under a root, checks
the rows of any Kinetics split CSVs there (missing files, unknown classes), writes one row per
video or row to a CSV, and prints a one-line summary.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from motionprobe import video
from motionprobe.data.annotations import read_kinetics_csv
from motionprobe.data.kinetics import LabelMap, _resolve_label_map, kinetics_index
from motionprobe.data.layouts import data_root, detect_layout, load_index
from motionprobe.io import hide_bars, write_csv
from motionprobe.types import KINETICS_COLUMNS, SPLITS, BadItem, VideoError

#: Columns of the table :func:`check_dataset` returns and writes.
CHECK_COLUMNS = ("path", "ok", "error", "frames", "fps", "width", "height")

#: Bytes of decoded frames held at once when ``decode=True`` (bounds memory on large videos).
_DECODE_BUDGET = 256 * 2**20


def _video_files(root: Path, exclude: Path | None = None) -> list[Path]:
    """Video files below ``root`` (through symlinked folders), hidden files and folders left
    out."""
    return [
        p
        for p in video.video_files(root)
        if not any(part.startswith(".") for part in p.relative_to(root).parts) and p != exclude
    ]


def _split_csvs(root: Path) -> list[Path]:
    """``{root}/{train,val,test}.csv`` and any other top-level CSV with the Kinetics columns."""
    found = []
    for p in sorted(root.glob("*.csv")):
        if p.stem in SPLITS:
            found.append(p)
            continue
        try:
            header = pd.read_csv(p, nrows=0).columns
        except Exception:  # noqa: BLE001 - not a CSV we understand: not a split CSV
            continue
        if all(c in header for c in KINETICS_COLUMNS):
            found.append(p)
    return found


def _decode_all(path: Path, info: Any) -> None:
    """Decode every frame of ``path``; raises :class:`VideoError` if the data ends early.

    Frames are read in chunks of at most :data:`_DECODE_BUDGET` bytes, so a long or large video
    never sits in memory whole.
    """
    n = int(info.num_frames)
    if n <= 0:
        raise VideoError(path, "no decodable video frames")
    chunk = max(16, _DECODE_BUDGET // max(1, int(info.width) * int(info.height) * 3))
    policy = "use" if info.truncated else "skip"
    for first in range(0, n, chunk):
        video.read_frames(path, range(first, min(first + chunk, n)), truncated=policy)


def _check_file(path: Path, frames: int, decode: bool, truncated: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(CHECK_COLUMNS)
    row.update(path=str(path), ok=False, error="")
    try:
        info = video.probe(path, truncated)
        row.update(
            frames=int(info.num_frames), fps=float(info.fps), width=info.width, height=info.height
        )
        if decode:
            _decode_all(path, info)
    except VideoError as e:
        row["error"] = e.reason
        return row
    except Exception as e:  # noqa: BLE001 - a scan never stops on one bad file
        row["error"] = f"unexpected {type(e).__name__}: {e}"
        return row
    if row["frames"] < frames:
        row["error"] = (
            f"shorter than the requested clip: {row['frames']} frames < {frames} "
            "(policy loop/pad can still use it)"
        )
        return row
    row["ok"] = True
    if info.truncated:  # usable under truncated="use", and said so
        row["error"] = f"truncated: {info.num_frames} decodable frames used (truncated='use')"
    return row


def error_kind(error: str) -> str:
    """A short kind for an error message (the text before its first ``:`` or ``(``).

    >>> error_kind("missing file: no abc.* under /data/val/x")
    'missing file'
    """
    kind = re.split(r"[:(]", str(error), maxsplit=1)[0].strip()
    kind = re.sub(r"\s*['\"].*$", "", kind).strip()  # "unknown class 'x'" -> "unknown class"
    return kind or "error"


#: ``check_dataset(out=AUTO)``: ``ROOT/check.csv``, or ``./check.csv`` when ROOT is read-only.
AUTO = "auto"


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried, since permission bits do not tell
    for a read-only mount or a privileged user)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _out_path(root: Path, out: str | Path | None) -> Path | None:
    """Where the table goes: ``out``, or for :data:`AUTO` ``root/check.csv`` (the current
    folder's ``check.csv`` when ``root`` is not writable, said on stderr)."""
    if out is None:
        return None
    if str(out) != AUTO:
        return Path(out).resolve()
    if _writable(root):
        return (root / "check.csv").resolve()
    path = Path("check.csv").resolve()
    print(f"check: {root} is not writable; writing the table to {path}", file=sys.stderr)
    return path


def _index_bad(spec: Any, root: Path, layout: str, classes: list[str] | None) -> list[BadItem]:
    """The rows of the layout's split files that cannot be used (unknown class, missing file,
    malformed file); for Kinetics, every CSV with its columns, whatever its split names."""
    bad: list[BadItem] = []
    if layout != "kinetics":  # flat class folders answer every split alike: each reason once
        for split in SPLITS:
            try:
                bad += load_index(spec, split, label_map=classes).bad
            except FileNotFoundError:
                continue  # the layout has no such split
            except ValueError as e:
                bad.append(BadItem("", str(root), f"unreadable {split} split: {e}"))
        return list({(b.path, b.reason): b for b in bad}.values())
    for csv in _split_csvs(root):
        try:
            splits = read_kinetics_csv(csv)["split"].dropna().astype(str).str.strip().unique()
        except ValueError as e:
            bad.append(BadItem("", str(csv), f"malformed split CSV: {e}"))
            continue
        for split in splits:
            bad += kinetics_index(root, split, csv=csv, label_map=classes).bad
    return bad


def check_dataset(
    root: str | Path,
    out: str | Path | None = AUTO,
    frames: int = 16,
    decode: bool = True,
    label_map: LabelMap = None,
    progress: bool = True,
    truncated: str = "skip",
) -> pd.DataFrame:
    """Check every video under ``root`` and every row of its split CSVs.

    Each video file (any :data:`~motionprobe.types.VIDEO_EXTENSIONS` suffix, any case, recursive) is
    probed and, with ``decode``, decoded to its last frame to catch truncation; a video with fewer
    than ``frames`` frames is reported (loop/pad policies can still use it). Rows of Kinetics split
    CSVs in ``root`` whose file is missing, or whose class is not in ``label_map``, are reported
    too. Never raises for a bad video.

    Args:
        root: Dataset root.
        out: CSV to write atomically; :data:`AUTO` (``"auto"``): ``root/check.csv``, or
            ``check.csv`` in the current folder when ``root`` is not writable; None: do not
            write.
        frames: Clip length the dataset will be read with.
        decode: Decode every frame (slow, thorough) rather than only probing.
        label_map: Label map file or class names; CSV rows of other classes are bad.
        truncated: ``use``: a truncated video is ok when its decodable frames suffice (its
            ``error`` then says how many were used), as runs with that policy read it.
        progress: Show a tqdm progress bar.

    Returns:
        One row per video file or bad CSV row: ``path, ok, error, frames, fps, width, height``.

    Raises:
        FileNotFoundError: If ``root`` does not exist.

    >>> table = check_dataset("data/k400", frames=32)  # doctest: +SKIP
    checked 1234 videos (kinetics layout): 1230 ok, 4 bad (truncated: 3, missing file: 1) -> ...
    """
    spec = root
    root = data_root(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} does not exist or is not a folder")
    layout = detect_layout(spec).name
    out_path = _out_path(root, out)
    classes = _resolve_label_map(label_map)

    files = _video_files(root, exclude=out_path)
    rows: dict[str, dict[str, Any]] = {}
    for path in tqdm(files, desc="check", unit="video", disable=hide_bars(progress)):
        rows[str(path)] = _check_file(path, frames, decode, truncated)
    for item in _index_bad(spec, root, layout, classes):
        row = rows.get(item.path)
        if row is None:
            row = {**dict.fromkeys(CHECK_COLUMNS), "path": item.path, "ok": False}
            row["error"] = item.reason
            rows[item.path] = row
        else:
            row["ok"] = False
            row["error"] = "; ".join(e for e in (row["error"], item.reason) if e)

    table = pd.DataFrame(list(rows.values()), columns=list(CHECK_COLUMNS))
    table["ok"] = table["ok"].astype(bool)
    table["error"] = table["error"].fillna("").astype(str)
    table["frames"] = table["frames"].astype("Int64")
    table["width"] = table["width"].astype("Int64")
    table["height"] = table["height"].astype("Int64")
    table["fps"] = table["fps"].astype(float)

    n_ok = int(table["ok"].sum())
    n_bad = len(table) - n_ok
    kinds = Counter(error_kind(e.split("; ")[0]) for e in table.loc[~table["ok"], "error"])
    detail = ", ".join(f"{k}: {n}" for k, n in kinds.most_common())
    summary = f"checked {len(table)} videos ({layout} layout): {n_ok} ok, {n_bad} bad"
    if detail:
        summary += f" ({detail})"
    if out_path is not None:
        write_csv(out_path, table)
        summary += f" -> {out_path}"
    print(summary)
    return table
