"""Synthetic controls: the ground-truth properties the probes are judged against."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from motionprobe.data.families.squares import MOTIONS, VELOCITIES, _positions, class_specs, render
from motionprobe.data.synthetic import synthesize
from motionprobe.video import read_clip

SPECS = class_specs()
GREY = [s.name for s in SPECS if s.cue in ("motion", "order")]


def test_classes_cover_every_cue_with_reverse_pairs():
    cues = [s.cue for s in SPECS]
    assert len(SPECS) >= 12
    assert all(cues.count(c) >= 3 for c in ("appearance", "motion", "order"))
    partners = {s.name: s.reverse_partner for s in SPECS if s.cue == "order"}
    assert partners and all(partners[partners[n]] == n and partners[n] != n for n in partners)
    assert all(s.reverse_partner is None for s in SPECS if s.cue != "order")


def test_still_class_has_no_motion_at_all():
    for seed in range(5):
        clip = render("still", np.random.default_rng(seed), frames=16, size=32)
        assert (clip == clip[:1]).all()


def test_reversed_order_clip_moves_like_its_partner():
    for name, (dx, dy) in VELOCITIES.items():
        pos = _positions(name, 12, 64, np.random.default_rng(1), speed=2)
        step = (np.diff(pos[::-1], axis=0) + 32) % 64 - 32  # steps on the torus, reversed time
        assert (step == [-2 * dx, -2 * dy]).all()


@pytest.mark.parametrize("t", [0, 7])
def test_single_frame_position_is_uniform_for_every_grey_class(t):
    """Any single frame of a motion/order class places the object uniformly: no class signal."""
    from scipy.stats import chisquare

    for kind in (*MOTIONS, *VELOCITIES):
        rng = np.random.default_rng(0)
        xs = np.array([_positions(kind, 8, 16, rng, 2)[t, 0] for _ in range(1600)])
        assert chisquare(np.bincount(xs, minlength=16)).pvalue > 1e-3, kind


def test_single_frame_statistics_match_across_grey_classes():
    """Frame-level brightness distributions of motion/order classes are indistinguishable."""
    from scipy.stats import ks_2samp

    def frame_means(name):
        rng = np.random.default_rng(123)
        return np.array([render(name, rng, frames=4, size=32)[2].mean() for _ in range(300)])

    reference = frame_means("still")
    for name in GREY[1:]:
        assert ks_2samp(reference, frame_means(name)).pvalue > 1e-3, name


def test_appearance_cue_is_visible_in_every_frame():
    for spec in SPECS:
        if spec.cue != "appearance":
            continue
        clip = render(spec.name, np.random.default_rng(3), frames=16, size=32).astype(int)
        r, g, b = clip[..., 0], clip[..., 1], clip[..., 2]
        coloured = (np.abs(r - g) + np.abs(g - b) + np.abs(r - b)) > 60
        assert coloured.reshape(16, -1).sum(1).min() > 10, spec.name
    grey = render("teleport", np.random.default_rng(3), frames=16, size=32).astype(int)
    assert (np.ptp(grey, axis=-1) <= 1).all()


def test_synthesize_writes_kinetics_layout_deterministically(tmp_path):
    from motionprobe.video import read_clip

    kwargs = dict(
        train_per_class=2, val_per_class=1, test_per_class=1, frames=8, size=32, progress=False
    )
    names = ["still", "move_left", "move_right", "red_object"]
    a = synthesize(tmp_path / "a", classes=names, **kwargs)
    b = synthesize(tmp_path / "b", classes=names, **kwargs)
    table = pd.read_csv(a / "train.csv")
    assert list(table.columns) == ["label", "youtube_id", "time_start", "time_end", "split"]
    assert len(table) == 8 and set(table["label"]) == set(names)
    row = table.iloc[0]
    video = a / "train" / row.label / f"{row.youtube_id}_000000_{row.time_end:06d}.mp4"
    assert video.is_file()
    cues = json.loads((a / "classes.json").read_text())
    assert {c["name"] for c in cues} == set(names)
    assert {"name", "cue", "reverse_partner", "description"} <= set(cues[0])
    truth = {c["name"]: c for c in cues}
    assert (truth["still"]["sufficient"], truth["still"]["order"]) == (False, False)
    assert truth["still"]["verdict"] == "bag_of_frames"
    assert truth["move_left"]["order"] and truth["red_object"]["sufficient"]
    assert json.loads((a / "synth.json").read_text())["family"] == "squares"
    for split in ("train", "val", "test"):
        assert (a / f"{split}.csv").read_text() == (b / f"{split}.csv").read_text()
    other = b / video.relative_to(a)
    assert np.array_equal(read_clip(video, 8), read_clip(other, 8))
    with pytest.raises(FileExistsError):
        synthesize(a, **kwargs)


@pytest.mark.parametrize("family", ["spin", "swarm"])
def test_every_family_writes_its_ground_truth_on_every_axis(tmp_path, family):
    from motionprobe.data.families import get_family
    from motionprobe.data.synthetic import load_truth

    fam = get_family(family)
    root = synthesize(tmp_path / family, 1, 1, 1, frames=8, size=32, family=family,
                      classes=fam.smoke, progress=False)  # fmt: skip
    truth = load_truth(root).set_index("name")
    assert list(truth.index) == list(fam.smoke)
    expected = {
        "appearance": "single_frame",
        "motion": "bag_of_frames",
        "order": "ordered_sequence",
    }
    assert (truth["verdict"] == truth["cue"].map(expected)).all()
    assert truth.at["still", "sufficient"] == False and truth.at["still", "order"] == False  # noqa: E712
    pair = truth[truth["cue"] == "order"]
    assert pair["order"].all() and set(pair["reverse_partner"]) == set(pair.index)
    assert read_clip(next((root / "test").rglob("*.mp4")), 8).shape[0] == 8
