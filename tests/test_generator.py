"""Temporal generator: kept-frame positions, generation, perceptual loss, training end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from motionprobe.data.families.squares import render
from motionprobe.data.synthetic import synthesize
from motionprobe.models import create_model
from motionprobe.probes.generator import (
    FeatureLoss,
    TemporalGenerator,
    best_of_k_loss,
    feature_layers,
    generate,
    hold,
    keep_indices,
    load_generator,
    motion_energy,
    train_generator,
)
from motionprobe.train import TrainConfig, train
from motionprobe.transforms import to_model_layout

CLASSES = ["red_object", "still", "move_right", "move_left"]


def _net(width: int = 4) -> TemporalGenerator:
    """A generator whose output depends on its noise (a fresh one outputs the held clip)."""
    torch.manual_seed(0)
    net = TemporalGenerator(width=width)
    nn.init.normal_(net.head.weight, std=0.05)
    return net.eval()


def test_keep_indices_known_answers_and_phases():
    assert keep_indices(16, 4).tolist() == [2, 6, 10, 14]
    assert keep_indices(16, 1).tolist() == [8]
    assert keep_indices(16, 8).tolist() == [1, 3, 5, 7, 9, 11, 13, 15]
    assert keep_indices(16, 16).tolist() == list(range(16))
    assert keep_indices(10, 3).tolist() == [1, 5, 8]  # centres of [0,3) [3,6) [6,10)
    assert keep_indices(16, 4).dtype == torch.long
    phases = [keep_indices(16, 4, offset).tolist() for offset in range(4)]
    assert len({tuple(p) for p in phases}) == 4
    for p in phases:  # one kept frame in each segment, whatever the phase
        assert [i // 4 for i in p] == [0, 1, 2, 3]
    assert sorted(i for p in phases for i in p) == list(range(16))  # every phase once
    assert keep_indices(16, 4, 4).tolist() == keep_indices(16, 4).tolist()  # wraps around
    for bad in (0, -1, 17):
        with pytest.raises(ValueError, match="k must be"):
            keep_indices(16, bad)


def test_hold_fills_each_segment_with_its_kept_frame():
    x = torch.arange(8.0).view(1, 1, 8, 1, 1).expand(2, 3, 8, 2, 2)
    held, mask = hold(x, 2)  # kept frames 2 and 6; segments [0, 4) and [4, 8)
    assert held[0, 0, :, 0, 0].tolist() == [2, 2, 2, 2, 6, 6, 6, 6]
    assert mask.shape == (2, 1, 8, 2, 2)
    assert mask[0, 0, :, 0, 0].tolist() == [0, 0, 1, 0, 0, 0, 1, 0]
    held, _ = hold(x, 1, offset=1)
    assert held[0, 0, :, 0, 0].tolist() == [5.0] * 8


def test_generate_keeps_real_frames_and_follows_its_seed():
    net = _net()
    x = torch.rand(2, 3, 8, 12, 12, generator=torch.Generator().manual_seed(1)) * 255
    keep = keep_indices(8, 2)
    a = generate(net, x, 2, torch.Generator().manual_seed(0))
    b = generate(net, x, 2, torch.Generator().manual_seed(0))
    c = generate(net, x, 2, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a[:, :, keep], x[:, :, keep])  # the real frames, exactly
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3
    assert a.min() >= 0 and a.max() <= 255
    assert generate(net, x, 8) is x  # all frames kept: nothing to generate
    # Sides not divisible by 4 are padded inside and cropped back.
    odd = torch.rand(1, 3, 4, 10, 6) * 255
    assert generate(net, odd, 1, torch.Generator().manual_seed(0)).shape == odd.shape
    # A fresh generator starts as the identity on the held clip.
    held, _ = hold(x, 2)
    fresh = TemporalGenerator(width=4).eval()
    torch.testing.assert_close(generate(fresh, x, 2, torch.Generator().manual_seed(0)), held)


def test_motion_energy_known_values():
    frozen = torch.rand(2, 3, 1, 4, 8).expand(2, 3, 5, 4, 8)
    assert motion_energy(frozen).tolist() == [0.0, 0.0]
    # A 3-pixel-wide bar of value 200 moving 1 px right per frame (on a torus): per step two
    # columns of 8 change by 200, so the mean absolute difference is 2 * 200 / 8 = 50.
    frame = torch.zeros(3, 4, 8)
    frame[:, :, 2:5] = 200.0
    clip = torch.stack([frame.roll(t, dims=-1) for t in range(5)], dim=1)[None]
    assert clip.shape == (1, 3, 5, 4, 8)
    assert motion_energy(clip).tolist() == [50.0]
    assert motion_energy(clip[:, :, :1]).tolist() == [0.0]


def test_feature_layers_name_existing_modules():
    c3d = create_model("c3d_tiny", num_classes=4)
    layers = feature_layers(c3d)
    modules = dict(c3d.named_modules())
    relus = [n for n, m in c3d.features.named_modules(prefix="features") if isinstance(m, nn.ReLU)]
    assert len(layers) == 5 and all(isinstance(modules[n], nn.ReLU) for n in layers)
    assert layers[0] == relus[0] and layers[-1] == relus[-1]  # conv1 to conv5
    assert all(n.startswith("features.") for n in layers)
    i3d = create_model("i3d_rgb_tiny", num_classes=4)
    assert feature_layers(i3d) == ["Conv3d_2c_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c"]
    short = create_model("i3d_rgb_tiny", num_classes=4, final_endpoint="Mixed_4c")
    assert feature_layers(short) == ["Conv3d_2c_3x3", "Mixed_3c"]


@pytest.mark.parametrize("name,size", [("c3d_tiny", 16), ("i3d_rgb_tiny", 32)])
def test_feature_loss_is_zero_only_for_identical_clips(name, size):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4)
    loss_fn = FeatureLoss(model)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    x = torch.rand(2, 3, 16, size, size, generator=torch.Generator().manual_seed(0)) * 255
    real = model.preset.normalize(x)
    assert torch.allclose(loss_fn(real, real), torch.zeros(2), atol=1e-6)
    moved = model.preset.normalize(x.roll(1, dims=2))
    fake = torch.cat([real, moved, moved])  # three samples per real clip, sample-major
    loss = loss_fn(fake, real)
    assert loss.shape == (6,)
    assert torch.allclose(loss[:2], torch.zeros(2), atol=1e-6)
    assert (loss[2:] > 1e-3).all() and torch.allclose(loss[2:4], loss[4:])
    # Hooks live only during a call.
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.slow
def test_best_of_k_training_lowers_the_loss_below_the_held_clip():
    """Deterministic: the same 2 clips for 8 steps; a fresh generator scores exactly the held
    clip, and training must beat that static baseline by a clear margin."""
    torch.manual_seed(0)
    model = create_model("c3d_tiny", num_classes=4)
    loss_fn = FeatureLoss(model)
    videos = [render(n, np.random.default_rng(i), 16, 16) for i, n in enumerate(CLASSES[2:])]
    x = torch.stack([to_model_layout(v) for v in videos])
    net = TemporalGenerator(width=8)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    noise = torch.Generator().manual_seed(0)
    ratios = []
    for _ in range(8):
        loss, held = best_of_k_loss(net, loss_fn, x, 1, 4, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ratios.append(loss.item() / held.mean().item())
    assert ratios[0] == pytest.approx(1.0, abs=1e-6)
    assert ratios[-1] < 0.95, ratios


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    data = synthesize(root / "data", 4, 2, 2, classes=CLASSES, progress=False)
    result = train(TrainConfig(data=str(data), out=str(root / "clf"), epochs=1), progress=False)
    return data, result["checkpoint"]


@pytest.mark.slow
def test_train_generator_end_to_end_and_resume(classifier, tmp_path, capsys):
    data, checkpoint = classifier
    out = tmp_path / "gen"
    kwargs = dict(ks=(1, 4), epochs=2, batch_size=4, samples=2, width=8, lr=1e-3, progress=False)
    result = train_generator(checkpoint, data, out, **kwargs)
    assert "wrote" in capsys.readouterr().out

    path = out / "generator.pt"
    assert result.generator == str(path) and result.out == str(out)
    state = torch.load(path, weights_only=True)
    assert {"state_dict", "config", "ks", "layers", "classifier", "epoch", "optimizer"} <= set(
        state
    )
    assert state["epoch"] == 2 and state["ks"] == [1, 4] and state["config"]["width"] == 8
    net = load_generator(path)
    assert isinstance(net, TemporalGenerator) and not net.training

    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2]
    assert {"loss", "loss_held", "loss_k1", "loss_k4"} <= set(metrics.columns)
    assert np.isfinite(metrics[["loss", "loss_held"]].to_numpy()).all()
    assert result.loss == pytest.approx(metrics["loss"].iloc[-1])

    motion = pd.read_csv(out / "motion.csv")
    assert list(motion.columns[:5]) == ["k", "real", "generated", "held", "ratio"]
    assert list(motion["k"]) == [1, 4]
    k1 = motion.set_index("k").loc[1]
    assert k1["real"] > 0.5  # the synthetic objects move
    assert k1["held"] == 0.0  # one kept frame held: a frozen clip
    assert k1["generated"] > 0.1 * k1["real"]  # the noise input keeps the output moving
    assert k1["ratio"] == pytest.approx(k1["generated"] / k1["real"])
    assert result.motion[0]["k"] == 1

    # Re-running the finished run trains nothing: generator.pt is not rewritten.
    stamp = path.stat().st_mtime_ns
    again = train_generator(checkpoint, data, out, **kwargs)
    assert path.stat().st_mtime_ns == stamp
    assert again.loss == result.loss
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv"), metrics)
    # The same folder with another generator is refused, not overwritten.
    with pytest.raises(ValueError, match="use a new out"):
        train_generator(checkpoint, data, out, **{**kwargs, "width": 16})


def test_load_generator_names_the_bad_file(classifier, tmp_path):
    _, checkpoint = classifier
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_generator(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="not a generator file"):
        load_generator(checkpoint)
