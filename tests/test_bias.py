"""Static and dynamic units (Kowal et al. 2022): known answers, then the study end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from motionprobe.models import create_model
from motionprobe.probes.bias import (
    UNIT_KINDS,
    appearance_change,
    classify_units,
    default_layers,
    dimension_shares,
    factor_score,
    layer_bias,
    layer_depths,
    make_pairs,
    pooled_features,
    unit_correlations,
)

STUDY = Path(__file__).resolve().parents[1] / "studies" / "static_dynamic_bias.py"


# --- scores -------------------------------------------------------------------------------------


def test_identical_pairs_have_correlation_one():
    a = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    assert factor_score(a, a) == pytest.approx(1.0)
    assert torch.allclose(unit_correlations(a, a), torch.ones(6, dtype=torch.float64))


def test_independent_pairs_have_correlation_near_zero_and_negated_minus_one():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4000, 5, generator=g), torch.randn(4000, 5, generator=g)
    assert abs(factor_score(a, b)) < 0.05
    assert unit_correlations(a, b).abs().max() < 0.1
    # Centred by the pairs' joint mean, a mirrored partner is perfectly anti-correlated.
    assert factor_score(a, -a) == pytest.approx(-1.0)


def test_score_is_covariance_over_variance_summed_over_channels():
    # Channel 0 shared exactly, channel 1 independent with 3x the spread: score = var0 / total.
    g = torch.Generator().manual_seed(2)
    n = 20000
    shared = torch.randn(n, generator=g)
    a = torch.stack([shared, 3 * torch.randn(n, generator=g)], 1)
    b = torch.stack([shared, 3 * torch.randn(n, generator=g)], 1)
    assert factor_score(a, b) == pytest.approx(1 / (1 + 9), abs=0.01)
    corr = unit_correlations(a, b)
    assert corr[0] == pytest.approx(1.0) and abs(corr[1]) < 0.03


def test_shares_are_a_softmax_against_a_residual_of_one():
    for dyn, stat in [(0.0, 0.0), (1.0, -1.0), (0.3, 0.9), (float("nan"), 0.5)]:
        shares = dimension_shares(dyn, stat)
        assert sum(shares.values()) == pytest.approx(1.0)
        assert all(0 <= v <= 1 for v in shares.values())
    s = dimension_shares(1.0, 1.0)
    assert s["static"] == pytest.approx(1 / 3) and s["dynamic"] == pytest.approx(1 / 3)
    e = np.exp(1.0)
    assert dimension_shares(-1.0, 1.0)["static"] == pytest.approx(e / (2 * e + 1 / e))


def test_unit_kinds_from_the_threshold():
    kinds = classify_units(
        np.array([0.9, 0.1, 0.8, 0.2, 0.5, np.nan]), np.array([0.1, 0.9, 0.7, 0.2, 0.51, 0.0])
    )
    assert kinds.tolist() == ["static", "dynamic", "joint", "neither", "dynamic", "neither"]


def test_a_dead_unit_counts_as_neither():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(30, 2, generator=g)
    a[:, 1] = 0.0
    row, units = layer_bias(a, a, a)
    assert np.isnan(units["corr_static"].iloc[1]) and units["kind"].tolist() == ["joint", "neither"]
    assert sum(row[f"units_{k}"] for k in UNIT_KINDS) == 2


# --- pairs --------------------------------------------------------------------------------------


def _moving_clips(n: int = 3, t: int = 6, size: int = 12) -> torch.Tensor:
    """Coloured squares moving one pixel per frame over a random static background."""
    g = torch.Generator().manual_seed(4)
    x = (torch.rand(n, 3, 1, size, size, generator=g) * 120 + 60).repeat(1, 1, t, 1, 1)
    for i in range(n):
        colour = torch.rand(3, generator=g) * 255
        for s in range(t):
            x[i, :, s, 3:7, s : s + 4] = colour.view(3, 1, 1)
    return x


def test_appearance_change_keeps_motion_exactly():
    x = _moving_clips()
    y = appearance_change(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 255
    assert (y - x).abs().mean() > 20  # the appearance did change
    # One rotation times one contrast factor per clip: every frame-to-frame colour change keeps
    # its length up to that factor, and pixels that do not change stay unchanged.
    dx = (x[:, :, 1:] - x[:, :, :-1]).norm(dim=1)
    dy = (y[:, :, 1:] - y[:, :, :-1]).norm(dim=1)
    assert torch.all(dy[dx == 0] < 1e-3)
    for i in range(len(x)):
        moved = dx[i] > 1
        ratio = dy[i][moved] / dx[i][moved]
        assert 0 < ratio.min() and ratio.max() <= 1 + 1e-4
        assert ratio.max() - ratio.min() < 1e-3
    # The same map at every frame: changing the order of the frames commutes with it.
    flipped = appearance_change(x.flip(2), torch.Generator().manual_seed(0))
    assert torch.allclose(flipped, y.flip(2), atol=1e-3)


def test_appearance_change_is_seeded():
    x = _moving_clips()
    a = appearance_change(x, torch.Generator().manual_seed(5))
    b = appearance_change(x, torch.Generator().manual_seed(5))
    c = appearance_change(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.allclose(a, c)


class _Toy(nn.Module):
    """Channel 0: frame mean of R - G (appearance). Channel 1: grey frame difference (motion)."""

    def __init__(self) -> None:
        super().__init__()
        self.colour = nn.Conv3d(3, 1, 1, bias=False)
        self.motion = nn.Conv3d(3, 1, (2, 1, 1), bias=False)
        with torch.no_grad():
            self.colour.weight.copy_(torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1, 1))
            w = torch.zeros(1, 3, 2, 1, 1)
            w[:, :, 0], w[:, :, 1] = -1 / 3, 1 / 3
            self.motion.weight.copy_(w)
        self.features = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.features(torch.cat([self.colour(x)[:, :, 1:], self.motion(x)], 1))
        return feats.flatten(1).mean(1, keepdim=True)


def test_a_colour_unit_is_static_and_a_motion_unit_dynamic():
    # Clips: a uniform grey with a random red-green tint, brightening at a random rate.
    g = torch.Generator().manual_seed(7)
    n, t = 64, 8
    grey = torch.rand(n, generator=g) * 40 + 100
    tint = (torch.rand(n, generator=g) * 2 - 1) * 30
    slope = (torch.rand(n, generator=g) * 2 - 1) * 4
    x = grey.view(n, 1, 1, 1, 1) + slope.view(n, 1, 1, 1, 1) * torch.arange(t).view(1, 1, t, 1, 1)
    x = x.expand(n, 3, t, 6, 6).clone()
    x[:, 0] += tint.view(n, 1, 1, 1)
    x[:, 1] -= tint.view(n, 1, 1, 1)
    shuffled, changed = make_pairs(x, torch.Generator().manual_seed(8))

    toy = _Toy().eval()
    with torch.inference_mode():
        feats = [
            pooled_features(toy, (v,), ["features"])["features"] for v in (x, shuffled, changed)
        ]
    assert feats[0].shape == (n, 2)
    row, units = layer_bias(*feats)
    assert units["kind"].tolist() == ["static", "dynamic"]
    assert units["corr_static"].iloc[0] == pytest.approx(1.0)
    assert units["corr_dynamic"].iloc[1] > 0.9
    assert row["dynamic"] + row["static"] + row["residual"] == pytest.approx(1.0)


# --- layers -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_default_layers_are_the_main_stages():
    c3d = create_model("c3d_tiny", 4)
    layers = default_layers(c3d)
    assert len(layers) == 5 and all(isinstance(c3d.get_submodule(n), nn.ReLU) for n in layers)
    depth = layer_depths(c3d, layers)
    assert depth[layers[0]] == 0.0 and depth[layers[-1]] == 1.0
    assert list(depth.values()) == sorted(depth.values())

    two = create_model("i3d_two_stream_tiny", 4)
    layers = default_layers(two)
    assert layers[:5] == [f"rgb.{n}" for n in ("Conv3d_1a_7x7", "Conv3d_2c_3x3", "Mixed_3c",
                                                "Mixed_4f", "Mixed_5c")]  # fmt: skip
    assert layers[5:] == [n.replace("rgb.", "flow.") for n in layers[:5]]
    x = torch.zeros(2, 3, 16, 32, 32)
    with torch.inference_mode():
        feats = pooled_features(two.eval(), (x, x[:, :2]), layers)
    assert feats["rgb.Mixed_5c"].shape[0] == 2 and feats["flow.Mixed_5c"].ndim == 2


# --- the study ----------------------------------------------------------------------------------


def _load_study():
    spec = importlib.util.spec_from_file_location("static_dynamic_bias", STUDY)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    return study


@pytest.mark.slow
def test_the_smoke_study_writes_tables_figure_and_report(study_root):
    from motionprobe.studies import make_report

    out = study_root / "static_dynamic_bias"
    report = _load_study().main(["--smoke", "--out", str(out), "--no-progress"])
    assert report == out / "report.md" and report.is_file()

    layers = pd.read_csv(out / "layers.csv")
    assert set(layers["model"]) == {"c3d", "i3d_rgb", "i3d_two_stream"}
    counts = layers.groupby("model").size()
    assert counts["c3d"] == 5 and counts["i3d_rgb"] == 5 and counts["i3d_two_stream"] == 10
    assert not layers.duplicated(["model", "layer"]).any()
    shares = layers[["dynamic", "static", "residual"]]
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert np.allclose(shares.sum(axis=1), 1.0)
    kinds = layers[[f"units_{k}" for k in UNIT_KINDS]].sum(axis=1)
    assert (kinds == layers["channels"]).all()
    assert layers["depth"].between(0, 1).all()
    units = pd.read_csv(out / "units.csv")
    assert len(units) == layers["channels"].sum()

    assert (out / "figures" / "static_dynamic.png").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["study"] == "static_dynamic_bias"

    # Re-rendered from the tables alone: the same report, whatever happened to the models.
    text = report.read_text()
    models = study_root / "models"
    models.rename(study_root / "models_gone")
    try:
        (out / "report.md").unlink()
        assert make_report(out) == report and report.read_text() == text
    finally:
        (study_root / "models_gone").rename(models)
    assert "leans" in text or "balanced" in text
