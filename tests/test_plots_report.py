"""Figures and the Markdown report, from a tiny hand-built run folder."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from motionprobe.plots import intervention_heatmap, motion_dependence, save_figure  # noqa: E402
from motionprobe.report import markdown_table, write_report  # noqa: E402
from motionprobe.stats import per_class  # noqa: E402
from motionprobe.verdict import taxonomy  # noqa: E402

CUES = {"face": "appearance", "run": "motion", "open": "order", "close": "order"}


def predictions() -> pd.DataFrame:
    """face: survives everything; run: dies under freeze; open/close: die under reverse
    (each predicted as the other); still: a sink under freeze."""
    rows = []
    n = 12
    fate = {
        # class: {intervention: prediction for all its clips}
        "face": {"clean": "face", "freeze": "face", "shuffle": "face", "reverse": "face"},
        "run": {"clean": "run", "freeze": "still", "shuffle": "run", "reverse": "run"},
        "open": {"clean": "open", "freeze": "still", "shuffle": "open", "reverse": "close"},
        "close": {"clean": "close", "freeze": "still", "shuffle": "close", "reverse": "open"},
        "still": {"clean": "still", "freeze": "still", "shuffle": "still", "reverse": "still"},
    }
    for cls, by_iv in fate.items():
        for i in range(n):
            for iv, pred in by_iv.items():
                # one clip per class is wrong everywhere, so the CIs are not degenerate
                p = "face" if (i == 0 and cls != "face") else pred
                rows.append(
                    dict(video_id=f"{cls}{i}", clip_index=0, label=cls, intervention=iv,
                         params="{}", seed=0, pred=p, correct=p == cls, p_label=0.5,
                         logit_label=0.0)
                )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables():
    preds = predictions()
    pc = per_class(preds, n_boot=500)
    tax = taxonomy(pc)
    return preds, pc, tax


def test_fixture_verdicts(tables):
    _, _, tax = tables
    assert dict(zip(tax["class"], tax["verdict"], strict=True)) == {
        "close": "ordered_sequence",
        "face": "single_frame",
        "open": "ordered_sequence",
        "run": "bag_of_frames",
        "still": "bag_of_frames",
    }


def test_motion_dependence_ticks_in_drop_order(tables):
    _, pc, tax = tables
    before = plt.get_fignums()
    fig = motion_dependence(pc, tax)
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == before  # no pyplot state left behind
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    frz = pc[pc["intervention"] == "freeze"]
    expected = frz.sort_values(["drop", "class"], ascending=[False, True])["class"].tolist()
    assert labels == expected and len(labels) == 5
    top, bottom = ax.get_ylim()[1], ax.get_ylim()[0]
    assert top < bottom  # first label (largest drop) drawn at the top
    assert "accuracy drop under freeze" in ax.get_xlabel()
    assert len(fig.legends) == 1
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {
        "single frame",
        "bag of frames",
        "ordered sequence",
        "sink (hollow)",
    }


def test_motion_dependence_with_cues_and_other_intervention(tables):
    _, pc, tax = tables
    fig = motion_dependence(pc, tax, intervention="reverse", cues=CUES)
    assert len(fig.axes) == 2  # drops + cue column
    assert "under reverse" in fig.axes[0].get_xlabel()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[:2] == ["close", "open"]  # reversal hurts the order classes most
    texts = {t.get_text() for lg in fig.legends for t in lg.get_texts()}
    assert {"appearance", "motion", "order"} <= texts
    with pytest.raises(ValueError, match="no rows"):
        motion_dependence(pc, tax, intervention="nope")


def test_motion_dependence_height_scales():
    rng = np.random.default_rng(0)

    def fake(n):
        drop = rng.random(n)
        pc = pd.DataFrame(
            {"class": [f"class {i:03d}" for i in range(n)], "intervention": "freeze",
             "drop": drop, "ci_low": drop - 0.1, "ci_high": drop + 0.1, "acc": 1 - drop,
             "acc_clean": 1.0}
        )  # fmt: skip
        tax = pd.DataFrame({"class": pc["class"], "verdict": "inconclusive"})
        return motion_dependence(pc, tax)

    small, big = fake(14), fake(400)
    assert len(big.axes[0].get_yticklabels()) == 400
    h_small, h_big = small.get_size_inches()[1], big.get_size_inches()[1]
    assert 3 <= h_small < 8
    assert h_big > 10 * h_small / 2 and h_big / 400 >= 0.1  # at least 0.1 inch per class


def test_heatmap(tables):
    _, pc, _ = tables
    fig = intervention_heatmap(pc)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["clean", "freeze", "shuffle", "reverse"]
    assert [t.get_text() for t in ax.get_yticklabels()] == sorted(CUES) + ["still"]
    assert len(ax.texts) == 5 * 4  # annotated
    data = ax.images[0].get_array()
    assert data[0, 0] == pytest.approx(11 / 12)  # close, clean


def test_save_figure(tmp_path, tables):
    _, pc, tax = tables
    paths = save_figure(motion_dependence(pc, tax), tmp_path / "figs" / "drop")
    assert [p.name for p in paths] == ["drop.png", "drop.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].stat().st_size > 1000 and b"<svg" in paths[1].read_bytes()[:2000]
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["drop.png", "drop.svg"]


def write_run(run, tables, optional=True):
    preds, pc, tax = tables
    run.mkdir(parents=True, exist_ok=True)
    pc.to_csv(run / "per_class.csv", index=False)
    tax.to_csv(run / "taxonomy.csv", index=False)
    preds.to_parquet(run / "predictions.parquet", index=False)
    if optional:
        (run / "config.json").write_text(
            json.dumps(
                {
                    "model": {"name": "i3d_tiny", "width": 8},
                    "checkpoint": "ckpt/i3d_tiny.pt",
                    "dataset": {"root": "data/synth", "split": "val"},
                    "interventions": ["freeze", "shuffle", "reverse"],
                    "seeds": [0],
                    "taxonomy": {"min_drop": 0.25},
                }
            )
        )
        pd.DataFrame(
            {"video_id": ["bad1"], "path": ["val/run/bad1.mp4"], "reason": ["cannot decode"]}
        ).to_csv(run / "bad_items.csv", index=False)
        save_figure(motion_dependence(pc, tax, cues=CUES), run / "figures" / "motion_dependence")
    return run


def test_report_full(tmp_path, tables):
    run = write_run(tmp_path / "run", tables)
    path = write_report(run, cues=CUES)
    assert path == run / "report.md"
    text = path.read_text()
    assert text.startswith("# What makes a video a video")
    assert "i3d_tiny" in text and "ckpt/i3d_tiny.pt" in text and "val" in text
    assert "| class | cue | verdict | one frame suffices | order matters (drops)" in text
    assert "| face | appearance | single_frame | yes (freeze) |" in text
    assert "| run | motion | bag_of_frames |" in text
    assert "frozen clips go to still (92%)" in text  # where frozen 'run' clips go
    assert "![motion_dependence](figures/motion_dependence.png)" in text
    assert "figures/motion_dependence.svg" in text
    assert "| bad1 | val/run/bad1.mp4 | cannot decode |" in text
    assert "Skipped/bad items: 1." in text
    assert "| single_frame | 1 |" in text and "| ordered_sequence | 2 |" in text
    assert "20.0 %" in text  # share single_frame: 1 of 5 classes
    # ground truth: 'still' has no cue; 4 classes compared, all agree
    assert "| verdict | 4 of 4 |" in text
    assert "min_drop" not in text and "below 0.25" in text  # threshold from config
    assert "How to read this" in text and "a *sink*" in text
    # clean accuracy: 56 of 60 clips correct
    assert "Clean accuracy: **0.933" in text


def test_report_disagreement_listed(tmp_path, tables):
    run = write_run(tmp_path / "run", tables, optional=False)
    text = write_report(run, cues={**CUES, "face": "motion"}).read_text()
    assert "| verdict | 3 of 4 |" in text
    assert "face (single_frame, expected bag_of_frames)" in text


def test_report_without_optional_files(tmp_path, tables):
    run = write_run(tmp_path / "run", tables, optional=False)
    text = write_report(run, title="Tiny").read_text()
    assert text.startswith("# Tiny")
    assert "Skipped/bad items: none." in text
    assert "## Figures" not in text and "Agreement" not in text
    assert "| class | verdict | one frame suffices |" in text
    assert "not recorded" not in text.split("**Interventions:**")[1].split("\n")[0]
    (run / "predictions.parquet").unlink()
    text = write_report(run).read_text()
    assert "predictions.parquet not found" in text
    (run / "taxonomy.csv").unlink()
    with pytest.raises(FileNotFoundError, match="taxonomy.csv"):
        write_report(run)
    assert not list(run.glob(".report*"))  # no temporary files left


def test_markdown_table_formatting():
    text = markdown_table([["a|b", 0.12345, np.nan, 3, True]], ["x", "y", "z", "n", "ok"])
    assert text.splitlines()[2] == "| a\\|b | 0.123 | – | 3 | yes |"


# --- study figures: the drawn data is the table's --------------------------------------------


def test_frames_curve_plot_draws_the_table():
    from motionprobe.plots import frames_curve_plot

    curve = pd.DataFrame(
        {
            "method": ["held frames"] * 3 + ["generator"] * 3,
            "k": [1, 2, 4] * 2,
            "selection": ["none"] * 6,
            "acc": [0.3, 0.5, 0.7, 0.6, 0.7, 0.8],
        }
    )
    curve["ci_low"], curve["ci_high"] = curve["acc"] - 0.05, curve["acc"] + 0.05
    fig = frames_curve_plot(curve, clean=(0.9, 0.85, 0.95), frames=16)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    held = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]  # not the CI caps
    assert sorted(tuple(ln.get_ydata()) for ln in held) == [(0.3, 0.5, 0.7), (0.6, 0.7, 0.8)]
    assert any(list(ln.get_ydata()) == [0.9, 0.9] for ln in lines.values())  # clean line
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "16"]


def test_where_heatmap_rows_sum_to_one_and_keep_sinks():
    from motionprobe.plots import where_heatmap

    rng = np.random.default_rng(0)
    classes = [f"c{i:02d}" for i in range(30)]
    rows = []
    for c in classes:  # every class sends most clips to the sink c00
        rows += [("freeze", c, "c00", 0.7), ("freeze", c, c, 0.2)]
        rows.append(("freeze", c, classes[rng.integers(1, 30)], 0.1))
    where = pd.DataFrame(rows, columns=["intervention", "label", "pred", "share"])
    where = where.groupby(["intervention", "label", "pred"], as_index=False)["share"].sum()
    fig = where_heatmap(where, "freeze", max_rows=10, max_cols=5)
    ax = fig.axes[0]
    grid = ax.images[0].get_array()
    assert grid.shape == (10, 6)  # 5 predicted classes + other
    assert np.allclose(grid.sum(axis=1), 1.0)
    cols = [t.get_text() for t in ax.get_xticklabels()]
    assert cols[0] == "c00" and cols[-1] == "other"
    assert np.allclose(grid[:, 0], 0.7)


def test_rgb_flow_scatter_and_composition_draw_the_tables():
    from motionprobe.plots import rgb_flow_scatter, taxonomy_composition

    gap = pd.DataFrame({"class": list("abcd"), "acc_rgb": [0.1, 0.9, 0.5, 0.2]})
    gap["acc_flow"] = [0.8, 0.2, 0.5, 0.3]
    cues = dict(a="motion", b="appearance", c="order", d="motion")
    ax = rgb_flow_scatter(gap, cues, label_top=2).axes[0]
    points = np.vstack([c.get_offsets() for c in ax.collections])
    assert sorted(map(tuple, points)) == sorted(zip(gap["acc_rgb"], gap["acc_flow"], strict=True))
    assert {t.get_text() for t in ax.texts} >= {"a", "b"}  # farthest from the diagonal

    comp = pd.DataFrame(
        [("m1", "single_frame", 3), ("m1", "bag_of_frames", 1), ("m2", "ordered_sequence", 4)],
        columns=["model", "verdict", "classes"],
    )
    ax = taxonomy_composition(comp).axes[0]
    widths = {(p.get_y(), round(p.get_width(), 3)) for p in ax.patches if p.get_width() > 0}
    assert {w for _, w in widths} == {0.75, 0.25, 1.0}


@pytest.mark.slow
def test_probe_report_pages_many_classes(tmp_path):
    from motionprobe.report import PAGE_ROWS, probe_report

    classes = [f"class {i:03d}" for i in range(PAGE_ROWS * 2 + 50)]
    drop = np.linspace(0.8, -0.1, len(classes))
    per = pd.DataFrame(
        {"class": classes, "intervention": "freeze", "n": 10, "acc": 0.9 - drop}
    ).assign(acc_clean=0.9, drop=drop, ci_low=drop - 0.1, ci_high=drop + 0.1)
    per.to_csv(tmp_path / "per_class.csv", index=False)
    pd.DataFrame({"class": classes, "verdict": "inconclusive"}).to_csv(
        tmp_path / "taxonomy.csv", index=False
    )
    probe_report(tmp_path)
    pages = sorted((tmp_path / "figures").glob("motion_dependence_p*.png"))
    assert [p.stem for p in pages] == [f"motion_dependence_p{i}" for i in (1, 2, 3)]
    assert (tmp_path / "figures" / "interventions_p3.svg").is_file()
