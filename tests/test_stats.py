"""Known-answer tests of motionprobe.stats on hand-built predictions tables."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from motionprobe.stats import (
    PER_CLASS_COLUMNS,
    accuracy_by_intervention,
    benjamini_hochberg,
    bootstrap_mean_ci,
    cue_agreement,
    drop_state,
    per_class,
    share_ci,
    sign_flip_pvalue,
)
from motionprobe.types import VERDICTS
from motionprobe.verdict import Rule
from motionprobe.verdict import taxonomy as judge


def taxonomy(per_class_df, freeze="freeze", controlled=None, **kw):
    """The verdict rule with the old keyword names mapped onto :class:`Rule`."""
    if controlled is None:
        controlled = ("freeze:select=max", "inject_motion", "generate:k=1:select=max")
    return judge(per_class_df, Rule(single_frame=(freeze, *controlled), **kw))


def clip_rows(label, intervention, correct, wrong_pred="other", seed=0, prefix=None, pred=None):
    """Rows for clips ``{prefix}{i}`` of class ``label``: correct ones predict the label."""
    prefix = label if prefix is None else prefix
    rows = []
    for i, ok in enumerate(correct):
        p = pred[i] if pred is not None else (label if ok else wrong_pred)
        rows.append(
            {
                "video_id": f"{prefix}_{i}",
                "clip_index": 0,
                "label": label,
                "intervention": intervention,
                "params": "{}",
                "seed": seed,
                "pred": p,
                "correct": bool(p == label),
                "p_label": 0.9 if p == label else 0.1,
                "logit_label": 1.0,
            }
        )
    return rows


def table(*groups):
    return pd.DataFrame([r for g in groups for r in g])


def row(pc, cls, iv):
    sub = pc[(pc["class"] == cls) & (pc["intervention"] == iv)]
    assert len(sub) == 1
    return sub.iloc[0]


# ------------------------------------------------------------------------------------------------
# per_class
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_classes():
    """'a' collapses under freeze (all predicted 'b'); 'b' is unchanged."""
    preds = table(
        clip_rows("a", "clean", [True] * 20),
        clip_rows("a", "freeze", [False] * 20, wrong_pred="b"),
        clip_rows("b", "clean", [True] * 20),
        clip_rows("b", "freeze", [True] * 20),
    )
    return per_class(preds)


def test_per_class_columns_and_rows(two_classes):
    assert list(two_classes.columns) == list(PER_CLASS_COLUMNS)
    assert list(zip(two_classes["class"], two_classes["intervention"], strict=True)) == [
        ("a", "freeze"),
        ("b", "freeze"),
    ]


def test_full_drop(two_classes):
    a = row(two_classes, "a", "freeze")
    assert a["n"] == 20
    assert a["acc"] == 0.0 and a["acc_clean"] == 1.0 and a["drop"] == 1.0
    assert (a["ci_low"], a["ci_high"]) == (1.0, 1.0)
    assert a["p_value"] == pytest.approx(2 * 0.5**20)
    assert a["p_value"] < 1e-5
    assert a["top_pred"] == "b" and a["top_pred_share"] == 1.0
    # nothing predicted as 'a' under freeze -> precision undefined
    assert np.isnan(a["precision"]) and a["n_pred"] == 0
    assert a["precision_clean"] == 1.0


def test_unchanged_class(two_classes):
    b = row(two_classes, "b", "freeze")
    assert b["drop"] == 0.0 and (b["ci_low"], b["ci_high"]) == (0.0, 0.0)
    assert b["p_value"] == 1.0
    # 'b' absorbs the 20 frozen 'a' clips: precision 20/40
    assert b["n_pred"] == 40 and b["precision"] == 0.5
    assert b["precision_clean"] == 1.0 and b["precision_drop"] == 0.5
    assert b["top_pred"] == "b"


def test_mcnemar_matches_binomtest():
    # 12 both right, 10 right only clean, 3 right only frozen, 5 both wrong
    clean = [True] * 12 + [True] * 10 + [False] * 3 + [False] * 5
    froz = [True] * 12 + [False] * 10 + [True] * 3 + [False] * 5
    pc = per_class(table(clip_rows("a", "clean", clean), clip_rows("a", "freeze", froz)))
    r = row(pc, "a", "freeze")
    assert r["drop"] == pytest.approx(7 / 30)
    assert r["p_value"] == pytest.approx(sps.binomtest(10, 13, 0.5).pvalue)
    assert r["ci_low"] <= r["drop"] <= r["ci_high"]


def test_pairing_uses_common_clips_only():
    clean = clip_rows("a", "clean", [True] * 10)
    froz = clip_rows("a", "freeze", [False] * 8)  # clips a_8, a_9 missing under freeze
    r = row(per_class(table(clean, froz)), "a", "freeze")
    assert r["n"] == 8 and r["drop"] == 1.0


def test_seeds_are_averaged_per_clip():
    preds = table(
        clip_rows("a", "clean", [True] * 10),
        clip_rows("a", "freeze", [False] * 10, wrong_pred="b", seed=0),
        clip_rows("a", "freeze", [True] * 10, seed=1),
        clip_rows("b", "clean", [True] * 10),
        clip_rows("b", "freeze", [True] * 10, seed=0),
        clip_rows("b", "freeze", [True] * 10, seed=1),
    )
    pc = per_class(preds)
    a = row(pc, "a", "freeze")
    assert a["n"] == 10  # clips, not seed rows
    assert a["acc"] == 0.5 and a["drop"] == 0.5
    assert (a["ci_low"], a["ci_high"]) == (0.5, 0.5)
    # correctness is not 0/1 -> sign-flip test; 10 equal differences: exact p = 2 / 2**10
    assert a["p_value"] == pytest.approx(2 / 2**10)
    # prediction counts in clip units: 'a' predicted for half of its clips' seed rows
    assert a["n_pred"] == pytest.approx(5.0) and a["precision"] == 1.0
    assert a["top_pred"] == "a" and a["top_pred_share"] == 0.5  # tie broken by name
    assert a["top_wrong"] == "b" and a["top_wrong_share"] == 0.5  # the lost half went to b
    b = row(pc, "b", "freeze")
    assert b["n_pred"] == pytest.approx(15.0)
    assert b["precision"] == pytest.approx(10 / 15)


def test_multiple_clips_per_video_are_distinct():
    rows = []
    for clip in range(3):
        for iv, ok in (("clean", True), ("freeze", False)):
            rows.append(
                dict(video_id="v", clip_index=clip, label="a", intervention=iv, seed=0,
                     pred="a" if ok else "b", correct=ok)
            )  # fmt: skip
    assert row(per_class(pd.DataFrame(rows)), "a", "freeze")["n"] == 3


def test_bootstrap_ci_contains_truth_and_shrinks():
    rng = np.random.default_rng(123)
    widths = {}
    for n in (40, 800):
        clean = rng.random(n) < 0.9
        froz = rng.random(n) < 0.5
        pc = per_class(table(clip_rows("a", "clean", clean), clip_rows("a", "freeze", froz)))
        r = row(pc, "a", "freeze")
        assert r["ci_low"] < 0.4 < r["ci_high"]  # true drop 0.4
        assert r["ci_low"] <= r["drop"] <= r["ci_high"]
        widths[n] = r["ci_high"] - r["ci_low"]
        d = clean.astype(float) - froz.astype(float)
        normal = 2 * 1.96 * d.std() / np.sqrt(n)
        assert widths[n] == pytest.approx(normal, rel=0.2)
    assert widths[800] < 0.35 * widths[40]  # ~ 1/sqrt(20) = 0.22


def test_bootstrap_is_deterministic_and_vectorised():
    v = np.r_[np.ones(30), np.zeros(10)]
    a = bootstrap_mean_ci(v, 500, 0.9, np.random.default_rng(1))
    b = bootstrap_mean_ci(v, 500, 0.9, np.random.default_rng(1))
    assert a == b and a[0] < 0.75 < a[1]
    assert bootstrap_mean_ci(np.full(7, 0.25)) == (0.25, 0.25)
    assert all(np.isnan(bootstrap_mean_ci(np.empty(0))))


def test_sign_flip_exact_matches_enumeration():
    d = np.array([0.5, 1.0, -0.5, 0.5, 0.0, 1.0])
    nz = d[d != 0]
    sums = [abs(np.dot(s, nz)) for s in itertools.product((1, -1), repeat=nz.size)]
    expected = np.mean(np.array(sums) >= abs(nz.sum()) - 1e-12)
    assert sign_flip_pvalue(d) == pytest.approx(expected)
    # Monte Carlo branch (> 12 non-zero): a strong effect gets the smallest attainable p
    p = sign_flip_pvalue(np.full(30, 0.5), n_perm=999, rng=np.random.default_rng(0))
    assert p == pytest.approx(1 / 1000)
    big = np.random.default_rng(0).normal(0, 1, 40)
    assert 0.05 < sign_flip_pvalue(big - big.mean(), 2000) <= 1.0


def test_benjamini_hochberg_known_vector():
    p = [0.005, 0.04, 0.03, 0.5]
    # sorted: 0.005*4/1=0.02, 0.03*4/2=0.06, 0.04*4/3=0.0533, 0.5 -> monotone from the right
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.16 / 3, 0.16 / 3, 0.5])
    vec = np.array([0.01, 0.2, 0.03, 0.9, 0.04, 0.001])
    np.testing.assert_allclose(benjamini_hochberg(vec), sps.false_discovery_control(vec))
    q = benjamini_hochberg([0.01, np.nan, 0.02])
    assert np.isnan(q[1]) and q[0] == pytest.approx(0.02) and q[2] == pytest.approx(0.02)


def test_q_values_over_all_rows(two_classes):
    np.testing.assert_allclose(
        two_classes["q_value"], benjamini_hochberg(two_classes["p_value"].to_numpy())
    )


def test_class_order_and_clean_required():
    preds = table(
        clip_rows("b", "clean", [True] * 3),
        clip_rows("b", "freeze", [True] * 3),
        clip_rows("a", "clean", [True] * 3),
        clip_rows("a", "freeze", [True] * 3),
        clip_rows("c", "clean", [True] * 3),
        clip_rows("c", "freeze", [True] * 3),
    )
    assert per_class(preds)["class"].tolist() == ["a", "b", "c"]
    assert per_class(preds, classes=["c", "zzz", "a"])["class"].tolist() == ["c", "a", "b"]
    with pytest.raises(ValueError, match="clean"):
        per_class(preds[preds["intervention"] != "clean"])


def test_interventions_in_order_of_appearance():
    preds = table(
        clip_rows("a", "clean", [True] * 4),
        clip_rows("a", "shuffle", [True] * 4),
        clip_rows("a", "freeze", [False] * 4),
    )
    assert per_class(preds)["intervention"].tolist() == ["shuffle", "freeze"]


def test_accuracy_by_intervention():
    preds = table(
        clip_rows("a", "clean", [True] * 8 + [False] * 2),
        clip_rows("a", "freeze", [True] * 2 + [False] * 8),
    )
    acc = accuracy_by_intervention(preds, n_boot=500)
    assert acc["intervention"].tolist() == ["clean", "freeze"]
    assert acc["acc"].tolist() == pytest.approx([0.8, 0.2])
    assert (acc["ci_low"] <= acc["acc"]).all() and (acc["acc"] <= acc["ci_high"]).all()


# ------------------------------------------------------------------------------------------------
# sink classes
# ------------------------------------------------------------------------------------------------


def test_sink_class_is_not_single_frame():
    """'still' keeps its accuracy under freeze because every frozen clip is predicted 'still'."""
    groups = []
    for cls in ("still", "run", "jump"):
        groups.append(clip_rows(cls, "clean", [True] * 20))
        froz = clip_rows(cls, "freeze", [cls == "still"] * 20, wrong_pred="still")
        groups.append(froz)
        for iv in ("shuffle", "reverse"):
            groups.append(clip_rows(cls, iv, [True] * 20))
    groups.append(clip_rows("face", "clean", [True] * 20))  # a true single-frame class
    for iv in ("freeze", "shuffle", "reverse"):
        groups.append(clip_rows("face", iv, [True] * 20))
    pc = per_class(table(*groups))
    still = row(pc, "still", "freeze")
    assert still["drop"] == 0.0 and (still["ci_low"], still["ci_high"]) == (0.0, 0.0)
    assert still["n_pred"] == 60 and still["precision"] == pytest.approx(20 / 60)
    assert still["precision_drop"] == pytest.approx(1 - 20 / 60)
    assert row(pc, "run", "freeze")["top_pred"] == "still"

    tax = taxonomy(pc).set_index("class")
    assert bool(tax.at["still", "sink"])
    assert tax.at["still", "verdict"] == "bag_of_frames"
    assert "sink" in tax.at["still", "reason"]
    assert tax.at["run", "verdict"] == "bag_of_frames"
    assert tax.at["face", "verdict"] == "single_frame"
    assert not bool(tax.at["face", "sink"])


# ------------------------------------------------------------------------------------------------
# taxonomy on constructed per-class tables
# ------------------------------------------------------------------------------------------------


def pc_row(cls, iv, drop, lo, hi, acc_clean=0.9, n=20, precision_drop=0.0, n_pred=20):
    return {
        "class": cls,
        "intervention": iv,
        "n": n,
        "acc": acc_clean - drop,
        "acc_clean": acc_clean,
        "drop": drop,
        "ci_low": lo,
        "ci_high": hi,
        "p_value": 0.5,
        "q_value": 0.5,
        "precision": 0.9 - precision_drop,
        "precision_clean": 0.9,
        "precision_drop": precision_drop,
        "n_pred": n_pred,
        "top_pred": cls,
        "top_pred_share": 1.0,
    }


NEG = (0.0, -0.05, 0.1)
MAT = (0.6, 0.4, 0.8)
UND = (0.15, -0.05, 0.35)


def build(spec):
    """spec: {class: {intervention: (drop, lo, hi) or dict of pc_row kwargs}}."""
    rows = []
    for cls, ivs in spec.items():
        for iv, v in ivs.items():
            if isinstance(v, dict):
                rows.append(pc_row(cls, iv, **v))
            else:
                rows.append(pc_row(cls, iv, *v))
    return pd.DataFrame(rows)


def test_taxonomy_every_verdict():
    spec = {
        "single": {"freeze": NEG, "shuffle": NEG, "reverse": NEG},
        "bag": {"freeze": MAT, "shuffle": NEG, "reverse": NEG},
        "order_rev": {"freeze": MAT, "shuffle": NEG, "reverse": MAT},
        "order_shuf": {"freeze": MAT, "shuffle": MAT, "reverse": UND},
        "order_undet": {"freeze": MAT, "shuffle": UND, "reverse": NEG},
        "freeze_undet": {"freeze": UND, "shuffle": NEG, "reverse": NEG},
        "low_clean": {
            "freeze": dict(drop=0.0, lo=0.0, hi=0.0, acc_clean=0.3),
            "shuffle": NEG,
            "reverse": NEG,
        },
        "few": {"freeze": dict(drop=1.0, lo=1.0, hi=1.0, n=3), "shuffle": NEG, "reverse": NEG},
        "sink": {
            "freeze": dict(drop=0.0, lo=0.0, hi=0.0, precision_drop=0.5, n_pred=40),
            "shuffle": NEG,
            "reverse": NEG,
        },
        "tiny_sink": {  # precision falls but too few predictions to call it a sink
            "freeze": dict(drop=0.0, lo=0.0, hi=0.0, precision_drop=0.5, n_pred=2),
            "shuffle": NEG,
            "reverse": NEG,
        },
        "shuffle_only": {"freeze": MAT, "shuffle": NEG},
    }
    tax = taxonomy(build(spec))
    assert tax["class"].tolist() == list(spec)
    assert set(tax["verdict"]) <= set(VERDICTS)
    got = dict(zip(tax["class"], tax["verdict"], strict=True))
    assert got == {
        "single": "single_frame",
        "bag": "bag_of_frames",
        "order_rev": "ordered_sequence",
        "order_shuf": "ordered_sequence",
        "order_undet": "inconclusive",
        "freeze_undet": "inconclusive",
        "low_clean": "inconclusive",
        "few": "inconclusive",
        "sink": "bag_of_frames",
        "tiny_sink": "single_frame",
        "shuffle_only": "bag_of_frames",
    }
    reasons = dict(zip(tax["class"], tax["reason"], strict=True))
    assert "not recognised on clean input" in reasons["low_clean"]
    assert "too few clips" in reasons["few"]
    assert "undetermined" in reasons["freeze_undet"]
    t = tax.set_index("class")
    assert t.at["bag", "drop_freeze"] == 0.6 and t.at["bag", "ci_low_freeze"] == 0.4
    assert t.at["bag", "acc_clean"] == 0.9 and t.at["bag", "n"] == 20
    assert np.isnan(t.at["shuffle_only", "drop_reverse"])
    for col in (
        "acc_clean n drop_freeze ci_low_freeze ci_high_freeze sink_freeze "
        "drop_shuffle ci_low_shuffle ci_high_shuffle drop_reverse ci_low_reverse "
        "ci_high_reverse reason"
    ).split():
        assert col in tax.columns


def test_taxonomy_without_order_interventions():
    tax = taxonomy(build({"x": {"freeze": MAT}, "y": {"freeze": NEG}})).set_index("class")
    assert tax.at["x", "verdict"] == "inconclusive"
    assert "neither reverse nor shuffle" in tax.at["x", "reason"]
    assert tax.at["y", "verdict"] == "single_frame"


def test_taxonomy_custom_names_and_missing_freeze():
    df = build({"x": {"static": MAT, "perm": MAT}})
    assert taxonomy(df, freeze="static", shuffle="perm").at[0, "verdict"] == "ordered_sequence"
    with pytest.raises(ValueError, match="single-frame"):
        taxonomy(df)


def test_taxonomy_thresholds_are_parameters():
    df = build({"x": {"freeze": (0.15, 0.05, 0.25), "shuffle": NEG}})
    assert taxonomy(df)["verdict"].item() == "inconclusive"  # 0.15 < min_drop 0.2
    assert taxonomy(df, min_drop=0.12)["verdict"].item() == "bag_of_frames"
    assert taxonomy(df, min_drop=0.3)["verdict"].item() == "single_frame"  # CI < 0.3
    assert taxonomy(df, min_n=50)["verdict"].item() == "inconclusive"
    assert taxonomy(df, min_clean=0.95)["verdict"].item() == "inconclusive"


def test_drop_state_boundaries():
    assert drop_state(0.1, 0.05, 0.15) == "negligible"  # small but real
    assert drop_state(0.1, 0.0, 0.2) == "undetermined"  # upper bound not below min_drop
    assert drop_state(0.2, 0.01, 0.4) == "material"
    assert drop_state(0.3, 0.0, 0.6) == "undetermined"  # lower bound not above 0
    assert drop_state(float("nan"), float("nan"), float("nan")) == "absent"


def test_taxonomy_on_csv_roundtrip(tmp_path, two_classes):
    path = tmp_path / "per_class.csv"
    two_classes.to_csv(path, index=False)
    back = pd.read_csv(path)
    tax = taxonomy(back, shuffle="none", reverse="none")
    assert tax.set_index("class").at["a", "drop_freeze"] == 1.0
    # 'b' is a sink (precision 1 -> 0.5 over 40 predictions), so it needs frames
    assert bool(tax.set_index("class").at["b", "sink"])


# ------------------------------------------------------------------------------------------------
# summaries
# ------------------------------------------------------------------------------------------------


def test_share_ci():
    flags = np.array([True] * 7 + [False] * 13)
    share, low, high = share_ci(flags, seed=3)
    assert share == pytest.approx(0.35)
    assert low < 0.35 < high and 0.1 < low and high < 0.6
    assert share_ci(flags, seed=3) == (share, low, high)
    assert share_ci([True] * 5) == (1.0, 1.0, 1.0)
    assert all(np.isnan(share_ci([])))


def test_cue_agreement():
    tax = pd.DataFrame(
        {
            "class": ["A", "M", "O", "X", "U"],
            "verdict": ["single_frame", "ordered_sequence", "ordered_sequence", "bag_of_frames",
                        "inconclusive"],
        }
    )  # fmt: skip
    agree = cue_agreement(tax, {"A": "appearance", "M": "motion", "O": "order", "U": "motion"})
    assert agree.columns.tolist() == ["class", "cue", "verdict", "expected", "agrees"]
    assert agree["class"].tolist() == ["A", "M", "O", "U"]
    assert agree["expected"].tolist() == [
        "single_frame",
        "bag_of_frames",
        "ordered_sequence",
        "bag_of_frames",
    ]
    assert agree["agrees"].tolist() == [True, False, True, False]
    assert agree["agrees"].dtype == bool
    with pytest.raises(ValueError, match="unknown cue"):
        cue_agreement(tax, {"A": "colour"})


# ------------------------------------------------------------------------------------------------
# artifact-controlled and cue-conflict evidence
# ------------------------------------------------------------------------------------------------


def test_controlled_removal_overrides_the_naive_freeze():
    ctl = "freeze:select=max"
    spec = {
        # The middle frame fails, a well-chosen frame does not: single frame after all.
        "shifted": {"freeze": MAT, ctl: NEG, "shuffle": NEG, "reverse": NEG},
        # The best of several controlled conditions decides (inject is the favourable one).
        "two": {"freeze": MAT, ctl: MAT, "inject_motion": NEG, "shuffle": NEG, "reverse": NEG},
        "moving": {"freeze": MAT, ctl: MAT, "inject_motion": MAT, "shuffle": NEG, "reverse": NEG},
    }
    tax = taxonomy(build(spec)).set_index("class")
    assert tax.at["shifted", "verdict_naive"] == "bag_of_frames"
    assert tax.at["shifted", "verdict"] == "single_frame"
    assert tax.at["shifted", "controlled"] == ctl
    assert (tax.at["two", "controlled"], tax.at["two", "verdict"]) == (
        "inject_motion",
        "single_frame",
    )
    assert tax.at["moving", "verdict"] == "bag_of_frames"
    # Only the names given count as single-frame conditions.
    tax = taxonomy(build(spec), controlled=[]).set_index("class")
    assert tax.at["shifted", "verdict"] == "bag_of_frames"
    assert tax.at["shifted", "controlled"] == "freeze"


def test_conflict_drop_no_longer_decides_whether_one_frame_suffices():
    # A class kept from one frame but carried away by a partner's motion in a cue conflict is
    # still recognised from one frame: the conflict says which cue dominates, not sufficiency.
    spec = {
        "face": {"freeze": NEG, "conflict": NEG, "shuffle": NEG, "reverse": NEG},
        "dominated": {"freeze": NEG, "conflict": MAT, "shuffle": NEG, "reverse": NEG},
    }
    tax = taxonomy(build(spec)).set_index("class")
    assert tax.at["face", "verdict"] == "single_frame"
    assert tax.at["dominated", "verdict"] == "single_frame"
    assert "conflict" not in tax.at["dominated", "reason"]


def test_a_sink_under_the_controlled_condition_is_not_single_frame():
    sink = dict(drop=0.0, lo=-0.05, hi=0.05, precision_drop=0.7, n_pred=40)
    spec = {
        "still": {"freeze": sink, "freeze:select=max": sink, "shuffle": NEG, "reverse": NEG},
        # A sink under one condition only: the condition where it keeps its clips without
        # taking others' still shows that one frame suffices.
        "cup": {"freeze": NEG, "freeze:select=max": sink, "shuffle": NEG, "reverse": NEG},
    }
    tax = taxonomy(build(spec)).set_index("class")
    assert bool(tax.at["still", "sink"]) and tax.at["still", "verdict"] == "bag_of_frames"
    assert bool(tax.at["cup", "sink_freeze_select"]) and not tax.at["cup", "sink_freeze"]
    assert tax.at["cup", "verdict"] == "single_frame" and tax.at["cup", "sufficient_by"] == "freeze"


def test_where_predictions_go_known_answer():
    from motionprobe.stats import where_predictions_go

    preds = table(
        clip_rows("a", "clean", [True] * 4),
        clip_rows("a", "freeze", [False] * 3 + [True], wrong_pred="b"),
        # Two seeds of one clip weigh as one clip.
        clip_rows("b", "shuffle", [True], seed=0),
        clip_rows("b", "shuffle", [False], seed=1, wrong_pred="a"),
    )
    where = where_predictions_go(preds)
    frozen = where[(where["intervention"] == "freeze") & (where["label"] == "a")]
    assert frozen[["pred", "share", "clips"]].values.tolist() == [
        ["b", 0.75, 3.0],
        ["a", 0.25, 1.0],
    ]
    shuffled = where[where["intervention"] == "shuffle"].set_index("pred")
    assert shuffled.loc["a", "clips"] == 0.5 and shuffled.loc["b", "share"] == 0.5
    assert list(dict.fromkeys(where["intervention"])) == ["clean", "freeze", "shuffle"]


def test_cue_conflict_shares():
    import json

    from motionprobe.stats import cue_conflict

    rows = []
    for i, (pred, mate) in enumerate([("red", "left"), ("red", "left"), ("left", "left"),
                                      ("x", "blue")]):  # fmt: skip
        rows.append(
            dict(video_id=f"v{i}", clip_index=0, label="red", intervention="conflict", seed=0,
                 pred=pred, correct=pred == "red",
                 params=json.dumps({"partner": f"p{i}", "partner_label": mate}))
        )  # fmt: skip
    out = cue_conflict(pd.DataFrame(rows), cues={"left": "order", "blue": "appearance"})
    both = out.set_index("partners")
    assert both.loc["all", ["n", "appearance", "motion", "other"]].tolist() == [4, 0.5, 0.25, 0.25]
    assert np.isnan(both.loc["all", "moved"])  # not recorded in these rows
    moving = both.loc["motion_cue"]
    assert moving["n"] == 3 and moving["appearance"] == pytest.approx(2 / 3)
    assert moving["motion"] == pytest.approx(1 / 3) and moving["other"] == 0.0
