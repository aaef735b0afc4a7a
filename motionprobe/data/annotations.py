"""Kinetics-style split CSVs: read, checked, and each video listed once.

A split CSV lists one video per row (``label, youtube_id, time_start, time_end, split``; extra
columns are ignored). Annotation files gathered from several sources often repeat rows: an exact
repeat is dropped with one warning naming the file and how many, and a video listed with two
labels is refused, since no run can know which label is true.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from motionprobe.types import KINETICS_COLUMNS, RunError, kinetics_filename


def read_kinetics_csv(csv: str | Path) -> pd.DataFrame:
    """Read a Kinetics split CSV, checking its columns and dropping repeated rows.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it lacks any of :data:`~motionprobe.types.KINETICS_COLUMNS`.
        RunError: If it lists one video with two labels (see :func:`unique_rows`).
    """
    csv = Path(csv)
    if not csv.is_file():
        raise FileNotFoundError(f"split CSV {csv} not found")
    try:
        df = pd.read_csv(csv, dtype={"youtube_id": str, "label": str, "split": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"split CSV {csv} cannot be parsed: {e}") from e
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in KINETICS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"split CSV {csv} lacks columns {missing} (needs {list(KINETICS_COLUMNS)}, "
            f"has {list(df.columns)})"
        )
    return unique_rows(df, csv)


def video_id(youtube_id: object, start: object, end: object) -> str:
    """A row's video id: the stem of the file it names (its time range as written when that
    is not a number).

    >>> video_id(" abc ", "5", 15.0), video_id("abc", "x", 15)
    ('abc_000005_000015', 'abc_x_15')
    """
    try:
        return kinetics_filename(str(youtube_id).strip(), int(float(start)), int(float(end)), "")
    except (TypeError, ValueError):
        return f"{str(youtube_id).strip()}_{start}_{end}"


def unique_rows(df: pd.DataFrame, csv: str | Path) -> pd.DataFrame:
    """``df`` with every exact repeat of an earlier row dropped.

    Rows are compared on the Kinetics columns, surrounding spaces ignored. Dropped repeats are
    reported by one warning with their count and the file (a repeated row would otherwise
    count its video twice).

    Raises:
        RunError: A video (``youtube_id`` and time range) is listed with two labels; the
            message names the file, the video and the labels.
    """
    text = df[list(KINETICS_COLUMNS)].astype("string").apply(lambda col: col.str.strip())
    columns = (text["youtube_id"], text["time_start"], text["time_end"])
    ids = pd.Series([video_id(*row) for row in zip(*columns, strict=True)], index=text.index)
    counts = text["label"].groupby(ids).nunique()  # vectorised: no Python call per video
    clash = counts[counts > 1]
    if len(clash):
        names = sorted(str(n) for n in text["label"][ids == clash.index[0]].dropna().unique())
        raise RunError(
            f"{csv}: video {clash.index[0]} is listed with two labels ({', '.join(names)}); "
            "keep one row per video"
        )
    repeated = text.duplicated()
    if repeated.any():
        warnings.warn(
            f"{csv}: {int(repeated.sum())} duplicate rows dropped (each repeats an earlier row)",
            stacklevel=3,
        )
    return df[~repeated]
