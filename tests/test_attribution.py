"""Attribution over time: shapes, known answers, sanity checks, and a whole run on tiny models."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from motionprobe.attribution import (
    METHODS,
    attribute,
    class_profiles,
    completeness,
    frame_profile,
    overlay_frames,
    randomisation_test,
    removal_baseline,
    run_attribution,
    selective_relevance,
    stream_share,
    temporal_entropy,
    write_heatmap_video,
)
from motionprobe.models import create_model

#: Tiny models and the clip length each is tested at (C3D's classifier is sized for 16 frames).
MODELS = {
    "c3d_tiny": ({}, 16),
    "i3d_rgb_tiny": ({}, 8),
    "i3d_two_stream_tiny": ({"fusion": "logits"}, 8),
    "two_stream_tiny": ({"fusion": "logits"}, 8),
}


def tiny(name: str, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    defaults, _ = MODELS.get(name, ({}, 16))
    return create_model(name, num_classes=4, **{**defaults, **kwargs}).eval()


def moving_square(frames: int = 16, size: int = 32, still: int = 8, seed: int = 0) -> torch.Tensor:
    """A normalised clip ``(1, 3, T, size, size)``: a bright square, still for the first ``still``
    frames and then moving right 2 px per frame, over a dark background with a little noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((1, 3, frames, size, size), -0.5)
    for t in range(frames):
        dx = 2 * max(0, t - still)
        x[:, :, t, 8:16, 8 + dx : 16 + dx] = 0.8
    return x + 0.1 * torch.randn(x.shape, generator=g)


# --- every method, every kind of model ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_every_method_returns_the_input_shape(name):
    model = tiny(name)
    _, frames = MODELS[name]
    xs = model.example_inputs(batch=1, frames=frames)
    clips = xs if len(xs) > 1 else xs[0]
    for method in METHODS:
        if name == "two_stream_tiny" and method.startswith("gradcam"):
            # 2-D streams fold time into channels: no 3-D layer to take a Grad-CAM of.
            with pytest.raises(ValueError, match="3-D"):
                attribute(model, clips, 1, method)
            continue
        out = attribute(model, clips, 1, method, steps=2, samples=1, nt_samples=2)
        outs = out if isinstance(out, tuple) else (out,)
        assert isinstance(out, tuple) == (len(xs) > 1), method
        assert [a.shape for a in outs] == [x.shape for x in xs], method
        assert all(torch.isfinite(a).all() for a in outs), method
        if method not in ("gradcam", "gradcam_temporal"):  # a ReLU'd CAM may be all zero
            assert sum(a.abs().sum() for a in outs) > 0, method


def test_targets_per_clip_and_bad_arguments():
    model = tiny("i3d_rgb_tiny")
    x = torch.randn(2, 3, 8, 32, 32)
    both = attribute(model, x, torch.tensor([0, 3]), "saliency")
    one = attribute(model, x[1:], 3, "saliency")
    assert torch.allclose(both[1:], one, atol=1e-6)
    with pytest.raises(ValueError, match="unknown method"):
        attribute(model, x, 0, "lime")
    with pytest.raises(ValueError, match="one per clip"):
        attribute(model, x, [0, 1, 2], "saliency")
    with pytest.raises(ValueError, match="remove"):
        attribute(model, x, 0, "frame_ablation", remove="noise")
    with pytest.raises(ValueError, match=r"unknown layer 'Mixed_9z'.*Mixed_5c"):
        attribute(model, x, 0, "gradcam", layer="Mixed_9z")


def test_deeplift_refuses_what_it_cannot_explain():
    lstm = create_model("convnet_lstm_tiny", num_classes=3).eval()
    (x,) = lstm.example_inputs(batch=1, frames=4)
    for method in ("deeplift", "guided_backprop"):
        with pytest.raises(ValueError, match="integrated_gradients"):
            attribute(lstm, x, 0, method)
    # Softmax fusion is explained through the streams' summed logits, so DeepLift is exact too.
    softmax = tiny("i3d_two_stream_tiny", fusion="softmax")
    xs = softmax.example_inputs(frames=8)
    attrs = attribute(softmax, xs, 0, "deeplift")
    assert completeness(softmax, xs, 0, attrs).max().item() < 1e-3
    assert softmax.fusion == "softmax"  # restored


def test_model_mode_and_requires_grad_are_restored():
    model = tiny("c3d_tiny").train()
    model.features[1].eval()  # a caller's frozen BatchNorm must stay frozen
    model.classifier[1].weight.requires_grad_(False)
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    modes = {n: m.training for n, m in model.named_modules()}
    x = torch.randn(1, 3, 16, 32, 32)
    attribute(model, x, 0, "integrated_gradients", steps=4)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == before
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert all(p.grad is None for p in model.parameters())  # no weight gradients were made


# --- frames: ablation and Shapley values --------------------------------------------------------


@pytest.mark.slow
def test_frame_ablation_and_shapley_agree_with_removing_a_frame():
    model = tiny("i3d_rgb_tiny")
    t = 8
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 1, 3, 1, 32, 32, generator=g)
    # Two scenes of four frames each, so frames matter unequally and in both directions.
    x = torch.cat([a.expand(-1, -1, 4, -1, -1), b.expand(-1, -1, 4, -1, -1)], 2)
    x = x + 0.3 * torch.randn(1, 3, t, 32, 32, generator=g)
    targets = torch.arange(4)
    clips = x.expand(4, -1, -1, -1, -1)
    base = removal_baseline(clips, "mean")
    with torch.no_grad():
        full = model(clips).gather(1, targets[:, None])[:, 0]
        change = torch.stack(
            [
                full
                - model(torch.where(torch.arange(t).view(1, 1, t, 1, 1) == k, base, clips)).gather(
                    1, targets[:, None]
                )[:, 0]
                for k in range(t)
            ],
            1,
        )  # (4 targets, T): score change from removing frame k
        empty = model(base).gather(1, targets[:, None])[:, 0]

    ablation = attribute(model, clips, targets, "frame_ablation")
    assert ablation.shape == clips.shape
    # Whole frames are one feature: one value per frame, broadcast over C, H, W.
    assert torch.equal(ablation, ablation[:, :1, :, :1, :1].expand_as(ablation))
    assert torch.allclose(ablation[:, 0, :, 0, 0], change, atol=1e-5)

    shap_maps = attribute(model, clips, targets, "frame_shapley", samples=30)
    shapley = shap_maps[:, 0, :, 0, 0]
    big = change.abs() > 0.2 * change.abs().amax(1, keepdim=True)
    assert (change[big] > 0).any() and (change[big] < 0).any()  # both signs occur
    agree = (torch.sign(shapley[big]) == torch.sign(change[big])).float().mean()
    print(f"sign agreement {agree:.2f} on {int(big.sum())} frames")
    assert agree >= 0.85
    # Efficiency: the values of all frames add up to f(all) - f(none).
    assert torch.allclose(shapley.sum(1), full - empty, rtol=1e-4, atol=1e-5)
    assert completeness(model, clips, targets, shap_maps, base, per_frame=True).max() < 1e-4


@pytest.mark.parametrize("remove", ["zero", "neighbour"])
def test_other_removal_baselines(remove):
    model = tiny("i3d_rgb_tiny")
    x = torch.randn(1, 3, 8, 32, 32)
    base = removal_baseline(x, remove)
    if remove == "neighbour":
        assert torch.equal(base[:, :, 0], x[:, :, 1]) and torch.equal(base[:, :, 5], x[:, :, 4])
    else:
        assert not base.any()
    ablation = attribute(model, x, 2, "frame_ablation", remove=remove)[0, 0, :, 0, 0]
    with torch.no_grad():
        f = model(x)[0, 2]
        for k in (0, 3, 7):
            y = x.clone()
            y[:, :, k] = base[:, :, k]
            assert math.isclose(ablation[k].item(), (f - model(y)[0, 2]).item(), abs_tol=1e-5)


@pytest.mark.slow
def test_occlusion_windows_cover_time():
    model = tiny("i3d_rgb_tiny")
    x = torch.randn(1, 3, 8, 32, 32)
    occ = attribute(model, x, 1, "occlusion", window=8, stride=8)
    # One window over the whole clip: every element gets f(x) - f(mean clip).
    with torch.no_grad():
        diff = (model(x) - model(removal_baseline(x)))[0, 1]
    assert torch.allclose(occ, diff.expand_as(occ), atol=1e-5)


def test_two_stream_frames_are_separate_players_unless_joint():
    model = tiny("i3d_two_stream_tiny")
    rgb, flow = model.example_inputs(batch=1, frames=8)
    sep = attribute(model, (rgb, flow), 0, "frame_ablation")
    joint = attribute(model, (rgb, flow), 0, "frame_ablation", joint_streams=True)
    with torch.no_grad():
        f = model(rgb, flow)[0, 0]
        y = flow.clone()
        y[:, :, 3] = removal_baseline(flow)[:, :, 3]
        only_flow = f - model(rgb, y)[0, 0]
    assert math.isclose(sep[1][0, 0, 3, 0, 0].item(), only_flow.item(), abs_tol=1e-5)
    # Summed logits are additive over streams, so removing both = the two separate changes.
    assert torch.allclose(
        joint[0][0, 0, :, 0, 0], sep[0][0, 0, :, 0, 0] + sep[1][0, 0, :, 0, 0], atol=1e-5
    )


# --- Integrated Gradients: completeness and internal batching --------------------------------


@pytest.mark.slow
def test_integrated_gradients_completeness():
    model = tiny("c3d_tiny")
    x = moving_square(16)
    attr = attribute(model, x, 1, "integrated_gradients", steps=32)
    error = completeness(model, x, 1, attr)
    print(f"c3d_tiny IG completeness error {error.item():.2%}")
    assert error.item() < 0.05
    two = tiny("i3d_two_stream_tiny", fusion="softmax")  # explained through summed logits
    xs = two.example_inputs(batch=2, frames=8)
    attrs = attribute(two, xs, torch.tensor([0, 2]), "integrated_gradients", steps=32)
    assert completeness(two, xs, torch.tensor([0, 2]), attrs).max().item() < 0.05


@pytest.mark.slow
def test_internal_batching_matches_one_step_at_a_time():
    model = tiny("c3d_tiny")
    x = torch.cat([moving_square(16, seed=0), moving_square(16, seed=1)])
    target = torch.tensor([1, 3])
    one = attribute(model, x, target, "integrated_gradients", steps=8, internal_batch_size=1)
    default = attribute(model, x, target, "integrated_gradients", steps=8)
    all_at_once = attribute(
        model, x, target, "integrated_gradients", steps=8, batch_size=2, internal_batch_size=16
    )
    small_budget = attribute(model, x, target, "integrated_gradients", steps=8, memory_mb=1)
    for other in (default, all_at_once, small_budget):
        assert torch.allclose(one, other, rtol=1e-4, atol=1e-9)


# --- Grad-CAM ----------------------------------------------------------------------------------


def test_gradcam_matches_captum_and_temporal_weights_differ():
    from captum.attr import LayerAttribution, LayerGradCam

    model = tiny("i3d_rgb_tiny")
    x = moving_square(16)  # still for 8 frames, then moving
    target = torch.tensor([1])
    cam = attribute(model, x, target, "gradcam", layer="Mixed_4f")
    ref = LayerGradCam(model, model.Mixed_4f).attribute(x, target, relu_attributions=True)
    ref = LayerAttribution.interpolate(ref, tuple(x.shape[2:]), "trilinear")
    assert torch.allclose(cam, ref.expand_as(cam), atol=1e-6)
    temporal = attribute(model, x, target, "gradcam_temporal", layer="Mixed_4f")
    gap = (frame_profile(cam) - frame_profile(temporal)).abs().sum().item()
    print(f"L1 distance between the channel and per-time Grad-CAM profiles: {gap:.3f}")
    assert gap > 0.1
    # Default layers: Mixed_5c for I3D, the last Conv3d for C3D, each stream's own for two-stream.
    c3d = tiny("c3d_tiny")
    assert attribute(c3d, x, 1, "gradcam_temporal").abs().sum() > 0
    two = tiny("i3d_two_stream_tiny")
    rgb, flow = two.example_inputs(batch=1, frames=16, size=64)
    cams = attribute(two, (rgb, flow), 1, "gradcam")
    assert all(c.shape == v.shape for c, v in zip(cams, (rgb, flow), strict=True))
    only_flow = attribute(two, (rgb, flow), 1, "gradcam", layer="flow.Mixed_4f")
    assert not only_flow[0].any() and only_flow[1].any()


# --- sanity: randomisation -----------------------------------------------------------------------


def test_randomisation_changes_the_maps_and_leaves_the_model_alone():
    model = tiny("c3d_tiny")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.cat([moving_square(16, seed=0), moving_square(16, seed=1)])
    result = randomisation_test(model, x, torch.tensor([1, 2]), "saliency")
    print(f"saliency randomisation rank correlation {result['correlation']:.2f}")
    assert result["passed"] and result["correlation"] < 0.5 and len(result["per_clip"]) == 2
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    same = randomisation_test(model, x[:1], 1, "saliency", mode="cascade")
    assert len(same["stages"]) == 4 and same["stages"][-1]["randomised"] == 11


# --- temporal aggregation: known answers --------------------------------------------------------


def test_profiles_entropy_and_stream_share_known_answers():
    attr = torch.randn(3, 3, 8, 4, 4)
    p = frame_profile(attr)
    assert p.shape == (3, 8) and torch.allclose(p.sum(1), torch.ones(3))
    flat = torch.full((1, 8), 1 / 8)
    one_hot = torch.zeros(1, 8)
    one_hot[0, 3] = 1
    assert torch.allclose(temporal_entropy(flat), torch.ones(1))
    assert torch.allclose(temporal_entropy(one_hot), torch.zeros(1))
    single = torch.zeros(1, 3, 8, 4, 4)
    single[:, :, 5] = -2.0  # signs do not matter: |attr| is counted
    assert torch.equal(frame_profile(single), one_hot.roll(2, 1))
    assert torch.isnan(frame_profile(torch.zeros(1, 3, 8, 4, 4))).all()
    x = torch.randn(2, 2, 8, 4, 4)
    assert torch.equal(stream_share(torch.zeros(2, 3, 8, 4, 4), x), torch.ones(2))
    assert torch.equal(stream_share(x[:, :1], torch.zeros_like(x)), torch.zeros(2))
    both = stream_share(torch.ones(1, 3, 8, 4, 4), torch.ones(1, 2, 8, 4, 4))
    assert torch.allclose(both, torch.tensor([0.4]))  # 2 of 5 channels
    # A tuple profile sums both streams' masses.
    assert torch.allclose(
        frame_profile((single, torch.zeros(1, 2, 8, 4, 4))), frame_profile(single)
    )


def test_class_profiles_means_and_standard_errors():
    profiles = torch.tensor([[0.5, 0.5], [0.7, 0.3], [0.0, 1.0]])
    df = class_profiles(profiles, [0, 0, 1], ["a", "b"])
    assert list(df.columns) == ["class", "frame", "mean", "sem", "n"]
    a = df[df["class"] == "a"]
    assert np.allclose(a["mean"], [0.6, 0.4]) and np.allclose(a["sem"], [0.1, 0.1])
    assert df[df["class"] == "b"]["sem"].isna().all() and (df["n"] == [2, 2, 1, 1]).all()
    by_name = class_profiles(profiles.numpy(), ["a", "a", "b"])
    assert by_name.equals(df)


def test_selective_relevance_known_answers():
    constant = torch.rand(2, 3, 1, 8, 8).expand(-1, -1, 10, -1, -1).contiguous()
    kept, share = selective_relevance(constant)
    assert torch.equal(share, torch.zeros(2)) and not kept.any()
    # Relevance that appears at frame 4 and stays: only its onset changes over time.
    step = torch.zeros(1, 3, 10, 8, 8)
    step[:, :, 4:, 2:6, 2:6] = 1.0
    kept, share = selective_relevance(step)
    assert share.item() == pytest.approx(1 / 6)  # frame 4 of the six relevant frames
    assert kept[:, :, 4].any() and not kept[:, :, 5:].any()
    # Relevance in one frame only: the central difference flags its neighbours, not the frame
    # itself, so the paper's rule keeps nothing; widening the mask by one frame keeps it all.
    one_frame = torch.zeros(1, 3, 10, 8, 8)
    one_frame[:, :, 4, 2:6, 2:6] = 1.0
    assert selective_relevance(one_frame)[1].item() == 0.0
    kept, share = selective_relevance(one_frame, dilate=1)
    assert share.item() == pytest.approx(1.0) and torch.equal(kept, one_frame)
    (k1, k2), both = selective_relevance((step, constant[:1, :2]))
    assert k1.shape == step.shape and not k2.any()
    assert 0 < both.item() < 1 / 6


# --- visualisation ---------------------------------------------------------------------------


def gif_seconds(im) -> float:
    """Total duration of an open GIF (Pillow merges identical frames and adds their durations)."""
    total = 0
    for k in range(im.n_frames):
        im.seek(k)
        total += im.info["duration"]
    return total / 1000


def test_heatmap_overlays_gif_and_mp4(tmp_path):
    from PIL import Image

    from motionprobe.plots import overlay_montage, temporal_profile_plot
    from motionprobe.video import probe

    frames = np.full((6, 20, 24, 3), 100, np.uint8)
    heat = np.zeros((6, 20, 24), np.float32)
    heat[2, 5:10, 5:10] = 1.0
    blended = overlay_frames(frames, heat)
    assert blended.shape == frames.shape and blended.dtype == np.uint8
    assert np.array_equal(blended[0], frames[0]) and not np.array_equal(blended[2], frames[2])
    gif = write_heatmap_video(tmp_path / "clip.gif", frames, heat, fps=5)
    with Image.open(gif) as im:
        assert im.size == (24, 20) and gif_seconds(im) == pytest.approx(6 / 5)
    mp4 = write_heatmap_video(tmp_path / "clip.mp4", frames, heat, fps=5)
    assert probe(mp4).num_frames == 6
    fig = overlay_montage([frames, frames], [heat, heat], row_labels=["rgb", "flow"], columns=4)
    assert len([ax for ax in fig.axes if ax.images]) == 12
    rows = [
        (f"c{i}", f, 1 / 6 + (0.1 * i if f == 0 else -0.02 * i), 0.01, 2)
        for i in range(20)
        for f in range(6)
    ]
    df = pd.DataFrame(rows, columns=["class", "frame", "mean", "sem", "n"])
    fig = temporal_profile_plot(df, top_k=5, cues={"c19": "order"})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["c15", "c16", "c17", "c18", "c19 (order)"]  # the five least flat
    assert fig.axes[0].get_xlabel() == "frame" and "share" in fig.axes[0].get_ylabel()


# --- a whole run -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from motionprobe.data.synthetic import synthesize

    root = tmp_path_factory.mktemp("attr") / "data"
    classes = ["red_object", "still", "move_right", "move_left"]
    synthesize(root, 2, 1, 2, classes=classes, progress=False)
    return root, sorted(classes)


@pytest.mark.slow
def test_run_attribution_end_to_end(synth, tmp_path):
    from PIL import Image

    from motionprobe.models.checkpoint import save_checkpoint

    root, classes = synth
    ckpt = tmp_path / "c3d.pt"
    save_checkpoint(ckpt, tiny("c3d_tiny"), classes, config={"frames": 16})
    out = tmp_path / "out"
    options = dict(clips_per_class=2, steps=16, progress=False)
    result = run_attribution(ckpt, root, out, method="integrated_gradients", **options)
    assert result.clips == 8 and result.bad == 0 and str(out) in result.summary
    clips = pd.read_csv(out / "clips.csv")
    assert len(clips) == 8 and set(clips["label"]) == set(classes)
    assert ((clips["entropy"] > 0) & (clips["entropy"] <= 1)).all()
    assert clips["temporal_share"].between(0, 1).all() and clips["flow_share"].isna().all()
    assert clips["completeness"].median() < 0.1
    prof = pd.read_parquet(out / "profiles.parquet")
    assert len(prof) == 8 * 16 and set(prof["stream"]) == {"all"}
    assert np.allclose(prof.groupby("video_id")["share"].sum(), 1.0)
    cp = pd.read_csv(out / "class_profiles.csv")
    assert len(cp) == 4 * 16 and (cp["n"] == 2).all()
    summary = pd.read_csv(out / "class_summary.csv")
    assert dict(zip(summary["class"], summary["cue"], strict=True))["move_left"] == "order"
    sanity = json.loads((out / "sanity.json").read_text())
    assert sanity["randomisation"]["method"] == "integrated_gradients"
    assert sanity["ig_completeness"]["source"] == "the run's own clips"
    assert len(sanity["ig_completeness"]["per_clip"]) == 8
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "integrated_gradients" and config["options"] == {"steps": 16}
    assert config["versions"]["captum"] and config["manifest_videos"] == 8
    for name in ["temporal_profiles.png", "temporal_profiles.svg", "montage_still.png"]:
        assert (out / "figures" / name).stat().st_size > 1000
    with Image.open(out / "figures" / "temporal_profiles.png") as im:
        assert im.size[0] > 300
    with Image.open(out / "videos" / "move_left.gif") as im:
        # 16 frames at the default 8 fps (GIF stores 10 ms units: 120 ms per frame)
        assert gif_seconds(im) == pytest.approx(16 / 8, abs=0.1)


@pytest.mark.slow
def test_run_attribution_two_stream_reports_flow_share(synth, tmp_path):
    from motionprobe.models.checkpoint import save_checkpoint

    root, classes = synth
    ckpt = tmp_path / "two.pt"
    model = tiny("i3d_two_stream_tiny")
    save_checkpoint(ckpt, model, classes, config={"frames": 8, "flow_method": "farneback"})
    out = tmp_path / "out"
    options = dict(clips_per_class=1, sanity_clips=1, video_format=None, progress=False, steps=8)
    result = run_attribution(ckpt, root, out, method="saliency", **options)
    assert result.clips == 4
    clips = pd.read_csv(out / "clips.csv")
    assert clips["flow_share"].between(0, 1).all() and clips["completeness"].isna().all()
    cp = pd.read_csv(out / "class_profiles.csv")
    assert set(cp["stream"]) == {"all", "rgb", "flow"}
    assert (out / "figures" / "stream_share.png").is_file()
    assert not (out / "videos").exists()
    sanity = json.loads((out / "sanity.json").read_text())
    assert sanity["ig_completeness"]["source"].startswith("integrated_gradients on 1")
