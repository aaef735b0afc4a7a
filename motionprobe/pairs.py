"""Reverse pairs: classes that are each other's temporal reverse, and where reversed clips go.

A model that reads the order of events sends a class's *reversed* clips to its reverse partner
(reversed "opening something" looks like "closing something"); one that ignores order keeps them
in their own class. :func:`reverse_partner_rates` measures this per pair from a probe run's
predictions; the pairs are the controls' ground truth (``classes.json``) or, on
Something-Something-V2, the shipped list (:func:`motionprobe.data.layouts.ssv2.reverse_pairs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from motionprobe.data.layouts.ssv2 import reverse_pairs
from motionprobe.data.synthetic import load_truth
from motionprobe.stats import CLEAN, bootstrap_mean_ci

#: The columns of :func:`reverse_partner_rates`.
PAIR_COLUMNS = [
    "class", "partner", "n", "clean_to_partner", "reverse_to_partner", "ci_low", "ci_high",
    "reverse_acc",
]  # fmt: skip


def known_reverse_pairs(data: str | Path | None, classes: Sequence[str]) -> list[tuple[str, str]]:
    """The reverse pairs among ``classes``: from the dataset's ``classes.json`` (the controls'
    ``reverse_partner``), else the Something-Something-V2 pairs whose two classes are there."""
    keep = set(classes)
    pairs: list[tuple[str, str]] = []
    if data is not None:
        truth = load_truth(data)
        for name, partner in zip(truth["name"], truth["reverse_partner"], strict=True):
            if (
                isinstance(partner, str)
                and {name, partner} <= keep
                and (partner, name) not in pairs
            ):
                pairs.append((name, partner))
    return pairs or reverse_pairs(list(classes))


def reverse_partner_rates(
    predictions: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    intervention: str = "reverse",
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per class of each pair, in both directions: how often its clips are predicted as its
    partner, clean and reversed.

    Args:
        predictions: A probe run's ``predictions.parquet`` (``clean`` and ``intervention`` rows).
        pairs: ``(a, b)`` classes that are each other's reverse.
        intervention: The reversal's label.

    Returns:
        :data:`PAIR_COLUMNS`: ``n`` clips (seeds averaged per clip), the clean and reversed
        shares predicted as the partner (the reversed one with a 95 % bootstrap CI over
        clips), and the reversed accuracy. Empty when the run has no such rows.
    """
    label = predictions["intervention"].astype(str)
    rows = []
    for a, b in pairs:
        for cls, partner in ((a, b), (b, a)):
            mine = predictions[predictions["label"] == cls]
            by = {}
            for name in (CLEAN, intervention):
                part = mine[label.loc[mine.index] == name]
                by[name] = (
                    part.assign(to=part["pred"] == partner)
                    .groupby(["video_id", "clip_index"])[["to", "correct"]]
                    .mean()
                )
            rev = by[intervention]
            if rev.empty:
                continue
            rng = np.random.default_rng([seed, len(rows)])
            low, high = bootstrap_mean_ci(rev["to"].to_numpy(float), n_boot, 0.95, rng)
            clean = by[CLEAN]["to"].mean() if len(by[CLEAN]) else np.nan
            rows.append((cls, partner, len(rev), clean, rev["to"].mean(), low, high,
                         rev["correct"].mean()))  # fmt: skip
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def pairs_section(table: pd.DataFrame, source: str) -> list[str]:
    """``## Reverse pairs``: the table, and how to read it (``source`` names where the pairs
    come from)."""
    if table.empty:
        return []
    lines = [
        f"| {r['class']} | {r.partner} | {r.n} | {r.clean_to_partner:.2f} | "
        f"{r.reverse_to_partner:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}] | {r.reverse_acc:.2f} |"
        for _, r in table.iterrows()
    ]
    return [
        "## Reverse pairs",
        "",
        f"Classes that are each other's temporal reverse ({source}). The partner rate is the "
        "share of a class's clips predicted as its partner: a model that reads the order of "
        "events sends reversed clips there; one that ignores order keeps them in their class.",
        "",
        "| class | partner | clips | clean → partner | reversed → partner [95 % CI] | "
        "reversed accuracy |",
        "| --- | --- | --- | --- | --- | --- |",
        *lines,
        "",
    ]
