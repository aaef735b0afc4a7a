"""The per-class verdict: one frame, a bag of frames, or the ordered sequence, on three axes.

Every study, figure and claim about a dataset rests on this module. It reads the per-class table
of a probing run (:func:`motionprobe.stats.per_class`: paired drops with bootstrap CIs, precision
and where the clips went, per intervention) and answers three questions per class, each with the
evidence beside it:

* **Sufficiency** -- does one frame suffice? Read from the single-frame conditions: the naive
  frozen frame and its artifact controls (frame selection, a frame moved by class-agnostic camera
  motion, the temporal generator; Huang et al. 2018). A condition *supports* sufficiency when the
  class loses a negligible share of its clips and is not a sink under it; it *refutes* it when the
  loss is material or the class is a sink. One supporting condition is enough (each control
  removes a different artifact of replacing a clip by one frame, so one of them may still wrong a
  class that one frame serves); every available condition must refute for ``no``.
* **Order reliance** -- does the order of the frames matter? Reversal keeps the motion statistics
  (speeds, smoothness) and flips the order, so a material reverse drop is clean evidence. Shuffling
  also turns smooth motion into jerky motion, an out-of-distribution artifact like the frozen
  frame; a shuffle drop counts only when the class's shuffled clips do not go to a *sink* of the
  shuffle (a class absorbing other classes' shuffled clips, typically the jerky-motion class).
* **Cue preference** -- in a cue conflict (this clip's appearance moved by another class's
  motion), which cue does the prediction follow? It says which cue *dominates when both are
  present*, not whether one frame suffices, so it is reported beside the verdict and never used
  by it.

A *sink* under an intervention is a class that keeps (most of) its own clips while clips of other
classes pour in: at least ``min_sink`` times its own clip count. Keeping its clips then proves
nothing (a class of still videos does this under every frozen-frame condition). Sinks are marked
for every intervention (:func:`mark_sinks`).

The verdict uses sufficiency and order only: ``single_frame`` if one frame suffices;
``ordered_sequence`` if it does not and order matters; ``bag_of_frames`` if it does not and order
does not matter; ``inconclusive`` otherwise, or when the class is not recognised on clean input or
has too few clips. All thresholds live in :class:`Rule`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from motionprobe import stats
from motionprobe.types import VERDICTS

YES, NO, UNDETERMINED = "yes", "no", "undetermined"
NEGLIGIBLE, MATERIAL = stats.NEGLIGIBLE, stats.MATERIAL


@dataclass(frozen=True)
class Rule:
    """Thresholds and intervention names of the verdict rule.

    Attributes:
        min_drop: Smallest accuracy drop (0-1) that counts as material; a drop whose CI lies
            wholly below it is negligible (:func:`motionprobe.stats.drop_state`).
        min_clean: Smallest clean accuracy for a class to be judged.
        min_precision: Smallest clean precision for a class to be judged: at least this share
            of the clean clips called the class must be of it. A class the model also calls its
            neighbours' clips (a reverse pair it cannot tell apart, merged into one member) is not
            told apart by the model, and no intervention can show what tells it apart.
        min_n: Smallest number of clips of a class, and of clips predicted as it for a sink.
        min_sink: Smallest inflow of other classes' clips, in units of the class's own clip
            count, that makes a class a sink (0.5: half as many foreign clips as its own).
        keep_own: A sink keeps at least this share of its clean accuracy under the intervention;
            a class that loses its own clips while taking others' is swapping, not absorbing
            (reversed ``move_left`` clips become ``move_right`` and vice versa).
        single_frame: Single-frame conditions, the naive one first; those not run are skipped.
        shuffle, reverse: The order interventions.
        conflict: The cue-conflict intervention (read for cue preference only).
    """

    min_drop: float = 0.2
    min_clean: float = 0.5
    min_precision: float = 0.5
    min_n: int = 5
    min_sink: float = 0.5
    keep_own: float = 0.5
    single_frame: tuple[str, ...] = (
        "freeze",
        "freeze:select=max",
        "inject_motion",
        "generate:k=1:select=max",
    )
    shuffle: str = "shuffle"
    reverse: str = "reverse"
    conflict: str = "conflict"

    def to_dict(self) -> dict:
        """Plain dict for ``config.json``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _short(name: str) -> str:
    """Column-safe short name of an intervention (``freeze:select=max`` -> ``freeze_select``)."""
    head, _, rest = name.partition(":")
    return head if not rest else f"{head}_{rest.split('=')[0].split(':')[0]}"


def mark_sinks(per_class_df: pd.DataFrame, rule: Rule | None = None) -> pd.DataFrame:
    """``per_class_df`` with ``absorbed`` and a boolean ``sink`` column, for every intervention.

    ``absorbed`` is how many more clips of other classes are predicted as the class under the
    intervention than on clean input, in units of the class's own clip count (clean counts are
    recovered from ``acc_clean`` and ``precision_clean``). A class is a sink when ``absorbed >=
    rule.min_sink`` with at least ``rule.min_n`` clips predicted as it, while it keeps at least
    ``rule.keep_own`` of its clean accuracy. Measuring the inflow against the class's own size,
    not as a precision, keeps the test equally sensitive when the class is small or its
    neighbours are.
    """
    rule = rule or Rule()
    df = per_class_df.copy()
    n = df["n"].astype(float).where(df["n"] > 0)
    foreign = df["n_pred"] * (1.0 - df["precision"].fillna(0.0))
    pc = df["precision_clean"]
    foreign_clean = (n * df["acc_clean"] * (1.0 - pc) / pc).where(pc > 0, 0.0).fillna(0.0)
    df["absorbed"] = (foreign - foreign_clean) / n
    keeps = df["acc"] >= rule.keep_own * df["acc_clean"]
    df["sink"] = ((df["absorbed"] >= rule.min_sink) & (df["n_pred"] >= rule.min_n) & keeps).fillna(
        False
    )
    return df


def _state(r: Mapping | None, rule: Rule) -> str:
    if r is None:
        return stats.ABSENT
    return stats.drop_state(r["drop"], r["ci_low"], r["ci_high"], rule.min_drop)


def _fmt(name: str, r: Mapping, state: str) -> str:
    return f"{name} {state} ({r['drop']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}])"


def sufficiency(evidence: Mapping[str, Mapping], rule: Rule) -> tuple[str, str | None, str]:
    """Does one frame suffice? ``(answer, deciding condition, reason)`` from single-frame rows.

    Args:
        evidence: ``{condition: per-class row}`` for the single-frame conditions that were run,
            each row with ``drop, ci_low, ci_high, sink``.
        rule: The thresholds.
    """
    if not evidence:
        return UNDETERMINED, None, "no single-frame condition was run"
    parts, support, refute = [], [], []
    for name, r in evidence.items():
        state = _state(r, rule)
        sink = bool(r.get("sink", False))
        parts.append(_fmt(name, r, state) + (", a sink" if sink else ""))
        if state == NEGLIGIBLE and not sink:
            support.append(name)
        elif state == MATERIAL or sink:
            refute.append(name)
    text = "; ".join(parts)
    if support:
        return YES, support[0], f"one frame suffices under {support[0]}: {text}"
    if len(refute) == len(evidence):
        return NO, None, f"no single frame suffices: {text}"
    return UNDETERMINED, None, f"single frame undetermined: {text}"


def recognised(acc_clean: float, precision_clean: float, rule: Rule) -> bool:
    """Does the model tell the class apart on clean input (enough recall and precision)?

    A NaN precision (no clean clip called the class, or a table without the column) leaves the
    decision to the accuracy.
    """
    low_precision = bool(precision_clean < rule.min_precision)  # False for NaN
    return bool(acc_clean >= rule.min_clean) and not low_precision


def _lost_to(r: Mapping | None, cls: str) -> str | None:
    """Where a class's lost clips mostly went under an intervention (None if none was lost)."""
    if r is None:
        return None
    to = r.get("top_wrong")
    if "top_wrong" not in r:  # a table written before the column existed
        to = None if r.get("top_pred") == cls else r.get("top_pred")
    return None if to is None or pd.isna(to) else str(to)


def order_reliance(
    reverse: Mapping | None,
    shuffle: Mapping | None,
    shuffle_artifact: bool,
    rule: Rule,
    shuffle_to: str | None = None,
) -> tuple[str, str]:
    """Does the order matter? ``(answer, reason)`` from the reverse and shuffle rows.

    ``yes`` when reversal costs materially, or shuffling does and its clips do not go to a sink
    of the shuffle; ``no`` when every order test run is negligible; else ``undetermined``.
    """
    r_state, s_state = _state(reverse, rule), _state(shuffle, rule)
    parts = []
    if reverse is not None and r_state != stats.ABSENT:
        parts.append(_fmt("reverse", reverse, r_state))
    if shuffle is not None and s_state != stats.ABSENT:
        note = f", its lost clips go to the sink {shuffle_to}" if shuffle_artifact else ""
        parts.append(_fmt("shuffle", shuffle, s_state) + note)
    text = "; ".join(parts)
    if not parts:
        return UNDETERMINED, "neither reverse nor shuffle was run"
    if r_state == MATERIAL or (s_state == MATERIAL and not shuffle_artifact):
        return YES, f"order matters: {text}"
    states = [s for s in (r_state, s_state) if s != stats.ABSENT]
    if all(s == NEGLIGIBLE for s in states):
        return NO, f"order does not matter: {text}"
    return UNDETERMINED, f"order undetermined: {text}"


def combine(sufficient: str, order: str) -> str:
    """The verdict from the two axes (cue preference is never used)."""
    if sufficient == YES:
        return "single_frame"
    if sufficient == NO and order == YES:
        return "ordered_sequence"
    if sufficient == NO and order == NO:
        return "bag_of_frames"
    return "inconclusive"


def cue_preference(
    predictions: pd.DataFrame, rule: Rule | None = None, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per class, which cue a cue-conflict prediction follows: appearance, motion, or neither.

    Each conflict pair is this class's appearance moved by the motion of a clip of another class
    (``params.partner_label``). ``follows_appearance``/``follows_motion`` are the shares of pairs
    predicted as this class / as the partner's class; the preference is ``appearance`` or
    ``motion`` when the bootstrap CI of their per-pair difference excludes 0, else ``mixed``.
    A class with fewer than ``rule.min_n`` pairs (bad videos can leave a batch without a
    partner of another class) is ``absent``: too few pairs to say, reported with its own
    ``n_conflict``.

    Returns:
        Columns ``class, n_conflict, follows_appearance, follows_motion, preference_low,
        preference_high, cue_preference``; empty when no conflict was run.
    """
    rule = rule or Rule()
    cols = [
        "class",
        "n_conflict",
        "follows_appearance",
        "follows_motion",
        "preference_low",
        "preference_high",
        "cue_preference",
    ]
    pairs = stats.conflict_pairs(predictions, rule.conflict)
    rows = []
    for cls, g in pairs.groupby("class", sort=False):
        d = (g["appearance"] - g["motion"]).to_numpy(float)
        low, high = stats.bootstrap_mean_ci(d, n_boot, 0.95, stats._rng(seed, str(cls), "cue"))
        pref = "appearance" if low > 0 else "motion" if high < 0 else "mixed"
        if len(g) < rule.min_n:
            pref = stats.ABSENT
        rows.append([cls, len(g), g["appearance"].mean(), g["motion"].mean(), low, high, pref])
    return pd.DataFrame(rows, columns=cols)


def taxonomy(
    per_class_df: pd.DataFrame, rule: Rule | None = None, cues: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The verdict of every class, with its three axes and their evidence.

    Args:
        per_class_df: :func:`motionprobe.stats.per_class` (or ``per_class.csv`` read back). It
            must hold at least one single-frame condition of ``rule``.
        rule: Thresholds and intervention names (default :class:`Rule`).
        cues: :func:`cue_preference` output, merged in as the cue-preference columns.

    Returns:
        One row per class (in the table's order): ``class, verdict, sufficient, order,
        cue_preference, verdict_naive, acc_clean, n``, then the evidence: per single-frame
        condition ``drop_{c}, ci_low_{c}, ci_high_{c}, sink_{c}`` (``c`` the short name, e.g.
        ``freeze_select``), ``controlled`` with ``drop_controlled, ci_low_controlled,
        ci_high_controlled`` (the artifact-controlled condition that costs the class least, the
        motion dependence to rank classes by), ``sufficient_by`` (the supporting condition),
        the same columns for
        ``reverse`` and ``shuffle`` with ``shuffle_to`` and ``shuffle_artifact``, the cue
        columns, ``sink`` (under any single-frame condition) and ``reason``.
        ``verdict_naive`` is what the naive frozen frame and raw order drops alone would say
        (Huang et al.'s warning), for comparison.
    """
    rule = rule or Rule()
    df = mark_sinks(per_class_df, rule)
    df["intervention"] = df["intervention"].astype(str)
    run = set(df["intervention"])
    frame_conditions = [c for c in rule.single_frame if c in run]
    if not frame_conditions:
        raise ValueError(
            f"the verdict needs one of the single-frame conditions {list(rule.single_frame)}; "
            f"the table has {sorted(run)}"
        )
    # Plain dicts, not frame lookups per class: the stability bootstrap judges many tables.
    by = {
        name: {r["class"]: r for r in g.drop_duplicates("class").to_dict("records")}
        for name, g in df.groupby("intervention", sort=False)
    }

    def row_of(name: str, cls: str) -> dict | None:
        r = by.get(name, {}).get(cls)
        return None if r is None or pd.isna(r["drop"]) else r

    shuffle_sinks = {c for c, r in by.get(rule.shuffle, {}).items() if bool(r["sink"])}
    cue_t = cues.set_index("class") if cues is not None and len(cues) else None

    rows = []
    for cls in dict.fromkeys(df["class"]):
        first = row_of(frame_conditions[0], cls) or {}
        out: dict = {"class": cls, "acc_clean": first.get("acc_clean", np.nan)}
        out["precision_clean"] = first.get("precision_clean", np.nan)
        out["n"] = int(first.get("n", 0) or 0)
        evidence = _single_frame_evidence(out, {n: row_of(n, cls) for n in frame_conditions}, rule)
        rev, shu = row_of(rule.reverse, cls), row_of(rule.shuffle, cls)
        for k, r in (("reverse", rev), ("shuffle", shu)):
            for col in ("drop", "ci_low", "ci_high"):
                out[f"{col}_{k}"] = r[col] if r else np.nan
        # Where the lost clips went, not the plurality: a class that keeps a third of its
        # shuffled clips while most of the rest fall into the jerky class is still an artifact.
        out["shuffle_to"] = _lost_to(shu, cls)
        artifact = bool(shu and out["shuffle_to"] in shuffle_sinks)
        out["shuffle_artifact"] = artifact
        out["sink"] = any(out[f"sink_{_short(n)}"] for n in frame_conditions)

        suff, by_name, why_s = sufficiency(evidence, rule)
        order, why_o = order_reliance(rev, shu, artifact, rule, out["shuffle_to"])
        naive_ev = {k: v for k, v in evidence.items() if k == rule.single_frame[0]}
        naive_s, _, _ = sufficiency(naive_ev, rule)
        naive_o, _ = order_reliance(rev, shu, False, rule)
        verdict, naive, reason = _decide(out, rule, (suff, order, why_s, why_o), (naive_s, naive_o))
        if not _judged(out, rule):  # drops of a class the model does not tell apart mean nothing
            suff = order = UNDETERMINED
        out.update(verdict=verdict, sufficient=suff, order=order, verdict_naive=naive)
        out["sufficient_by"] = by_name
        for col in ("n_conflict", "follows_appearance", "follows_motion", "cue_preference"):
            ok = cue_t is not None and cls in cue_t.index
            out[col] = cue_t.at[cls, col] if ok else (None if col == "cue_preference" else np.nan)
        out["reason"] = reason
        rows.append(out)
    head = ["class", "verdict", "sufficient", "order", "cue_preference", "verdict_naive"]
    head += ["acc_clean", "n"]
    cols = list(rows[0]) if rows else head
    rest = [c for c in cols if c not in head and c != "reason"]
    return pd.DataFrame(rows, columns=[*head, *rest, "reason"] if rows else head)


def _single_frame_evidence(out: dict, rows: dict[str, dict | None], rule: Rule) -> dict:
    """Write each single-frame condition's drop columns into ``out``; the conditions that ran.

    Also the controlled condition: the artifact-controlled one that costs the class least, its
    motion dependence with the frozen frame's artifacts removed (naive freeze when no control
    was run).
    """
    evidence = {}
    for name, r in rows.items():
        k = _short(name)
        for col in ("drop", "ci_low", "ci_high"):
            out[f"{col}_{k}"] = r[col] if r else np.nan
        out[f"sink_{k}"] = bool(r["sink"]) if r else False
        if r is not None:
            evidence[name] = r
    ctl = {k: v for k, v in evidence.items() if k != rule.single_frame[0]} or evidence
    best = min(ctl, key=lambda k: ctl[k]["drop"], default=None)
    out["controlled"] = best
    for col in ("drop", "ci_low", "ci_high"):
        out[f"{col}_controlled"] = ctl[best][col] if best else np.nan
    return evidence


def _judged(row: dict, rule: Rule) -> bool:
    """Whether a class has enough clips and is recognised on clean input, so that its drops
    say something about it."""
    return row["n"] >= rule.min_n and recognised(row["acc_clean"], row["precision_clean"], rule)


def _decide(
    row: dict, rule: Rule, axes: tuple[str, str, str, str], naive_axes: tuple[str, str]
) -> tuple[str, str, str]:
    """``(verdict, naive verdict, reason)`` of a class from its two axes, unless not judged.

    ``axes`` is ``(sufficient, order, why sufficient, why order)``; a class with too few clips,
    or one the model does not recognise on clean input, gets ``inconclusive`` either way.
    """
    suff, order, why_s, why_o = axes
    if row["n"] < rule.min_n:
        verdict = naive = "inconclusive"
        reason = f"too few clips (n={row['n']} < {rule.min_n})"
    elif not recognised(row["acc_clean"], row["precision_clean"], rule):
        verdict = naive = "inconclusive"
        reason = (
            f"not recognised on clean input (acc_clean={row['acc_clean']:.2f}, "
            f"precision_clean={row['precision_clean']:.2f})"
        )
    else:
        verdict, naive = combine(suff, order), combine(*naive_axes)
        reason = why_s if suff != NO else f"{why_s}. {why_o}"
    assert verdict in VERDICTS and naive in VERDICTS
    return verdict, naive, reason


def judge(
    predictions: pd.DataFrame,
    classes: Sequence[str] | None = None,
    rule: Rule | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`taxonomy` straight from a predictions table (per-class drops and cue preference)."""
    per = stats.per_class(predictions, classes, n_boot=n_boot, seed=seed)
    return taxonomy(per, rule, cue_preference(predictions, rule, n_boot, seed))


def stability(
    predictions: pd.DataFrame,
    classes: Sequence[str] | None = None,
    rule: Rule | None = None,
    reps: int = 10,
    n_boot: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """How often each class's verdict survives a bootstrap over its clips.

    Each replicate resamples every class's clips with replacement (a clip keeps all its rows:
    every intervention and seed) and judges the replicate afresh (with ``n_boot`` inner
    replicates for the drops' CIs).

    Returns:
        Columns ``class, verdict, stability`` (the share of replicates that give ``verdict``,
        the verdict of the full table) and ``flips_to`` (the most frequent other verdict).
    """
    point = judge(predictions, classes, rule, n_boot=n_boot, seed=seed)
    keys = ["video_id", "clip_index"]
    preds = predictions.copy()
    if "clip_index" not in preds:
        preds["clip_index"] = 0
    clips = preds[[*keys, "label"]].drop_duplicates(keys).reset_index(drop=True)
    groups = [g.index.to_numpy() for _, g in clips.groupby("label", sort=False)]
    votes = []
    for rep in range(reps):
        rng = np.random.default_rng([seed, rep])
        idx = np.concatenate([rng.choice(g, g.size) for g in groups])
        pick = clips.loc[idx, keys].assign(draw=np.arange(idx.size))
        boot = pick.merge(preds, on=keys)
        boot["video_id"] = boot["video_id"].astype(str) + "#" + boot["draw"].astype(str)
        tax = judge(boot.drop(columns="draw"), classes, rule, n_boot=n_boot, seed=seed + rep)
        votes.append(tax.set_index("class")["verdict"])
    votes_df = pd.concat(votes, axis=1)
    out = point[["class", "verdict"]].copy()
    same = votes_df.eq(point.set_index("class")["verdict"], axis=0)
    out["stability"] = out["class"].map(same.mean(axis=1)).astype(float)

    def other(cls: str) -> str | None:
        row = votes_df.loc[cls][~same.loc[cls]] if cls in votes_df.index else pd.Series()
        return None if row.empty else str(row.value_counts().index[0])

    out["flips_to"] = out["class"].map(other)
    return out


def mark_stable(
    tax: pd.DataFrame,
    boot: pd.DataFrame | None = None,
    others: Sequence[pd.DataFrame] = (),
    min_stability: float = 0.8,
) -> pd.DataFrame:
    """``tax`` with ``stability``, ``seed_agreement`` and ``stable`` columns.

    Args:
        tax: A :func:`taxonomy`.
        boot: :func:`stability` of the same run; ``stability`` is NaN without it.
        others: Taxonomies of the same classes from models trained with other seeds;
            ``seed_agreement`` is the share of them giving the same verdict (NaN without any).
        min_stability: A verdict is ``stable`` when at least this share of bootstrap replicates
            reproduces it and every other seed agrees.
    """
    out = tax.copy()
    out["stability"] = (
        np.nan if boot is None else out["class"].map(boot.set_index("class")["stability"])
    )
    if others:
        same = [out["class"].map(o.set_index("class")["verdict"]) == out["verdict"] for o in others]
        out["seed_agreement"] = pd.concat(same, axis=1).mean(axis=1)
    else:
        out["seed_agreement"] = np.nan
    boot_ok = out["stability"].isna() | (out["stability"] >= min_stability)
    seed_ok = out["seed_agreement"].isna() | (out["seed_agreement"] >= 1.0)
    out["stable"] = boot_ok & seed_ok
    return out


#: Axes compared with the ground truth, and how a class's truth reads on each.
AXES = ("verdict", "sufficient", "order", "cue_preference")
#: Values that are no answer: the rule declined to commit.
_NO_ANSWER = frozenset({"inconclusive", UNDETERMINED, "mixed", stats.ABSENT})


def agreement(tax: pd.DataFrame, truth: pd.DataFrame, rule: Rule | None = None) -> pd.DataFrame:
    """Verdict and axes against the ground truth of synthetic classes (``classes.json``).

    Args:
        tax: A :func:`taxonomy`.
        truth: Rows of ``classes.json`` (:func:`motionprobe.data.synthetic.load_truth`):
            ``name, cue, sufficient, order, verdict``.

    Returns:
        One row per class and axis of :data:`AXES`: ``class, cue, axis, expected, got,
        agrees, recognised, committed, stable``. A class missing from ``tax`` counts as
        disagreeing; ``recognised`` says whether the model tells the class apart on clean input
        at all (:func:`recognised`), without which no verdict can be right.
        ``committed`` says the rule gave a definite answer (not ``inconclusive``,
        ``undetermined`` or ``mixed``), so a committed row that disagrees is a *wrong answer*,
        the error that matters most; ``stable`` copies the taxonomy's ``stable`` (True where
        stability was not measured).
    """
    t = truth.set_index("name")
    got = tax.set_index(tax["class"].astype(str))
    rule = rule or Rule()
    clean = got["acc_clean"] if "acc_clean" in got else pd.Series(dtype=float)
    precision = got["precision_clean"] if "precision_clean" in got else pd.Series(dtype=float)
    stable = got["stable"].astype(bool) if "stable" in got else pd.Series(dtype=bool)
    rows = []
    for cls, r in t.iterrows():
        expected = {
            "verdict": r["verdict"],
            "sufficient": YES if r["sufficient"] else NO,
            "order": YES if r["order"] else NO,
            "cue_preference": "appearance" if r["cue"] == "appearance" else "motion",
        }
        for axis in AXES:
            value = got.at[cls, axis] if cls in got.index and axis in got.columns else None
            value = None if value is None or pd.isna(value) else str(value)
            known = recognised(clean.get(cls, np.nan), precision.get(cls, np.nan), rule)
            committed = value is not None and value not in _NO_ANSWER
            steady = bool(stable.get(cls, True))
            ok = value == expected[axis]
            rows.append([cls, r["cue"], axis, expected[axis], value, ok, known, committed, steady])
    cols = ["class", "cue", "axis", "expected", "got", "agrees", "recognised"]
    cols += ["committed", "stable"]
    return pd.DataFrame(rows, columns=cols)
