"""The probe engine: one decode per clip, any module, known-answer verdicts, two streams, shards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from motionprobe import interventions, video
from motionprobe.data.synthetic import synthesize
from motionprobe.probes import engine, run_probe
from motionprobe.probes.selection import candidate_values, select
from motionprobe.runs import read_run
from motionprobe.transforms import preset

CLASSES = ["move_right", "red_object", "still"]  # logit order of the rule-based model


class RuleModel(nn.Module):
    """Recognises red by colour (any frame), else motion by frame differences, else still.

    Its reliance on each cue is known by construction: red_object needs one frame and nothing
    else; move_right needs frames but not their order; still is recognised by the *absence* of
    motion, so frozen clips of moving classes land in it.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # normalised by the c3d_port preset
        redness = (x[:, 0] - x[:, 1]).mean((1, 2, 3))  # raw pixels: R - G
        energy = (x[:, :, 1:] - x[:, :, :-1]).abs().mean((1, 2, 3, 4))
        red = redness > 2
        moving = ~red & (energy > 0.5)
        still = ~red & ~moving
        return torch.stack([moving, red, still], 1).float() * 10


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe") / "data"
    synthesize(root, 1, 1, 6, classes=CLASSES, progress=False)
    return root


def probe(data, out, **kwargs):
    kwargs.setdefault("classes", CLASSES)
    kwargs.setdefault("frames", 16)
    kwargs.setdefault("preset", preset("c3d_port", crop=32, short_side=32))
    return run_probe(RuleModel(), data, out, progress=False, **kwargs)


@pytest.mark.slow
def test_rule_model_gets_its_known_verdicts_from_the_default_suite(data, tmp_path):
    summary = probe(data, tmp_path / "run", seeds=[0, 1], batch_size=6)
    assert summary.accuracy["clean"] == 1.0
    tax = pd.read_csv(tmp_path / "run" / "taxonomy.csv").set_index("class")
    assert tax.loc["red_object", "verdict"] == "single_frame"
    assert tax.loc["move_right", "verdict"] == "bag_of_frames"  # the model ignores order
    # Frozen clips of move_right all land in still: a sink, never single_frame.
    assert bool(tax.loc["still", "sink"]) and tax.loc["still", "verdict"] == "bag_of_frames"
    # Moved by another clip's motion, a still frame is no longer still; red stays red.
    assert tax.loc["still", "follows_appearance"] == 0.0
    assert tax.loc["red_object", "cue_preference"] == "appearance"
    # Injected camera motion sends still clips to move_right, which keeps its own: a sink there.
    assert bool(tax.loc["move_right", "sink_inject_motion"])
    assert tax.loc["move_right", "sufficient"] == "no" and tax.loc["move_right", "order"] == "no"
    per = pd.read_csv(tmp_path / "run" / "per_class.csv")
    frozen = per[per["intervention"] == "freeze"].set_index("class")
    assert frozen.loc["move_right", "drop"] == 1.0 and frozen.loc["red_object", "drop"] == 0.0
    where = pd.read_csv(tmp_path / "run" / "where.csv")
    top = where[(where["intervention"] == "freeze") & (where["label"] == "move_right")]
    assert top.iloc[0]["pred"] == "still" and top.iloc[0]["share"] == 1.0
    assert where.groupby(["intervention", "label"])["share"].sum().round(9).eq(1.0).all()
    conflict = pd.read_csv(tmp_path / "run" / "conflict.csv").set_index("class")
    assert conflict.loc["red_object", "appearance"] == 1.0
    energy = pd.read_csv(tmp_path / "run" / "motion_energy.csv").set_index("intervention")
    assert (
        energy.loc["freeze", "motion_energy"] == 0.0 and energy.loc["clean", "ratio_to_clean"] == 1
    )
    assert energy.loc["inject_motion", "motion_energy"] > 0


@pytest.mark.slow
def test_each_clip_is_decoded_once_for_the_whole_suite(data, tmp_path, monkeypatch):
    calls = []
    original = video.read_clip

    def counting(path, *args, **kwargs):
        calls.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(video, "read_clip", counting)
    specs = [*engine.DEFAULT_SUITE, "subsample:k=4", "occlude", "appearance_free"]
    summary = probe(data, tmp_path / "run", interventions=specs, seeds=[0, 1, 2])
    assert summary.clips == len(CLASSES) * 6
    assert len(calls) == summary.clips and len(set(calls)) == len(calls)


def test_conflict_partners_are_of_another_class_and_recorded(data, tmp_path):
    probe(data, tmp_path / "run", interventions=["conflict", "conflict:mode=dense"], seeds=[0, 1])
    pred = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    rows = pred[pred["intervention"].str.startswith("conflict")]
    assert len(rows) == 2 * 2 * len(CLASSES) * 6  # both modes, both seeds, every clip paired
    params = rows["params"].map(json.loads)
    mates = params.map(lambda p: p["partner_label"])
    assert (mates != rows["label"]).all()
    known = set(pred["video_id"])
    assert params.map(lambda p: p["partner"] in known).all()
    # Global mode moves the whole frame whenever the partner moves; dense only where it moved.
    moved = rows.assign(moved=params.map(lambda p: p["moved"])).groupby("intervention")["moved"]
    assert moved.mean()["conflict"] > moved.mean()["conflict:mode=dense"] + 0.1
    assert moved.max()["conflict"] > 0.5
    # Different seeds draw different partners for at least one clip.
    by_seed = rows[rows["intervention"] == "conflict"].pivot_table(
        index="video_id", columns="seed", values="params", aggfunc="first"
    )
    assert (by_seed[0] != by_seed[1]).any()


def test_oracle_selection_keeps_the_best_candidate(data, tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 8 * 8, 3))
    out = tmp_path / "run"
    run_probe(
        model, data, out, classes=CLASSES, frames=16,
        preset=preset("i3d_rgb", crop=8, short_side=8), progress=False,
        interventions=["freeze:index=each", "freeze:select=oracle:candidates=16",
                       "freeze:select=max:candidates=16"],
    )  # fmt: skip
    pred = pd.read_parquet(out / "predictions.parquet")
    each = pred[pred["intervention"].str.match(r"freeze:index=\d+$")]
    best = each.groupby("video_id")["p_label"].max()
    oracle = pred[pred["intervention"] == "freeze:select=oracle:candidates=16"]
    torch.testing.assert_close(
        oracle.set_index("video_id")["p_label"].sort_index().to_numpy(),
        best.sort_index().to_numpy(),
    )
    chosen = oracle["params"].map(lambda p: json.loads(p)["chosen"])
    assert chosen.between(0, 15).all()
    # The label-free rule picks the candidate with the largest top-class probability.
    logits = pred[pred["intervention"] == "freeze:select=max:candidates=16"]
    assert len(logits) == len(oracle)


def test_select_and_candidates_known_answers():
    logits = torch.tensor([[[2.0, 0.0]], [[0.0, 5.0]], [[0.5, 0.0]]])  # 3 candidates of one clip
    kept, chosen = select(logits, "max")
    assert chosen.tolist() == [1] and kept.tolist() == [[0.0, 5.0]]
    kept, chosen = select(logits, "oracle", torch.tensor([0]))
    assert chosen.tolist() == [0]
    assert candidate_values(16, 8) == [0, 2, 4, 6, 9, 11, 13, 15]
    assert candidate_values(4, 8) == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        select(logits, "oracle")


class Recorder(nn.Module):
    """A two-input module that records what it is fed."""

    inputs = ("rgb", "flow")
    separable = True

    def __init__(self) -> None:
        super().__init__()
        self.presets = {"rgb": preset("c3d_port", 32, 32), "flow": preset("flow", 32, 32)}
        self.seen: list[tuple[torch.Tensor | None, torch.Tensor | None, str]] = []

    def forward(self, rgb, flow, stream: str = "both"):
        self.seen.append((rgb, flow, stream))
        ref = rgb if rgb is not None else flow
        return torch.zeros(len(ref), 3)


def test_two_stream_inputs_are_intervened_consistently(data, tmp_path):
    model = Recorder()
    run_probe(
        model, data, tmp_path / "run", classes=CLASSES, frames=16, progress=False,
        interventions=["freeze", "reverse"], batch_size=18, forward_batch=18,
    )  # fmt: skip
    (clean_rgb, clean_flow, _), (frozen_rgb, frozen_flow, _), (rev_rgb, rev_flow, _) = model.seen
    assert clean_rgb.shape == (18, 3, 16, 32, 32) and clean_flow.shape == (18, 2, 16, 32, 32)
    # Flow is recomputed from the intervened frames: a frozen clip has exactly zero flow...
    assert frozen_flow.abs().max() == 0 and frozen_rgb.std(2).max() == 0
    # ...and the clean flow is the flow of the clean frames (flow preset: px / 20).
    recomputed = interventions.clip_flow(clean_rgb, "farneback").clamp(-20, 20) / 20
    torch.testing.assert_close(clean_flow[:, :, :15], recomputed)
    assert clean_flow.abs().mean() > 1e-3
    # Reversed: the RGB frames play backwards (the first T of the T + 1 reversed frames).
    torch.testing.assert_close(rev_rgb[:, :, 1:], clean_rgb.flip(2)[:, :, :-1])

    model.seen.clear()
    run_probe(
        model, data, tmp_path / "flow", classes=CLASSES, frames=16, progress=False,
        interventions=["freeze"], stream="flow",
    )  # fmt: skip
    assert all(rgb is None and flow is not None and s == "flow" for rgb, flow, s in model.seen)
    with pytest.raises(ValueError, match="streams can run alone"):
        probe(data, tmp_path / "x", stream="rgb")


@pytest.mark.slow
def test_a_registered_two_stream_model_is_probed_per_stream(data, tmp_path):
    from motionprobe.models import create_model

    torch.manual_seed(0)
    model = create_model("i3d_two_stream_tiny", num_classes=3)
    runs = {}
    for stream in ("both", "rgb", "flow"):
        out = tmp_path / stream
        run_probe(
            model, data, out, classes=CLASSES, frames=16, progress=False, stream=stream,
            interventions=["freeze", "shuffle"], flow_method="farneback",
        )  # fmt: skip
        runs[stream] = pd.read_parquet(out / "predictions.parquet")
    key = ["video_id", "intervention", "seed"]
    both, rgb, flow = (runs[s].sort_values(key).reset_index(drop=True) for s in runs)
    # Summed logits: the fused logit of the label is the sum of the two streams' logits.
    torch.testing.assert_close(
        both["logit_label"].to_numpy(),
        (rgb["logit_label"] + flow["logit_label"]).to_numpy(),
        atol=1e-4,
        rtol=1e-4,
    )


def test_single_frame_runs_on_a_per_frame_model(data, tmp_path):
    class PerFrame(nn.Module):
        def forward(self, x):
            return x.mean((3, 4)).mean(2)  # (B, 3) from per-frame colour means, any T

    run_probe(
        PerFrame(), data, tmp_path / "run", classes=CLASSES, frames=16, progress=False,
        preset="c3d_port", interventions=["freeze", "single_frame"],
    )  # fmt: skip
    pred = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    a = pred[pred["intervention"] == "freeze"].sort_values("video_id")["logit_label"]
    b = pred[pred["intervention"] == "single_frame"].sort_values("video_id")["logit_label"]
    torch.testing.assert_close(a.to_numpy(), b.to_numpy(), rtol=1e-5, atol=1e-4)  # mean of T copies


def test_plan_errors_are_clear(data, tmp_path):
    with pytest.raises(ValueError, match="needs a trained temporal generator"):
        probe(data, tmp_path / "a", interventions=["generate:k=1"])
    with pytest.raises(ValueError, match="unknown intervention"):
        probe(data, tmp_path / "b", interventions=["melt"])
    with pytest.raises(ValueError, match="frame selection applies to"):
        probe(data, tmp_path / "c", interventions=["shuffle:select=max"])
    with pytest.raises(ValueError, match="classes="):
        run_probe(RuleModel(), data, tmp_path / "d", progress=False)
    plan = engine.parse_variants(["freeze:index=random", "occlude:start=2"], [0, 1], 16)
    assert [(v.label, v.seed) for v in plan] == [
        ("clean", 0),
        ("freeze:index=random", 0),
        ("freeze:index=random", 1),
        ("occlude:start=2", 0),
    ]


@pytest.mark.slow
def test_two_ranks_under_torchrun_write_the_single_process_table(data, tmp_path):
    from motionprobe.models import create_model
    from motionprobe.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("c3d_tiny", num_classes=3)
    save_checkpoint(tmp_path / "m.pt", model, CLASSES, config={"frames": 16})
    args = ["--checkpoint", str(tmp_path / "m.pt"), "--data", str(data), "--batch-size", "4"]
    args += ["--interventions", "freeze,shuffle,conflict", "--seeds", "0,1", "--workers", "0"]
    run_probe(tmp_path / "m.pt", data, tmp_path / "one", batch_size=4, progress=False,
              interventions=["freeze", "shuffle", "conflict"], seeds=[0, 1])  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    env["OMP_NUM_THREADS"] = "1"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_port", "29517", "-m"]
    cmd += ["motionprobe.cli", "probe", *args, "--out", str(tmp_path / "two")]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    key = ["video_id", "clip_index", "intervention", "seed"]
    one = pd.read_parquet(tmp_path / "one" / "predictions.parquet").sort_values(key)
    two = pd.read_parquet(tmp_path / "two" / "predictions.parquet").sort_values(key)
    pd.testing.assert_frame_equal(
        one.reset_index(drop=True), two.reset_index(drop=True), check_exact=False, atol=1e-5
    )
    assert not (tmp_path / "two" / "parts").exists()


def test_generated_clips_with_frame_selection(data, tmp_path):
    from motionprobe.probes.generator import KIND, TemporalGenerator

    torch.manual_seed(0)
    net = TemporalGenerator(width=4)
    for p in net.parameters():  # an untrained generator's last layer is zero: make it move
        torch.nn.init.normal_(p, std=0.05)
    torch.save(
        {"kind": KIND, "config": net.config, "state_dict": net.state_dict()}, tmp_path / "g.pt"
    )
    specs = ["generate:k=16", "generate:k=1:select=max:candidates=4", "generate:k=4"]
    summary = probe(data, tmp_path / "run", interventions=specs, seeds=[0, 1],
                    generator=tmp_path / "g.pt")  # fmt: skip
    pred = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    key = ["video_id", "seed"]
    clean = pred[pred["intervention"] == "clean"].set_index("video_id")["logit_label"]
    whole = pred[pred["intervention"] == "generate:k=16"].set_index(key)["logit_label"]
    assert (whole.droplevel("seed") == clean.reindex(whole.index.get_level_values(0))).all()
    chosen = pred[pred["intervention"] == "generate:k=1:select=max:candidates=4"]["params"]
    assert chosen.map(lambda p: json.loads(p)["chosen"]).isin(range(16)).all()
    energy = pd.read_csv(tmp_path / "run" / "motion_energy.csv").set_index("intervention")
    assert energy.loc["generate:k=1:select=max:candidates=4", "motion_energy"] > 0
    assert summary.accuracy["generate:k=16"] == summary.accuracy["clean"]


def test_parameters_are_columns_and_the_config_reads_back_typed(data, tmp_path):
    specs = ["subsample:k=2", "freeze:select=max", "conflict"]
    summary = probe(data, tmp_path / "run", interventions=specs, batch_size=6)
    pred = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert set(pred["name"]) == {"clean", "subsample", "freeze", "conflict"}
    sub = pred[pred["intervention"] == "subsample:k=2"]
    assert (sub["param_k"] == 2).all() and pred.loc[pred["name"] == "clean", "param_k"].isna().all()
    selected = pred[pred["intervention"] == "freeze:select=max"]
    assert (selected["param_select"] == "max").all() and selected["param_chosen"].notna().all()
    # The columns say what the JSON says, row by row.
    conflict = pred[pred["name"] == "conflict"]
    recorded = conflict["params"].map(lambda p: json.loads(p)["partner_label"])
    assert (conflict["param_partner_label"] == recorded).all()
    assert (conflict["param_partner_label"] != conflict["label"]).all()

    run = read_run(summary.out)
    config = run.typed()
    assert run.kind == "probe" and isinstance(config, engine.ProbeConfig)
    assert list(config.interventions) == ["clean", *specs]
    assert config.classes == CLASSES and config.frames == 16 and config.batch_size == 6
    assert config.checkpoint == "RuleModel" and config.data == str(data.resolve())
    # The config is a whole call: run again from it into another folder, same predictions.
    rerun = replace(config, checkpoint=RuleModel(), out=tmp_path / "again")
    again = run_probe(rerun, progress=False)
    assert again.accuracy == summary.accuracy
