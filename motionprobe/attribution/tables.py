"""Tables over attribution runs: one row per model and class, from the folders' files alone.

What the attribution study's report reads, public so that a notebook can compute the same
numbers from any set of :func:`~motionprobe.attribution.run.run_attribution` folders.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from motionprobe.runs import read_run

#: What :func:`attribution_report` reads from each model subfolder of the study.
ATTRIBUTION_TABLES = ("clips.csv", "class_summary.csv", "class_profiles.csv", "sanity.json")


def read_attribution_run(folder: Path) -> dict[str, Any]:
    """The tables of one model's :func:`motionprobe.attribution.run_attribution` folder."""
    missing = [n for n in ATTRIBUTION_TABLES if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)} (needed for the report)")

    run = read_run(folder)

    def csv(name: str) -> pd.DataFrame:
        # Class names such as "NA" or "null" must stay names, not become NaN.
        df = run.table(name, keep_default_na=False, na_values=[""])
        for col in ("class", "label", "pred", "target", "cue"):
            if col in df:
                df[col] = df[col].where(df[col].isna(), df[col].astype(str))
        return df

    return {
        "clips": csv("clips.csv"),
        "summary": csv("class_summary.csv"),
        "profiles": csv("class_profiles.csv"),
        "sanity": run.json("sanity.json"),
        "config": run.config,
        "bad": csv("bad_items.csv") if run.has("bad_items.csv") else pd.DataFrame(),
    }


def attribution_measures(runs: Mapping[str, dict]) -> pd.DataFrame:
    """Tidy ``class, measure, model, kind, share, sem``: each model's temporal share, and the
    flow share of two-stream models.

    Args:
        runs: ``{model: tables}`` of each model's subfolder (``summary``: its class summary).

    Returns:
        One row per class and measure; ``measure`` is ``"{model}: {kind}"``.

    Raises:
        ValueError: No summary has a temporal or a flow share.
    """
    frames = []
    for model, run in runs.items():
        summary = run["summary"]
        for col, kind in (("temporal_share", "temporal share"), ("flow_share", "flow share")):
            if col not in summary or summary[col].isna().all():
                continue
            sem = summary[f"{col}_sem"] if f"{col}_sem" in summary else np.nan
            frames.append(
                pd.DataFrame(
                    {
                        "class": summary["class"].astype(str),
                        "measure": f"{model}: {kind}",
                        "model": model,
                        "kind": kind,
                        "share": summary[col].astype(float),
                        "sem": sem,
                    }
                )
            )
    if not frames:
        raise ValueError(f"no temporal or flow share in the class summaries of {list(runs)}")
    return pd.concat(frames, ignore_index=True)


def cue_means(measures: pd.DataFrame, cues: Mapping[str, str]) -> pd.DataFrame:
    """Per measure and cue: classes, mean of the class means and its standard error over classes.

    Args:
        measures: The tidy table of :func:`attribution_measures` (or some of its rows).
        cues: ``{class: cue}``; classes of other cues, or of none, are left out.

    Returns:
        Columns ``measure, cue, classes, mean, sem`` (``sem`` is NaN for a single class).
    """
    rows = []
    for measure, sub in measures.groupby("measure", sort=False):
        for cue in ("appearance", "motion", "order"):
            v = sub.loc[sub["class"].map(cues).eq(cue), "share"].dropna().to_numpy(dtype=float)
            if not len(v):
                continue
            sem = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan
            rows.append((measure, cue, len(v), float(v.mean()), sem))
    return pd.DataFrame(rows, columns=["measure", "cue", "classes", "mean", "sem"])


def where_in_time(profiles: pd.DataFrame) -> pd.DataFrame:
    """Per class, from its mean profile over all inputs: frames, peak frame and its share, and
    the share of the middle half of the frames (0.5 when flat).

    Args:
        profiles: A model's ``class_profiles.csv`` (of two-stream models, the ``all`` stream).

    Returns:
        Columns ``class, frames, peak_frame, peak_share, centre_share`` (NaN below 4 frames).
    """
    df = profiles
    if "stream" in df:
        df = df[df["stream"].astype(str) == "all"]
    rows = []
    for cls, sub in df.groupby("class", sort=False):
        sub = sub.sort_values("frame")
        mean = sub["mean"].to_numpy(dtype=float)
        if not len(mean) or np.isnan(mean).all():
            continue
        k = int(np.nanargmax(mean))
        t = len(mean)
        centre = float(np.nansum(mean[t // 4 : t - t // 4])) if t >= 4 else np.nan
        rows.append((str(cls), t, int(sub["frame"].iloc[k]), float(mean[k]), centre))
    columns = ["class", "frames", "peak_frame", "peak_share", "centre_share"]
    return pd.DataFrame(rows, columns=columns)


def spearman_pairs(measures: pd.DataFrame) -> list[tuple[str, str, float, int]]:
    """Spearman correlation over classes between every pair of measures (3 or more classes).

    Args:
        measures: The tidy table of :func:`attribution_measures`.

    Returns:
        ``(measure a, measure b, rho, classes)`` per pair of measures, in their order.
    """
    wide = measures.pivot_table(index="class", columns="measure", values="share", sort=False)
    names = list(dict.fromkeys(measures["measure"]))
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = wide[[a, b]].dropna()
            if len(both) < 3 or both[a].nunique() < 2 or both[b].nunique() < 2:
                continue
            rho = float(spearmanr(both[a], both[b]).statistic)
            out.append((a, b, rho, len(both)))
    return out
