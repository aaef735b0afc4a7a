"""Extending the toolkit: a new intervention or a new study is one registration in one file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from motionprobe import interventions as iv
from motionprobe import stats, studies
from motionprobe.cli import main as cli
from motionprobe.data import load_index
from motionprobe.data.synthetic import synthesize
from motionprobe.io import record_study, write_csv, write_text
from motionprobe.probes import engine, run_probe
from motionprobe.report import markdown_table, probe_report
from motionprobe.transforms import preset

CLASSES = ["move_right", "red_object", "still"]


class RuleModel(nn.Module):
    """Red by colour (any frame), else moving by frame differences, else still."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        redness = (x[:, 0] - x[:, 1]).mean((1, 2, 3))
        energy = (x[:, :, 1:] - x[:, :, :-1]).abs().mean((1, 2, 3, 4))
        red = redness > 2
        moving = ~red & (energy > 0.5)
        return torch.stack([moving, red, ~red & ~moving], 1).float() * 10


def bounce(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Play forward to a random turning frame, then backwards (reflected at frame 0).

    Keeps motion and appearance, breaks the arrow of time from the turning frame on.
    """
    t = x.shape[2]
    turn = int(torch.randint(1, t, (1,), generator=generator))
    i = torch.arange(t)
    index = torch.where(i <= turn, i, (2 * turn - i).abs())
    return x[:, :, index]


@pytest.fixture()
def registered():
    spec = iv.register_intervention(iv.Intervention("bounce", bounce, random=True))
    yield spec
    del iv.INTERVENTIONS["bounce"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("extend") / "data"
    synthesize(root, 1, 1, 4, classes=CLASSES, progress=False)
    return root


@pytest.mark.slow
def test_a_new_intervention_runs_in_engine_stats_and_report(registered, data, tmp_path):
    x = torch.arange(6.0).view(1, 1, 6, 1, 1).expand(2, 3, 6, 2, 2)
    y = iv.parse("bounce")[1](x, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and set(y[0, 0, :, 0, 0].tolist()) <= set(range(6))

    plan = engine.parse_variants(["bounce"], seeds=[0, 1], frames=16)
    assert [(v.label, v.seed) for v in plan] == [("clean", 0), ("bounce", 0), ("bounce", 1)]

    out = tmp_path / "run"
    summary = run_probe(
        RuleModel(),
        data,
        out,
        interventions=["freeze", "bounce"],
        seeds=[0, 1],
        classes=CLASSES,
        frames=16,
        preset=preset("c3d_port", crop=32, short_side=32),
        progress=False,
    )
    # Motion and colour survive a bounce, so the rule model keeps every clip.
    assert summary.accuracy["bounce"] == 1.0 and summary.accuracy["clean"] == 1.0
    preds = pd.read_parquet(out / "predictions.parquet")
    clean = preds[preds["intervention"] == "clean"]
    bounced = preds[preds["intervention"] == "bounce"]
    assert len(bounced) == 2 * len(clean) and set(bounced["seed"]) == {0, 1}

    per = stats.per_class(preds, classes=CLASSES)
    rows = per[per["intervention"] == "bounce"].set_index("class")
    assert rows["drop"].tolist() == [0.0, 0.0, 0.0]
    assert pd.read_csv(out / "per_class.csv")["intervention"].eq("bounce").sum() == 3

    report = probe_report(out).read_text()
    assert "bounce" in report


def test_unknown_and_malformed_registrations_are_refused():
    with pytest.raises(ValueError, match="unknown intervention 'nope'"):
        iv.parse("nope:k=2")
    with pytest.raises(ValueError, match="may not contain"):
        iv.register_intervention(iv.Intervention("a:b", bounce))
    with pytest.raises(ValueError, match="frame selection applies to"):
        engine.parse_variants(["reverse:select=max"], seeds=[0], frames=16)


# --- a toy study: one function to run, one to report, one registration ---------------------------


def count_clips(ctx: studies.StudyContext, args) -> Path:
    """Videos per class of a split: the smallest study there is."""
    index = load_index(ctx.data, args.split)
    counts = pd.Series([r.label for r in index.records]).value_counts().sort_index()
    write_csv(ctx.out / "counts.csv", counts.rename_axis("class").reset_index(name="videos"))
    record_study(ctx.out, "toy_counts", vars(args), data=str(ctx.data))
    return toy_report(ctx.out)


def toy_report(run_dir, data=None, title="Videos per class") -> Path:
    table = pd.read_csv(Path(run_dir) / "counts.csv")
    rows = table.itertuples(index=False)
    return write_text(
        Path(run_dir) / "report.md", f"# {title}\n\n" + markdown_table(rows, ["class", "videos"])
    )


@pytest.fixture()
def toy_study():
    study = studies.register_study(
        studies.Study(
            "toy_counts",
            "How many videos has each class?",
            count_clips,
            report=toy_report,
            add_arguments=lambda p: p.add_argument("--split", default="test"),
        )
    )
    yield study
    del studies.STUDIES["toy_counts"]


def test_a_new_study_runs_and_re_renders_through_the_registry(toy_study, data, tmp_path, capsys):
    out = tmp_path / "toy"
    report = studies.run_study("toy_counts", ["--data", str(data), "--out", str(out)])
    assert report == out / "report.md"
    assert "toy_counts: done in" in capsys.readouterr().out
    counts = pd.read_csv(out / "counts.csv").set_index("class")["videos"]
    assert counts.to_dict() == {name: 4 for name in CLASSES}  # 4 test videos per class
    report.unlink()
    assert studies.make_report(out, title="Again") == report  # config.json names the study
    assert report.read_text().startswith("# Again") and "| still | 4 |" in report.read_text()
    assert cli(["study", "toy_counts", "--data", str(data), "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "counts.csv").read_text() == (out / "counts.csv").read_text()
    with pytest.raises(SystemExit):
        studies.run_study("toy_counts", ["--data", str(data), "--nope"])
    with pytest.raises(ValueError, match="already registered"):
        studies.register_study(toy_study)
    with pytest.raises(ValueError, match="unknown study 'nope'"):
        studies.run_study("nope", [])
