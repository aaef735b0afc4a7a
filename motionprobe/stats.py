"""Per-class statistics of a probing run: paired accuracy drops, bootstrap CIs, tests, taxonomy.

Everything here reads the tidy predictions table of a run (``predictions.parquet``: one row per
clip x intervention x seed, see ``docs/design.md#predictions-table``) or the tables derived
from it, and returns pandas DataFrames. No model is needed: any result can be re-analysed from
its files.

A *clip* is ``(video_id, clip_index)``. When an intervention was run with several seeds, a clip's
correctness is first averaged over its seeds, so every clip weighs the same whatever its seed count.
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Mapping, Sequence
from itertools import product

import numpy as np
import pandas as pd
from scipy import stats as sps

from motionprobe.interventions import INTERVENTIONS
from motionprobe.types import CUES, VERDICTS

CLEAN = "clean"

#: Columns of :func:`per_class`, in order.
PER_CLASS_COLUMNS = (
    "class",
    "intervention",
    "n",
    "acc",
    "acc_clean",
    "drop",
    "ci_low",
    "ci_high",
    "p_value",
    "q_value",
    "precision",
    "precision_clean",
    "precision_drop",
    "n_pred",
    "top_pred",
    "top_pred_share",
    "top_wrong",
    "top_wrong_share",
)

#: Verdict expected for each ground-truth cue of a synthetic class.
EXPECTED_VERDICT = {
    "appearance": "single_frame",
    "motion": "bag_of_frames",
    "order": "ordered_sequence",
}

_CLIP = ["video_id", "clip_index"]
_MAX_DRAWS = 4_000_000  # elements per bootstrap/permutation chunk (bounds memory)
_EXACT_SIGN_FLIP = 12  # enumerate all 2**m sign vectors up to this many non-zero differences


# --------------------------------------------------------------------------------------------
# small numerical helpers
# --------------------------------------------------------------------------------------------


def _rng(seed: int, *names: str) -> np.random.Generator:
    """A generator that depends on ``seed`` and the names only (not on which other rows exist)."""
    return np.random.default_rng([int(seed), *(zlib.crc32(str(n).encode()) for n in names)])


def bootstrap_mean_ci(
    values: np.ndarray, n_boot: int = 2000, ci: float = 0.95, rng: np.random.Generator | None = None
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (shape ``(n,)``), vectorised.

    Replicates are drawn as an ``(n_boot, n)`` index matrix (in chunks that bound memory), so
    there is no Python loop over replicates. A constant sample gets the degenerate CI
    ``(v, v)``; an empty one ``(nan, nan)``.

    >>> bootstrap_mean_ci(np.ones(10))
    (1.0, 1.0)
    """
    values = np.asarray(values, dtype=float)
    n = values.size
    if n == 0:
        return float("nan"), float("nan")
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    rng = rng if rng is not None else np.random.default_rng(0)
    chunk = max(1, _MAX_DRAWS // n)
    means = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[idx].mean(axis=1)
    alpha = (1.0 - ci) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def sign_flip_pvalue(
    diffs: np.ndarray, n_perm: int = 2000, rng: np.random.Generator | None = None
) -> float:
    """Two-sided paired sign-flip permutation test of ``mean(diffs) == 0``.

    Zero differences do not change the statistic ``|sum(diffs)|`` under any sign flip and are
    dropped. With at most 12 non-zero differences all ``2**m`` sign vectors are enumerated (exact
    p); otherwise ``n_perm`` random sign vectors give ``(1 + k) / (1 + n_perm)``.

    >>> sign_flip_pvalue(np.zeros(5))
    1.0
    """
    d = np.asarray(diffs, dtype=float)
    d = d[d != 0]
    m = d.size
    if m == 0:
        return 1.0
    observed = abs(d.sum()) - 1e-12
    if m <= _EXACT_SIGN_FLIP:
        signs = np.array(list(product((1.0, -1.0), repeat=m)))
        return float(np.mean(np.abs(signs @ d) >= observed))
    rng = rng if rng is not None else np.random.default_rng(0)
    chunk = max(1, _MAX_DRAWS // m)
    hits = 0
    for start in range(0, n_perm, chunk):
        k = min(n_perm, start + chunk) - start
        signs = rng.integers(0, 2, size=(k, m)) * 2.0 - 1.0
        hits += int(np.sum(np.abs(signs @ d) >= observed))
    return float((1 + hits) / (1 + n_perm))


def mcnemar_exact(clean: np.ndarray, other: np.ndarray) -> float:
    """Exact two-sided McNemar test for paired 0/1 correctness (binomial test on discordant pairs).

    >>> mcnemar_exact(np.array([1, 1, 0]), np.array([1, 1, 0]))
    1.0
    """
    clean = np.asarray(clean).astype(bool)
    other = np.asarray(other).astype(bool)
    b = int(np.sum(clean & ~other))
    c = int(np.sum(~clean & other))
    if b + c == 0:
        return 1.0
    return _binom_two_sided(b, b + c)


@functools.lru_cache(maxsize=65536)
def _binom_two_sided(k: int, n: int) -> float:
    """Exact two-sided binomial test p of ``k`` successes in ``n`` at 0.5 (cached: many repeats)."""
    return float(sps.binomtest(k, n, 0.5, alternative="two-sided").pvalue)


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); NaNs stay NaN and are not counted.

    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=float)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    pv = p[ok]
    order = np.argsort(pv, kind="mergesort")
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.clip(ranked, 0.0, 1.0)
    q[ok] = out
    return q


# --------------------------------------------------------------------------------------------
# per-clip tables
# --------------------------------------------------------------------------------------------


def _prepare(predictions: pd.DataFrame) -> pd.DataFrame:
    """Copy of the needed columns with plain dtypes, a float ``correct`` and a per-row weight.

    The weight is ``1 / (number of seed rows of that clip under that intervention)``, so that
    prediction counts (precision, top_pred) are in clip units whatever the seed count.
    """
    required = {"video_id", "label", "intervention", "pred", "correct"}
    missing = required - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions table lacks columns {sorted(missing)}")
    df = pd.DataFrame(
        {
            "video_id": predictions["video_id"].astype(str).to_numpy(dtype=object),
            "clip_index": (
                predictions["clip_index"].to_numpy()
                if "clip_index" in predictions
                else np.zeros(len(predictions), dtype=int)
            ),
            "label": predictions["label"].astype(str).to_numpy(dtype=object),
            "intervention": predictions["intervention"].astype(str).to_numpy(dtype=object),
            "pred": predictions["pred"].astype(str).to_numpy(dtype=object),
            "correct": predictions["correct"].astype(float).to_numpy(),
        }
    )
    size = df.groupby(["intervention", *_CLIP], sort=False)["correct"].transform("size")
    df["w"] = 1.0 / size.to_numpy(dtype=float)
    return df


def clip_correctness(predictions: pd.DataFrame) -> pd.DataFrame:
    """Correctness per clip and intervention, averaged over seeds.

    Returns:
        Columns ``intervention, video_id, clip_index, label, correct, n_seeds``; ``correct`` is
        in ``[0, 1]`` (a share of seeds when several seeds were run).
    """
    df = _prepare(predictions)
    return (
        df.groupby(["intervention", *_CLIP], sort=False)
        .agg(label=("label", "first"), correct=("correct", "mean"), n_seeds=("correct", "size"))
        .reset_index()
    )


def accuracy_by_intervention(
    predictions: pd.DataFrame, n_boot: int = 2000, ci: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Overall accuracy per intervention with a bootstrap CI over clips (seeds averaged first).

    Returns:
        Columns ``intervention, n, acc, ci_low, ci_high``; ``clean`` first, then the others in
        order of appearance.
    """
    clips = clip_correctness(predictions)
    names = list(dict.fromkeys(clips["intervention"]))
    names = [n for n in names if n == CLEAN] + [n for n in names if n != CLEAN]
    rows = []
    for name in names:
        v = clips.loc[clips["intervention"] == name, "correct"].to_numpy()
        low, high = bootstrap_mean_ci(v, n_boot, ci, _rng(seed, "overall", name))
        rows.append(
            {"intervention": name, "n": v.size, "acc": v.mean(), "ci_low": low, "ci_high": high}
        )
    return pd.DataFrame(rows, columns=["intervention", "n", "acc", "ci_low", "ci_high"])


# --------------------------------------------------------------------------------------------
# per-class table
# --------------------------------------------------------------------------------------------


def _prediction_tables(df: pd.DataFrame) -> tuple[dict, dict, dict]:
    """Per intervention (clip units): ``(precision, n_pred)`` by predicted class; by label, the
    top prediction and its share, of all and of wrong ones: ``{iv: {label: (pred, share)}}``."""
    mass = df.groupby(["intervention", "pred"], sort=False)["w"].sum()
    hit = df[df["pred"] == df["label"]].groupby(["intervention", "pred"], sort=False)["w"].sum()
    precision = (hit.reindex(mass.index).fillna(0.0) / mass).astype(float)
    prec: dict[str, tuple[dict, dict]] = {}
    for (name, pred), m, p in zip(mass.index, mass.to_numpy(), precision.to_numpy(), strict=True):
        by_pred, n_pred = prec.setdefault(name, ({}, {}))
        by_pred[pred], n_pred[pred] = float(p), float(m)
    keys = ["intervention", "label"]
    pairs = df.groupby([*keys, "pred"], sort=False)["w"].sum().reset_index()
    pairs["share"] = pairs["w"] / pairs.groupby(keys)["w"].transform("sum")
    pairs = pairs.sort_values([*keys, "share", "pred"], ascending=[True, True, False, True])
    tops: list[dict[str, dict]] = [{}, {}]
    for top, sub in zip(tops, (pairs, pairs[pairs["pred"] != pairs["label"]]), strict=True):
        for name, label, pred, share in sub.drop_duplicates(keys)[[*keys, "pred", "share"]].values:
            top.setdefault(name, {})[label] = (pred, float(share))
    return prec, tops[0], tops[1]


def per_class(
    predictions: pd.DataFrame,
    classes: Sequence[str] | None = None,
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-class accuracy drop under each intervention, with paired CIs, tests and precision.

    Clips are paired: a class's ``drop`` is ``acc_clean - acc`` over the clips that were run both
    clean and under the intervention (``n`` of them), so ``acc_clean`` may differ slightly between
    interventions when some clips are missing from one of them.

    * ``ci_low, ci_high``: percentile bootstrap CI (level ``ci``, ``n_boot`` replicates) of the
      mean per-clip difference ``clean - intervention``, resampling the class's clips.
    * ``p_value``: exact two-sided McNemar test (binomial test on the discordant pairs) when every
      clip's correctness is 0 or 1 under both inputs; otherwise (seed-averaged correctness) a
      two-sided paired sign-flip permutation test of the per-clip differences (exact up to 12
      non-zero differences, else ``n_boot`` random flips). ``q_value``: Benjamini–Hochberg over
      all rows of the returned table.
    * ``precision``: among all clips (any class) predicted as this class under the intervention,
      the share whose label is this class (NaN if none); ``n_pred`` how many clips were predicted
      as it; ``precision_clean`` the same on clean input; ``precision_drop = precision_clean -
      precision``. A large ``precision_drop`` marks a *sink* class that absorbs other classes'
      clips (see ``docs/methods.md#sinks-and-the-shuffle-artifact``). With several seeds,
      prediction counts are in clip units (a clip contributes ``1 / n_seeds`` per seed row).
    * ``top_pred, top_pred_share``: the most frequent prediction of this class's clips under the
      intervention and its share (ties broken by name); ``top_wrong, top_wrong_share`` the same
      among the wrong predictions (where the lost clips went; None when none was lost).

    Args:
        predictions: The tidy predictions table (``video_id, clip_index, label, intervention,
            seed, pred, correct`` at least; ``clip_index`` defaults to 0 when absent). It must
            contain the intervention ``clean``.
        classes: Class order of the output; classes present in the table but not listed are
            appended in sorted order. Default: sorted. Classes without clips get no rows.
        n_boot: Bootstrap replicates (also random sign flips for the permutation test).
        ci: Confidence level of the CI.
        seed: Seed of the resampling; each (class, intervention) row draws from its own generator
            derived from the seed and the names, so a row does not depend on the other rows.

    Returns:
        One row per (class, intervention) for every intervention except ``clean``, class-major,
        interventions in order of first appearance; columns :data:`PER_CLASS_COLUMNS`.

    >>> rows = [dict(video_id=f"v{i}", clip_index=0, label="a", intervention=iv, seed=0,
    ...              pred="a" if iv == "clean" else "b", correct=iv == "clean")
    ...         for i in range(10) for iv in ("clean", "freeze")]
    >>> per_class(pd.DataFrame(rows))[["class", "intervention", "n", "drop", "ci_low"]]
      class intervention   n  drop  ci_low
    0     a       freeze  10   1.0     1.0
    """
    df = _prepare(predictions)
    names = [n for n in dict.fromkeys(df["intervention"]) if n != CLEAN]
    if CLEAN not in set(df["intervention"]):
        raise ValueError("predictions table has no 'clean' rows: nothing to pair with")

    present = set(df["label"])
    if classes is None:
        order = sorted(present)
    else:
        listed = [str(c) for c in classes]
        order = [c for c in listed if c in present] + sorted(present - set(listed))

    clips = (
        df.groupby(["intervention", *_CLIP], sort=False)
        .agg(label=("label", "first"), correct=("correct", "mean"))
        .reset_index()
    )
    clean = clips[clips["intervention"] == CLEAN].drop(columns=["intervention", "label"])
    clean = clean.rename(columns={"correct": "c0"})
    precisions, tops, losts = _prediction_tables(df)
    prec_clean = precisions.get(CLEAN, ({}, {}))[0]
    # One merge and grouping for all interventions (per_class runs inside bootstrap loops); an
    # inner merge keeps the left order, so each group's clips are in the per-intervention order.
    paired = clips[clips["intervention"] != CLEAN].merge(clean, on=_CLIP, how="inner")
    c0_all, c1_all = paired["c0"].to_numpy(), paired["correct"].to_numpy()
    where = paired.groupby(["intervention", "label"], sort=False).indices
    groups = {key: (c0_all[ix], c1_all[ix]) for key, ix in where.items()}

    rows: list[dict] = []
    empty = np.empty(0)
    for name in names:
        prec, n_pred = precisions.get(name, ({}, {}))
        top, lost = tops.get(name, {}), losts.get(name, {})
        for cls in order:
            c0, c1 = groups.get((name, cls), (empty, empty))
            n = c0.size
            rng = _rng(seed, cls, name)
            if n:
                d = c0 - c1
                acc, acc_clean = float(c1.mean()), float(c0.mean())
                low, high = bootstrap_mean_ci(d, n_boot, ci, rng)
                binary = np.isin(c0, (0.0, 1.0)).all() and np.isin(c1, (0.0, 1.0)).all()
                p = mcnemar_exact(c0, c1) if binary else sign_flip_pvalue(d, n_boot, rng)
            else:
                acc = acc_clean = low = high = p = float("nan")
            pr = float(prec.get(cls, np.nan))
            pc = float(prec_clean.get(cls, np.nan))
            rows.append(
                {
                    "class": cls,
                    "intervention": name,
                    "n": n,
                    "acc": acc,
                    "acc_clean": acc_clean,
                    "drop": acc_clean - acc,
                    "ci_low": low,
                    "ci_high": high,
                    "p_value": p,
                    "q_value": np.nan,
                    "precision": pr,
                    "precision_clean": pc,
                    "precision_drop": pc - pr,
                    "n_pred": float(n_pred.get(cls, 0.0)),
                    "top_pred": top.get(cls, (None, np.nan))[0],
                    "top_pred_share": top.get(cls, (None, np.nan))[1],
                    "top_wrong": lost.get(cls, (None, np.nan))[0],
                    "top_wrong_share": lost.get(cls, (None, 0.0 if n else np.nan))[1],
                }
            )
    out = pd.DataFrame(rows, columns=list(PER_CLASS_COLUMNS))
    if len(out):
        out["q_value"] = benjamini_hochberg(out["p_value"].to_numpy())
        cls_rank = {c: i for i, c in enumerate(order)}
        iv_rank = {c: i for i, c in enumerate(names)}
        out = out.sort_values(
            ["class", "intervention"],
            key=lambda s: s.map(cls_rank if s.name == "class" else iv_rank),
            kind="mergesort",
        ).reset_index(drop=True)
    return out


# --------------------------------------------------------------------------------------------
# taxonomy
# --------------------------------------------------------------------------------------------

NEGLIGIBLE, MATERIAL, UNDETERMINED, ABSENT = "negligible", "material", "undetermined", "absent"


def drop_state(drop: float, ci_low: float, ci_high: float, min_drop: float = 0.2) -> str:
    """Classify one accuracy drop: ``negligible``, ``material``, ``undetermined`` (or ``absent``).

    *negligible*: the CI's upper bound is below ``min_drop``; *material*: the CI's lower bound is
    above 0 and the point drop is at least ``min_drop``; otherwise *undetermined*. A NaN drop
    (intervention not run for this class) is ``absent``.

    >>> drop_state(0.9, 0.8, 1.0), drop_state(0.0, -0.05, 0.05), drop_state(0.2, -0.1, 0.5)
    ('material', 'negligible', 'undetermined')
    """
    if drop is None or ci_low is None or ci_high is None:
        return ABSENT
    if np.isnan(drop) or np.isnan(ci_low) or np.isnan(ci_high):
        return ABSENT
    if ci_high < min_drop:
        return NEGLIGIBLE
    if ci_low > 0 and drop >= min_drop:
        return MATERIAL
    return UNDETERMINED


def where_predictions_go(predictions: pd.DataFrame) -> pd.DataFrame:
    """Where each class's clips are predicted, per intervention (clip units, seeds averaged).

    Reveals collapse into static-looking classes: under freezing, the clips of many classes may
    all land in one class.

    Returns:
        Columns ``intervention, label, pred, share, clips``: ``share`` of the class's clips
        predicted as ``pred`` (shares of a class sum to 1 per intervention), ``clips`` the same
        in clip units. Sorted by intervention (order of appearance), label, share descending.
    """
    df = _prepare(predictions)
    mass = df.groupby(["intervention", "label", "pred"], sort=False)["w"].sum().reset_index()
    total = mass.groupby(["intervention", "label"])["w"].transform("sum")
    mass["share"] = mass["w"] / total
    rank = {n: i for i, n in enumerate(dict.fromkeys(df["intervention"]))}
    mass = mass.rename(columns={"w": "clips"})
    mass["_r"] = mass["intervention"].map(rank)
    mass = mass.sort_values(["_r", "label", "share", "pred"], ascending=[True, True, False, True])
    return mass[["intervention", "label", "pred", "share", "clips"]].reset_index(drop=True)


def param_columns(predictions: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with the intervention's ``name`` and each parameter as a column.

    Each key of the rows' ``params`` JSON (the spec's own, and ``select``, ``chosen``,
    ``partner``... as the run recorded them) becomes a ``param_<key>`` column, missing where a
    row has no such parameter; a key whose values mix types is kept as text.

    >>> t = pd.DataFrame({"intervention": ["clean", "subsample:k=2"], "params": ["{}", '{"k": 2}']})
    >>> list(param_columns(t)["name"]), param_columns(t)["param_k"].tolist()
    (['clean', 'subsample'], [<NA>, 2])
    """
    if "name" in predictions.columns:  # already expanded
        return predictions
    parsed = {text: json.loads(text) for text in predictions["params"].astype(str).unique()}
    rows = predictions["params"].astype(str).map(parsed)
    out = predictions.assign(name=predictions["intervention"].astype(str).str.split(":").str[0])
    for key in sorted({k for p in parsed.values() for k in p}):
        values = pd.Series([p.get(key) for p in rows], index=rows.index, dtype=object)
        kinds = {type(v) for v in values if v is not None}
        if kinds == {bool}:
            values = values.astype("boolean")
        elif kinds == {int}:
            values = values.astype("Int64")
        elif kinds and kinds <= {int, float}:
            values = values.astype(float)
        elif len(kinds) > 1:
            values = values.map(lambda v: None if v is None else str(v))
        out[f"param_{key}"] = values
    return out


def conflict_pairs(predictions: pd.DataFrame, prefix: str = "conflict") -> pd.DataFrame:
    """One row per cue-conflict prediction: which cue it followed.

    Reads the rows of interventions named ``prefix`` (or ``prefix:...``), whose ``params`` JSON
    records the motion partner's ``partner_label``; the appearance source is the row's ``label``.

    Returns:
        Columns ``intervention, class, partner, appearance, motion, other, moved``: ``appearance``
        1.0 when predicted as the appearance source's class, ``motion`` when predicted as the
        partner's, ``other`` otherwise; ``moved`` the share of the appearance frame's pixels the
        partner's motion moves (NaN when not recorded).
    """
    df = param_columns(predictions).query("name == @prefix")
    cols = ["intervention", "class", "partner", "appearance", "motion", "other", "moved"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    mate = df["param_partner_label"].astype(str).to_numpy(dtype=object)
    out = pd.DataFrame(
        {
            "intervention": df["intervention"].astype(str).to_numpy(),
            "class": df["label"].astype(str).to_numpy(),
            "partner": mate,
            "appearance": (df["pred"] == df["label"]).to_numpy(float),
            "motion": (df["pred"].astype(str).to_numpy() == mate).astype(float),
            "moved": df.get("param_moved", pd.Series(np.nan, df.index)).to_numpy(float),
        }
    )
    out["other"] = 1.0 - out["appearance"] - out["motion"]
    return out[cols]


def cue_conflict(
    predictions: pd.DataFrame, cues: Mapping[str, str] | None = None, prefix: str = "conflict"
) -> pd.DataFrame:
    """Which cue the prediction follows when one clip's appearance moves with another's motion.

    Args:
        predictions: The tidy predictions table (see :func:`conflict_pairs`).
        cues: Optional ``{class: cue}`` ground truth: adds rows restricted to partners whose
            label is defined by motion (cue ``motion`` or ``order``), for which "follows the
            motion" is meaningful.

    Returns:
        Per intervention and appearance class (``partners = all``, and ``motion_cue`` with cues):
        ``intervention, class, partners, n, appearance, motion, other`` as shares of the pairs,
        seeds counted as separate pairs, and ``moved``: the mean share of the appearance frame's
        pixels that the partner's motion moves (NaN when not recorded).
    """
    frame = conflict_pairs(predictions, prefix)
    cols = ["intervention", "class", "partners", "n", "appearance", "motion", "other", "moved"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    frame["partners"] = "all"
    parts = [frame]
    if cues:
        moving = frame["partner"].map(lambda c: cues.get(str(c)) in ("motion", "order"))
        parts.append(frame[moving.to_numpy(bool)].assign(partners="motion_cue"))
    both = pd.concat(parts, ignore_index=True)
    out = (
        both.groupby(["intervention", "class", "partners"], sort=False)
        .agg(
            n=("appearance", "size"),
            appearance=("appearance", "mean"),
            motion=("motion", "mean"),
            other=("other", "mean"),
            moved=("moved", "mean"),
        )
        .reset_index()
    )
    return out[cols]


# --------------------------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------------------------


def share_ci(
    flags: Sequence[bool] | np.ndarray, n_boot: int = 2000, ci: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Share of True in ``flags`` (e.g. one flag per class) with a percentile bootstrap CI.

    Used for "share of classes that do not need motion". Empty input gives NaNs.

    >>> share_ci([True, True, False, False])[0]
    0.5
    """
    f = np.asarray(flags, dtype=float)
    if f.size == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = bootstrap_mean_ci(f, n_boot, ci, np.random.default_rng(seed))
    return float(f.mean()), low, high


def cue_agreement(taxonomy_df: pd.DataFrame, cues: Mapping[str, str]) -> pd.DataFrame:
    """Compare verdicts with the ground-truth cues of synthetic classes.

    Expected verdict per cue: appearance -> ``single_frame``, motion -> ``bag_of_frames``,
    order -> ``ordered_sequence``. Classes of ``taxonomy_df`` without a cue are left out.

    Returns:
        Columns ``class, cue, verdict, expected, agrees`` (``agrees`` is bool).
    """
    bad = {c: v for c, v in cues.items() if v not in CUES}
    if bad:
        raise ValueError(f"unknown cues {bad}; expected one of {CUES}")
    sub = taxonomy_df[taxonomy_df["class"].astype(str).isin(set(map(str, cues)))]
    out = pd.DataFrame(
        {
            "class": sub["class"].astype(str).to_numpy(dtype=object),
            "verdict": sub["verdict"].astype(str).to_numpy(dtype=object),
        }
    )
    cue_map = {str(k): v for k, v in cues.items()}
    out.insert(1, "cue", out["class"].map(cue_map))
    out["expected"] = out["cue"].map(EXPECTED_VERDICT)
    out["agrees"] = (out["verdict"] == out["expected"]).astype(bool)
    return out


# --------------------------------------------------------------------------------------------
# accuracy versus the number of input frames
# --------------------------------------------------------------------------------------------


#: How each intervention family turns k kept frames into a full clip, as named in figures.
def _frames_condition(label: str) -> tuple[str, int, str] | None:
    """``(fills, k, selection)`` of a k-frame condition label, or None for other conditions.

    A k-frame condition is an intervention whose descriptor says how it fills the clip
    (:attr:`~motionprobe.interventions.Intervention.fills`); ``k`` is its ``k`` parameter (1 when
    it has none, as ``freeze``). A condition that fixes the frame or phase itself (``index=``,
    ``offset=``) asks a different question and is left out.

    >>> _frames_condition("generate:k=4:select=max"), _frames_condition("freeze")
    (('generator', 4, 'max'), ('held frames', 1, 'none'))
    >>> _frames_condition("freeze:index=3") is None
    True
    """
    name, *parts = label.split(":")
    intervention = INTERVENTIONS.get(name)
    if intervention is None or intervention.fills is None:
        return None
    params = dict(p.split("=", 1) for p in parts if "=" in p)
    if intervention.select_param in params:
        return None
    return intervention.fills, int(params.get("k", 1)), params.get("select", "none")


def frames_curve(
    predictions: pd.DataFrame, n_boot: int = 2000, ci: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Accuracy and drop versus the number of input frames k, per way of filling the clip.

    Reads the k-frame conditions of a probe run: ``freeze`` (k = 1) and ``subsample:k=K`` hold
    the kept frames ("held frames", the naive baseline), ``generate:k=K`` fills the clip with the
    class-agnostic temporal generator; ``:select=max|oracle`` variants pick the best candidate
    frame or phase. Seeds are averaged per clip first; the drop is paired on clips (clean minus
    condition) with a percentile bootstrap CI over clips. When ``freeze`` and ``subsample:k=1``
    both ran, the first in the table is kept for k = 1.

    Args:
        predictions: ``predictions.parquet`` of a probe run (must include ``clean``).

    Returns:
        Columns ``method, k, selection, intervention, n, acc, ci_low, ci_high, drop, drop_low,
        drop_high``, sorted by method, selection and k; empty if no k-frame condition ran.
    """
    clips = clip_correctness(predictions)
    key = ["video_id", "clip_index"]
    clean = clips[clips["intervention"] == CLEAN].set_index(key)["correct"]
    rows, seen = [], set()
    for name in dict.fromkeys(clips["intervention"]):
        cond = _frames_condition(name)
        if cond is None or cond in seen:
            continue
        seen.add(cond)
        v = clips[clips["intervention"] == name].set_index(key)["correct"]
        both = clean.index.intersection(v.index)
        acc = v.to_numpy()
        diff = (clean.loc[both] - v.loc[both]).to_numpy()
        low, high = bootstrap_mean_ci(acc, n_boot, ci, _rng(seed, "frames", name))
        d_low, d_high = bootstrap_mean_ci(diff, n_boot, ci, _rng(seed, "frames-drop", name))
        method, k, selection = cond
        rows.append(
            dict(
                method=method,
                k=k,
                selection=selection,
                intervention=name,
                n=acc.size,
                acc=acc.mean(),
                ci_low=low,
                ci_high=high,
                drop=diff.mean() if diff.size else np.nan,
                drop_low=d_low,
                drop_high=d_high,
            )
        )
    columns = ["method", "k", "selection", "intervention", "n", "acc", "ci_low", "ci_high"]
    table = pd.DataFrame(rows, columns=[*columns, "drop", "drop_low", "drop_high"])
    return table.sort_values(["method", "selection", "k"], ignore_index=True)


# --------------------------------------------------------------------------------------------
# appearance versus motion streams
# --------------------------------------------------------------------------------------------


def stream_gap(
    predictions: Mapping[str, pd.DataFrame],
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-class clean accuracy of the RGB, flow and fused streams, with paired differences.

    The streams must have been evaluated on the same clips (e.g. one Two-Stream I3D probed with
    ``stream="rgb"``, ``"flow"`` and ``"both"``); differences are paired on clips, with
    percentile bootstrap CIs over the class's clips.

    Args:
        predictions: ``{"rgb": ..., "flow": ..., "fused": ...}`` predictions tables (their
            ``clean`` rows are used).

    Returns:
        One row per class: ``class, n, acc_rgb, acc_flow, acc_fused``, ``flow_minus_rgb`` and
        ``gain`` (fused minus RGB: what adding flow buys), each difference with ``_low`` and
        ``_high`` CI columns. Sorted by ``gain``, largest first.
    """
    missing = {"rgb", "flow", "fused"} - set(predictions)
    if missing:
        raise ValueError(f"stream_gap needs the rgb, flow and fused predictions; missing {missing}")
    key = ["video_id", "clip_index"]
    joined = None
    for stream in ("rgb", "flow", "fused"):
        pred = predictions[stream]
        clips = clip_correctness(pred[pred["intervention"].astype(str) == CLEAN])
        clips = clips.set_index(key)[["label", "correct"]].rename(columns={"correct": stream})
        joined = clips if joined is None else joined.join(clips[[stream]], how="inner")
    if joined is None or joined.empty:
        raise ValueError("the streams' predictions share no clips")
    rows = []
    for cls, g in joined.groupby("label", sort=True):
        row = {"class": cls, "n": len(g)}
        for stream in ("rgb", "flow", "fused"):
            row[f"acc_{stream}"] = float(g[stream].mean())
        for name, diff in (
            ("flow_minus_rgb", g["flow"] - g["rgb"]),
            ("gain", g["fused"] - g["rgb"]),
        ):
            low, high = bootstrap_mean_ci(diff.to_numpy(), n_boot, ci, _rng(seed, name, cls))
            row |= {name: float(diff.mean()), f"{name}_low": low, f"{name}_high": high}
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["gain", "class"], ascending=[False, True], ignore_index=True)


# --------------------------------------------------------------------------------------------
# verdicts across architectures
# --------------------------------------------------------------------------------------------


def verdict_composition(
    taxonomies: Mapping[str, pd.DataFrame], strata: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """How many classes get each verdict, per model, over all classes and per stratum.

    Args:
        taxonomies: ``{model: taxonomy table}`` (``class, verdict``).
        strata: Optional ``{class: stratum}`` (e.g. Kinetics temporal / static subsets, or the
            ground-truth cue); classes without one count only under ``all classes``.

    Returns:
        Columns ``model, stratum, verdict, classes, share`` with every verdict of
        :data:`motionprobe.types.VERDICTS` present (0 when none), ``all classes`` first.
    """
    rows = []
    for model, tax in taxonomies.items():
        tax = tax.assign(**{"class": tax["class"].astype(str)})
        groups = [("all classes", tax)]
        if strata:
            stratum = tax["class"].map(strata)
            groups += [(s, tax[stratum == s]) for s in sorted(stratum.dropna().unique())]
        for name, g in groups:
            counts = g["verdict"].value_counts()
            for verdict in [*VERDICTS, *(v for v in counts.index if v not in VERDICTS)]:
                n = int(counts.get(verdict, 0))
                rows.append((model, name, verdict, n, n / len(g) if len(g) else np.nan))
    return pd.DataFrame(rows, columns=["model", "stratum", "verdict", "classes", "share"])


def verdict_agreement(taxonomies: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Pairwise agreement of models' verdicts over the classes both judged conclusively.

    Returns:
        Columns ``model_a, model_b, classes, agree`` (share of identical verdicts), one row
        per unordered pair.
    """
    verdicts = {
        m: t.assign(**{"class": t["class"].astype(str)}).set_index("class")["verdict"]
        for m, t in taxonomies.items()
    }
    names = list(verdicts)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = pd.concat([verdicts[a], verdicts[b]], axis=1, join="inner").dropna()
            both = both[(both.iloc[:, 0] != "inconclusive") & (both.iloc[:, 1] != "inconclusive")]
            agree = float((both.iloc[:, 0] == both.iloc[:, 1]).mean()) if len(both) else np.nan
            rows.append((a, b, len(both), agree))
    return pd.DataFrame(rows, columns=["model_a", "model_b", "classes", "agree"])
