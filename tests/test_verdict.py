"""The verdict rule on constructed per-class tables: each axis, the two conflations, sinks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from motionprobe import stats, verdict
from motionprobe.verdict import Rule


def row(cls, iv, drop, lo=None, hi=None, *, clean=1.0, pdrop=0.0, n_pred=20.0, to=None, n=20,
        kept=False):  # fmt: skip
    """One per_class row; the CI defaults to a tight one around ``drop``.

    ``to`` is where the lost clips went; it is also the plurality prediction unless ``kept``.
    """
    lo = drop - 0.05 if lo is None else lo
    hi = drop + 0.05 if hi is None else hi
    return dict(
        {k: np.nan for k in stats.PER_CLASS_COLUMNS},
        **{"class": cls, "intervention": iv, "n": n, "acc": clean - drop, "acc_clean": clean},
        drop=drop,
        ci_low=lo,
        ci_high=hi,
        precision=1.0 - pdrop,
        precision_clean=1.0,
        precision_drop=pdrop,
        n_pred=n_pred,
        top_pred=cls if kept else to or cls,
        top_pred_share=1.0,
        top_wrong=to,
        top_wrong_share=drop if to else 0.0,
    )


def table(*rows):
    return pd.DataFrame(list(rows), columns=list(stats.PER_CLASS_COLUMNS))


def judge(*rows, **rule):
    tax = verdict.taxonomy(table(*rows), Rule(**rule))
    return tax.set_index("class")


def test_appearance_class_followed_by_motion_in_a_conflict_is_still_single_frame():
    # Conflation 1: the conflict drop says which cue dominates, not whether one frame suffices.
    tax = judge(
        row("red", "freeze", 0.0, 0.0, 0.0),
        row("red", "reverse", 0.0, 0.0, 0.0),
        row("red", "shuffle", 0.0, 0.0, 0.0),
        row("red", "conflict", 0.7, 0.5, 0.9),
    )
    assert tax.at["red", "verdict"] == "single_frame"
    assert tax.at["red", "sufficient"] == "yes"
    assert tax.at["red", "sufficient_by"] == "freeze"


def test_shuffle_into_a_sink_is_an_artifact_not_order():
    # Conflation 2: shuffled smooth clips become jerky and fall into the jerky class, which keeps
    # its own clips and takes everyone's: that drop says nothing about order.
    rows = [
        row("slide", "freeze", 0.9),
        row("slide", "reverse", 0.0, 0.0, 0.05),
        row("slide", "shuffle", 1.0, to="jerky"),
        row("jerky", "freeze", 0.9),
        row("jerky", "reverse", 0.0, 0.0, 0.0),
        row("jerky", "shuffle", 0.0, 0.0, 0.0, pdrop=0.6, n_pred=50),
        row("red", "freeze", 0.0, 0.0, 0.0),
        row("red", "reverse", 0.0, 0.0, 0.0),
        row("red", "shuffle", 1.0, to="jerky"),
    ]
    tax = judge(*rows)
    assert tax.at["slide", "shuffle_artifact"]
    assert tax.at["slide", "order"] == "undetermined"
    assert tax.at["slide", "verdict"] == "inconclusive"
    assert tax.at["red", "verdict"] == "single_frame"
    assert tax.at["red", "order"] == "undetermined"
    assert tax.at["jerky", "verdict"] == "bag_of_frames"
    # What counts is where the lost clips went, even when the class keeps the plurality.
    rows[2] = row("slide", "shuffle", 0.4, to="jerky", kept=True)
    assert judge(*rows).at["slide", "shuffle_artifact"]
    rows[2] = row("slide", "shuffle", 1.0, to="jerky")
    # The same drop into a class that is no sink is order evidence.
    rows[5] = row("jerky", "shuffle", 0.0, 0.0, 0.0, pdrop=0.2, n_pred=25)
    tax = judge(*rows)
    assert not tax.at["slide", "shuffle_artifact"]
    assert tax.at["slide", "verdict"] == "ordered_sequence"


def test_reverse_partners_swap_and_are_ordered_not_sinks():
    rows = []
    for cls, mate in (("right", "left"), ("left", "right")):
        rows += [
            row(cls, "freeze", 0.0, 0.0, 0.0, pdrop=0.8, n_pred=100),  # a sink under freeze
            row(cls, "freeze:select=max", 0.6),
            row(cls, "reverse", 1.0, 0.9, 1.0, pdrop=1.0, n_pred=20, to=mate),
            row(cls, "shuffle", 1.0, to="teleport"),
        ]
    tax = judge(*rows)
    assert (tax["verdict"] == "ordered_sequence").all()
    assert (tax["sufficient"] == "no").all() and (tax["order"] == "yes").all()
    sinks = verdict.mark_sinks(table(*rows)).set_index(["class", "intervention"])["sink"]
    assert sinks[("right", "freeze")] and not sinks[("right", "reverse")]


def test_motionless_class_is_a_sink_and_never_single_frame():
    # A still video frozen is the same video: no drop, but every frozen clip lands there.
    still = [
        row("still", "freeze", 0.0, 0.0, 0.0, pdrop=0.9, n_pred=200),
        row("still", "freeze:select=max", 0.0, 0.0, 0.0, pdrop=0.9, n_pred=200),
        row("still", "inject_motion", 0.9),
        row("still", "reverse", 0.0, 0.0, 0.0),
        row("still", "shuffle", 0.0, 0.0, 0.0),
    ]
    tax = judge(*still)
    assert tax.at["still", "sufficient"] == "no" and tax.at["still", "sink"]
    assert tax.at["still", "verdict"] == "bag_of_frames"


def test_one_controlled_condition_that_suffices_is_enough_and_naive_disagrees():
    tax = judge(
        row("cup", "freeze", 0.6, 0.4, 0.8),
        row("cup", "freeze:select=max", 0.05, 0.0, 0.15),
        row("cup", "inject_motion", 0.5),
        row("cup", "reverse", 0.0, 0.0, 0.0),
    )
    assert tax.at["cup", "verdict"] == "single_frame"
    assert tax.at["cup", "sufficient_by"] == "freeze:select=max"
    assert tax.at["cup", "verdict_naive"] == "bag_of_frames"


def test_undetermined_evidence_gives_inconclusive_and_thresholds_are_parameters():
    rows = [row("x", "freeze", 0.15, 0.05, 0.25), row("x", "reverse", 0.0, 0.0, 0.0)]
    assert judge(*rows).at["x", "verdict"] == "inconclusive"
    assert judge(*rows, min_drop=0.3).at["x", "verdict"] == "single_frame"
    assert judge(*rows, min_drop=0.1).at["x", "verdict"] == "bag_of_frames"


def test_unrecognised_or_small_classes_are_inconclusive():
    tax = judge(row("a", "freeze", 0.0, 0.0, 0.0, clean=0.3), row("b", "freeze", 0.0, n=3))
    assert tax.at["a", "verdict"] == "inconclusive" and "clean" in tax.at["a", "reason"]
    assert tax.at["b", "verdict"] == "inconclusive" and "few clips" in tax.at["b", "reason"]


def test_a_class_that_absorbs_its_partner_on_clean_clips_is_not_judged():
    # The model calls both members of a reverse pair "ccw" (precision 0.3): reversing a clip
    # changes nothing for it, which says nothing about the order of "ccw" itself.
    def pair(cls, precision):
        rows = [row(cls, iv, d) for iv, d in (("freeze", 0.9), ("reverse", 0.0), ("shuffle", 0.0))]
        return [dict(r, precision_clean=precision) for r in rows]

    tax = judge(*pair("ccw", 0.3), *pair("ccw_ok", 0.8))
    assert tax.at["ccw", "verdict"] == "inconclusive" and "precision" in tax.at["ccw", "reason"]
    assert tax.at["ccw_ok", "verdict"] == "bag_of_frames"
    assert judge(*pair("ccw", 0.3), min_precision=0.2).at["ccw", "verdict"] == "bag_of_frames"
    truth = pd.DataFrame(
        [dict(name="ccw", cue="order", sufficient=False, order=True, verdict="ordered_sequence")]
    )
    agree = verdict.agreement(judge(*pair("ccw", 0.3)).reset_index(), truth)
    assert not agree["recognised"].any() and not agree["committed"].iloc[0]
    # Its axes are withheld with the verdict: no axis of an unrecognised class is an answer.
    assert tuple(judge(*pair("ccw", 0.3)).loc["ccw", ["sufficient", "order"]]) == (
        "undetermined",
        "undetermined",
    )
    assert not agree["committed"].any()


def test_no_single_frame_condition_is_refused():
    with pytest.raises(ValueError, match="single-frame"):
        verdict.taxonomy(table(row("a", "reverse", 0.0)))


def _predictions(outcomes: dict, n: int = 20) -> pd.DataFrame:
    """Predictions where ``outcomes[(cls, iv)]`` is the prediction of each of ``n`` clips."""
    rows = []
    for (cls, iv), preds in outcomes.items():
        for i in range(n):
            pred = preds[i] if isinstance(preds, list) else preds
            params = json.dumps({"partner_label": "b"} if iv == "conflict" else {})
            rows.append((f"{cls}{i}", 0, cls, iv, params, 0, pred, pred == cls))
    cols = ["video_id", "clip_index", "label", "intervention", "params", "seed", "pred", "correct"]
    return pd.DataFrame(rows, columns=cols)


def test_cue_preference_reads_which_cue_the_conflict_follows():
    preds = _predictions(
        {
            ("a", "clean"): "a",
            ("a", "freeze"): "a",
            ("a", "conflict"): ["a"] * 17 + ["b"] * 3,
            ("c", "clean"): "c",
            ("c", "freeze"): "c",
            ("c", "conflict"): ["b"] * 15 + ["c"] * 5,
        }
    )
    cues = verdict.cue_preference(preds).set_index("class")
    assert cues.at["a", "cue_preference"] == "appearance"
    assert cues.at["a", "follows_appearance"] == pytest.approx(0.85)
    assert cues.at["c", "cue_preference"] == "motion"
    tax = verdict.judge(preds).set_index("class")
    assert tax.at["c", "cue_preference"] == "motion" and tax.at["c", "verdict"] == "single_frame"


def test_stability_marks_a_borderline_class_and_agreement_reads_the_truth():
    preds = _predictions(
        {
            ("a", "clean"): "a",
            ("a", "freeze"): "a",
            ("a", "reverse"): "a",
            # b loses 4 of 20 frozen clips: its drop's CI straddles the threshold.
            ("b", "clean"): "b",
            ("b", "freeze"): ["b"] * 16 + ["a"] * 4,
            ("b", "reverse"): "b",
        }
    )
    boot = verdict.stability(preds, reps=20, n_boot=200).set_index("class")
    assert boot.at["a", "stability"] == 1.0
    assert boot.at["b", "stability"] < 1.0 and boot.at["b", "flips_to"] is not None
    tax = verdict.mark_stable(verdict.judge(preds), boot.reset_index())
    assert tax.set_index("class").at["a", "stable"]
    other = tax.assign(verdict="bag_of_frames")
    seeds = verdict.mark_stable(tax, None, [other]).set_index("class")
    assert not seeds["stable"].any() and (seeds["seed_agreement"] == 0).all()

    truth = pd.DataFrame(
        [
            dict(name="a", cue="appearance", sufficient=True, order=False, verdict="single_frame"),
            dict(name="b", cue="motion", sufficient=False, order=False, verdict="bag_of_frames"),
        ]
    )
    agree = verdict.agreement(tax, truth).set_index(["class", "axis"])
    assert agree.at[("a", "verdict"), "agrees"]
    assert agree.at[("a", "sufficient"), "got"] == "yes"
    assert not agree.at[("b", "sufficient"), "agrees"]
    # A definite answer that disagrees is a wrong answer; "undetermined" is no answer.
    answered = agree["committed"] & ~agree["agrees"]
    assert answered.at[("b", "sufficient")] == (
        agree.at[("b", "sufficient"), "got"] != "undetermined"
    )
    assert agree.at[("a", "verdict"), "committed"] and agree.at[("a", "verdict"), "stable"]
    assert not agree.at[("b", "verdict"), "stable"]


def test_sink_is_measured_against_the_class_own_size():
    # 20 own clips kept; 11 foreign clips in (precision 0.65) is a sink, 6 (a third of a
    # similar-looking class) is not, and a class that loses its own clips is swapping.
    rows = [
        row("a", "inject_motion", 0.0, 0.0, 0.0, pdrop=11 / 31, n_pred=31),
        row("b", "inject_motion", 0.0, 0.0, 0.0, pdrop=6 / 26, n_pred=26),
        row("c", "inject_motion", 1.0, 0.9, 1.0, pdrop=1.0, n_pred=20),
    ]
    sinks = verdict.mark_sinks(table(*rows)).set_index("class")
    assert sinks.at["a", "absorbed"] == pytest.approx(0.55)
    assert sinks["sink"].tolist() == [True, False, False]
