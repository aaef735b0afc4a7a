"""Models researchers already have: torchvision and Hugging Face classifiers, and any callable.

Nothing is downloaded: torchvision models are built with ``weights=None`` (or a state dict saved
to a temporary folder), Hugging Face models from tiny configs saved there.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision import models as tvm

from motionprobe.cli import EXIT_ERROR, main
from motionprobe.data.synthetic import synthesize
from motionprobe.models.adapter import make_target
from motionprobe.models.sources import TORCHVISION_MODELS, align_classes, class_key, load_spec
from motionprobe.transforms import ClipTransform, torchvision_preset
from motionprobe.types import RunError

CLASSES = ["move_left", "move_right", "red_object", "still"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Four synthetic classes, two test clips each (64 px: smaller than every model's crop,
    so resizing is exercised too)."""
    root = tmp_path_factory.mktemp("sources") / "data"
    synthesize(root, 2, 1, 2, frames=20, size=64, classes=CLASSES, progress=False)
    return root


@pytest.fixture(scope="module")
def videomae(tmp_path_factory):
    """A tiny VideoMAE classifier of the four classes and its image processor, saved."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("videomae")
    labels = dict(enumerate(CLASSES))
    config = transformers.VideoMAEConfig(
        image_size=32, patch_size=8, num_frames=8, tubelet_size=2, hidden_size=32,
        num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=4,
        id2label=labels, label2id={v: k for k, v in labels.items()},
    )  # fmt: skip
    transformers.VideoMAEForVideoClassification(config).save_pretrained(folder)
    processor = transformers.VideoMAEImageProcessor(
        size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32}
    )
    processor.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_preprocessing_equals_every_weights_enum_transforms(name):
    rng = np.random.default_rng(0)
    for weights in tvm.get_model_weights(name):
        preset = torchvision_preset(weights, name)
        for size in [(240, 320), (257, 191), (360, 640)]:
            frames = rng.integers(0, 256, (3, *size, 3), dtype=np.uint8)
            ours = preset.normalize(ClipTransform(preset)(frames))
            theirs = weights.transforms()(torch.from_numpy(frames).permute(0, 3, 1, 2))
            assert ours.shape == theirs.shape
            assert (ours - theirs).abs().max() < 1e-5, (weights, size)


def test_a_torchvision_spec_reads_clip_length_rate_and_classes_from_the_weights_metadata():
    loaded = load_spec("torchvision:mvit_v2_s", None, num_classes=4)
    assert (loaded.frames, loaded.info["fps"]) == (16, 7.5)
    assert (loaded.preset.crop, loaded.preset.short_side, loaded.preset.size) == (224, 256, None)
    r3d = load_spec("torchvision:r3d_18", None, num_classes=4)
    assert (r3d.frames, r3d.info["fps"], r3d.preset.size) == (16, 15.0, (128, 171))
    assert r3d.classes is None  # random weights name no classes
    # The same random model on every run, so a killed run resumes with the same fingerprint.
    again = load_spec("torchvision:r3d_18", None, num_classes=4)
    first, second = r3d.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_a_state_dict_file_loads_and_a_mismatched_one_names_its_keys(tmp_path):
    net = tvm.video.r3d_18(num_classes=4).eval()
    torch.save(net.state_dict(), tmp_path / "r3d.pt")
    loaded = load_spec("torchvision:r3d_18", str(tmp_path / "r3d.pt"))
    x = torch.randn(1, 3, 8, 112, 112)
    with torch.inference_mode():
        assert torch.equal(loaded.model.eval()(x), net(x))
    torch.save(tvm.video.mc3_18(num_classes=4).state_dict(), tmp_path / "mc3.pt")
    with pytest.raises(RunError, match=r"mc3.pt: does not fit VideoResNet; shape: layer2"):
        load_spec("torchvision:r3d_18", str(tmp_path / "mc3.pt"))
    state = net.state_dict()
    state.pop("fc.bias")
    state["extra.weight"] = torch.zeros(4, 4)
    torch.save(state, tmp_path / "keys.pt")
    with pytest.raises(RunError, match=r"missing: fc.bias \(1\); unexpected: extra.weight \(1\)"):
        load_spec("torchvision:r3d_18", str(tmp_path / "keys.pt"))
    with pytest.raises(RunError, match=r"no weights 'KINETICS_V9'.*KINETICS400_V1"):
        load_spec("torchvision:r3d_18", "KINETICS_V9")
    with pytest.raises(RunError, match="not a video classifier"):
        load_spec("torchvision:resnet50")


def test_class_names_match_across_spellings_and_unmatched_ones_are_listed():
    assert class_key("Passing American football (in game)") == class_key(
        "passing_american_football_in_game"
    )
    model = ["abseiling", "Air Drumming", "passing American football (in game)", "yoga"]
    data = ["air_drumming", "passing_american_football_in_game", "abseiling"]
    renamed, missing = align_classes(model, data)
    assert renamed == ["abseiling", "air_drumming", "passing_american_football_in_game", "yoga"]
    assert missing == []
    with pytest.raises(RunError, match=r"1 dataset class\(es\) not among the model's: surfing"):
        align_classes(model, [*data, "surfing"], what="m")
    assert align_classes(model, [*data, "surfing"], partial=True)[1] == ["surfing"]
    with pytest.raises(RunError, match="none of the dataset's 1 classes"):
        align_classes(model, ["surfing"], partial=True)


def test_unnamed_weights_take_the_dataset_classes_only_when_the_counts_agree(tmp_path):
    torch.save(tvm.video.r3d_18(num_classes=4).state_dict(), tmp_path / "four.pt")
    target = make_target("torchvision:r3d_18", weights=str(tmp_path / "four.pt"),
                         frames=4, data_classes=CLASSES)  # fmt: skip
    assert target.classes == CLASSES and target.info["classes_from"].startswith("dataset")
    with pytest.raises(RunError, match="name no classes and it has 4 outputs.*has 3 classes"):
        make_target("torchvision:r3d_18", weights=str(tmp_path / "four.pt"), frames=4,
                    data_classes=CLASSES[:3])  # fmt: skip


def _cli(*argv: str) -> int:
    return main([*argv, "--quiet"])


def test_probe_a_torchvision_model_from_a_state_dict_through_the_cli(data, tmp_path, capsys):
    torch.save(tvm.video.r3d_18(num_classes=4).state_dict(), tmp_path / "r3d.pt")
    out = tmp_path / "probe"
    argv = ["probe", "--model", "torchvision:r3d_18", "--weights", str(tmp_path / "r3d.pt"),
            "--frames", "8", "--data", str(data), "--out", str(out)]  # fmt: skip
    assert _cli(*argv) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "8 clips" in line and "classes named from the dataset" in line
    config = json.loads((out / "config.json").read_text())
    assert config["source"] == "torchvision" and config["preset"]["convention"] == "torchvision"
    assert config["frames"] == 8 and config["fps"] == 15.0 and config["classes"] == CLASSES
    assert len(config["fingerprint"]["checkpoint_sha256"]) == 64
    taxonomy = (out / "taxonomy.csv").read_text()
    assert all(c in taxonomy for c in CLASSES)
    bad = tmp_path / "mc3.pt"
    torch.save(tvm.video.mc3_18(num_classes=4).state_dict(), bad)
    argv[4] = str(bad)
    assert _cli(*argv[:-1], str(tmp_path / "other")) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not fit VideoResNet" in err
    assert not (tmp_path / "other").exists()


def test_probe_a_hugging_face_videomae_through_the_cli(data, videomae, tmp_path, capsys):
    out = tmp_path / "probe"
    assert _cli("probe", "--model", f"hf:{videomae}", "--data", str(data), "--out", str(out)) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["source"] == "hf" and config["frames"] == 8
    assert (config["preset"]["short_side"], config["preset"]["crop"]) == (36, 32)
    assert config["preset"]["mean"] == [127.5] * 3 and config["classes"] == CLASSES
    # Its logits are the transformers model's on (B, T, C, H, W) pixel values.
    import transformers

    net = transformers.VideoMAEForVideoClassification.from_pretrained(videomae).eval()
    target = make_target(f"hf:{videomae}")
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(target.model(x), net(pixel_values=x.transpose(1, 2)).logits)


#: A user's own module: a classifier taking (B, T, C, H, W), and the callable that builds it.
USER_MODULE = """
from torch import nn

class Clips(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(x.mean((1, 3, 4)))

def build():
    spec = dict(preset="imagenet", frames=6, classes=CLASSES, fps=None, layout="btchw")
    return Clips(), spec
"""


def test_a_callable_spec_with_its_input_spec(data, tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(f"CLASSES = {CLASSES!r}\n{USER_MODULE}")
    monkeypatch.chdir(tmp_path)  # found in the current folder, as python -m would
    target = make_target("mymodels:build", data_classes=CLASSES)
    assert (target.frames, target.classes, target.rgb_preset.name) == (6, CLASSES, "imagenet")
    x = torch.randn(2, 3, 6, 8, 8)
    assert torch.allclose(target.model(x), target.model.net(x.transpose(1, 2)))
    out = tmp_path / "probe"
    argv = ["probe", "--model", "mymodels:build", "--data", str(data),
            "--out", str(out), "--interventions", "freeze,reverse"]  # fmt: skip
    assert _cli(*argv) == 0 and (out / "taxonomy.csv").is_file()
    with pytest.raises(RunError, match="cannot import"):
        make_target("mymodels:no_such_function")


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_every_torchvision_model_runs_through_the_adapter(name, data):
    loaded = load_spec(f"torchvision:{name}", None, num_classes=4)
    # MViT's positions are fixed at 16 frames; S3D's pooling needs at least 14.
    frames = {"mvit_v1_b": 16, "mvit_v2_s": 16, "s3d": 14}.get(name, 8)
    target = make_target(f"torchvision:{name}", frames=frames, data_classes=CLASSES)
    clip = torch.rand(1, 3, frames, loaded.preset.crop, loaded.preset.crop) * 255
    with torch.inference_mode():
        logits = target.model(*target.normalize({"rgb": clip}, "cpu"))
    assert logits.shape == (1, 4) and torch.isfinite(logits).all()


def test_a_torchvision_architecture_trains_and_reloads_as_our_own_models(tmp_path):
    from motionprobe.models import create_model
    from motionprobe.models.checkpoint import load_checkpoint, save_checkpoint

    model = create_model("torchvision:r3d_18", 4, frames=8, size=32)
    assert (model.frames, model.preset.crop, model.preset.size) == (8, 32, None)
    assert model.config["kwargs"] == {"frames": 8, "size": 32}
    path = tmp_path / "best.pt"
    save_checkpoint(path, model, CLASSES, {"frames": 8})
    again, ckpt = load_checkpoint(path, "cpu")
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.inference_mode():
        assert torch.equal(again.eval()(x), model.eval()(x))
    assert ckpt["model"] == "torchvision:r3d_18"


@pytest.mark.slow
def test_validate_and_the_bias_study_run_on_a_torchvision_model(tmp_path, data, capsys):
    out = tmp_path / "validity"
    argv = ["validate", "--model", "torchvision:r3d_18", "--smoke", "--families", "squares",
            "--seeds", "0", "--out", str(out)]  # fmt: skip
    assert _cli(*argv) == 0
    assert (out / "torchvision_r3d_18" / "agreement.csv").is_file()
    bias = tmp_path / "bias"
    argv = ["study", "static_dynamic_bias", "--checkpoint", "r3d=torchvision:r3d_18",
            "--data", str(data), "--out", str(bias), "--clips-per-class", "1"]  # fmt: skip
    assert main(["--quiet", *argv]) == 0
    layers = (bias / "layers.csv").read_text()
    assert all(f"net.layer{k}" in layers for k in range(1, 5))


def _hooked(model, names, *args, **inputs):
    """Outputs of the named modules in one forward."""
    modules, seen = dict(model.named_modules()), {}
    handles = [
        modules[n].register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o)) for n in names
    ]
    with torch.no_grad():
        model(*args, **inputs)
    for h in handles:
        h.remove()
    return seen


def test_transformer_tokens_read_as_the_maps_their_patch_embedding_made():
    """Known answer: the first tokens are the patch embedding's convolution output, in each
    family's own order (VideoMAE time-major, TimeSformer space-major after a class token, ViViT
    time-major after one)."""
    from motionprobe.models.features import as_map, feature_spec

    transformers = pytest.importorskip("transformers")
    x = torch.randn(2, 8, 3, 32, 32)  # (B, T, C, H, W) pixel values
    small = dict(image_size=32, patch_size=8, num_frames=8, hidden_size=16, num_hidden_layers=2,
                 num_attention_heads=2, intermediate_size=32, num_labels=3)  # fmt: skip
    vmae = transformers.VideoMAEForVideoClassification(
        transformers.VideoMAEConfig(tubelet_size=2, **small)
    ).eval()
    emb = "videomae.embeddings.patch_embeddings"
    seen = _hooked(vmae, [emb, f"{emb}.projection"], pixel_values=x)
    spec = feature_spec(vmae)
    assert spec.stages[-1] == spec.gradcam == "videomae.encoder.layer.1"
    got = as_map(vmae, spec, seen[emb], x.transpose(1, 2).shape)
    assert torch.allclose(got, seen[f"{emb}.projection"])  # (B, C, 4, 4, 4)

    tsf = transformers.TimesformerForVideoClassification(transformers.TimesformerConfig(**small))
    tsf = tsf.eval()
    with torch.no_grad():  # no position, time or class embeddings: tokens are the patches
        for name in ("position_embeddings", "time_embeddings", "cls_token"):
            getattr(tsf.timesformer.embeddings, name).zero_()
    proj = "timesformer.embeddings.patch_embeddings.projection"
    seen = _hooked(tsf, ["timesformer.embeddings", proj], pixel_values=x)
    per_frame = seen[proj]  # (B*T, C, 4, 4)
    want = per_frame.reshape(2, 8, 16, 4, 4).transpose(1, 2)  # (B, C, T, H', W')
    got = as_map(tsf, feature_spec(tsf), seen["timesformer.embeddings"], x.transpose(1, 2).shape)
    assert torch.allclose(got, want, atol=1e-6)

    vivit = transformers.VivitForVideoClassification(
        transformers.VivitConfig(tubelet_size=[2, 8, 8], **{k: v for k, v in small.items()
                                                           if k != "patch_size"})
    ).eval()  # fmt: skip
    with torch.no_grad():  # ViViT: a class token, then tubelets time-major
        vivit.vivit.embeddings.position_embeddings.zero_()
        vivit.vivit.embeddings.cls_token.zero_()
    proj = "vivit.embeddings.patch_embeddings.projection"
    seen = _hooked(vivit, ["vivit.embeddings", proj], pixel_values=x)
    spec = feature_spec(vivit)
    got = as_map(vivit, spec, seen["vivit.embeddings"], x.transpose(1, 2).shape)
    assert torch.allclose(got, seen[proj], atol=1e-6) and spec.gradcam.endswith(".1")


@pytest.mark.parametrize("name", ["mvit_v2_s", "swin3d_t"])
def test_torchvision_transformer_features_are_maps_over_time(name):
    from motionprobe.models.features import as_map

    loaded = load_spec(f"torchvision:{name}", None, num_classes=3)
    net, spec = loaded.model.net.eval(), loaded.model.features
    frames = 16 if name.startswith("mvit") else 8
    x = torch.randn(1, 3, frames, 224, 224)
    outs = _hooked(net, list(spec.stages), x)
    maps = [as_map(net, spec, outs[n], x.shape) for n in spec.stages]
    assert all(m.ndim == 5 and m.shape[0] == 1 for m in maps)
    assert maps[-1].shape[2] == frames // 2  # both halve time once, at the patch embedding
    assert [m.shape[1] for m in maps] == sorted(m.shape[1] for m in maps)  # channels grow


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory):
    """Two classes, one test clip each: the smallest data every command runs on."""
    root = tmp_path_factory.mktemp("two") / "data"
    synthesize(root, 1, 1, 1, frames=24, size=64, classes=["red_object", "move_right"],
               progress=False)  # fmt: skip
    return root


def _tiny_hf(folder, kind: str) -> str:
    """A tiny ``transformers`` classifier of the two classes, saved with its processor."""
    transformers = pytest.importorskip("transformers")
    labels = {0: "red_object", 1: "move_right"}
    small = dict(image_size=32, patch_size=8, num_frames=8, hidden_size=16, num_hidden_layers=2,
                 num_attention_heads=2, intermediate_size=32, num_labels=2, id2label=labels,
                 label2id={v: k for k, v in labels.items()})  # fmt: skip
    if kind == "videomae":
        net = transformers.VideoMAEForVideoClassification(transformers.VideoMAEConfig(**small))
    else:
        net = transformers.TimesformerForVideoClassification(
            transformers.TimesformerConfig(**small)
        )
    net.save_pretrained(folder)
    processor = transformers.VideoMAEImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor.save_pretrained(folder)
    return f"hf:{folder}"


#: One model per code path runs every command in the suite; the rest share theirs (the same
#: wrapper, feature spec and preprocessing; MViT's token grid and tuple outputs are covered by
#: the feature tests above and TimeSformer) and run with ``MOTIONPROBE_ALL_SOURCES=1`` (all
#: eleven: 23 minutes on 2 CPU cores, the MViTs about 5 each, Swin3D-B 4).
FAMILY_REPRESENTATIVES = {"r3d_18", "s3d", "swin3d_t", "videomae", "timesformer"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [*TORCHVISION_MODELS, "videomae", "timesformer"])
def test_probe_attribute_and_bias_run_on_every_source_through_the_cli(name, two_clips, tmp_path):
    if name not in FAMILY_REPRESENTATIVES and not os.environ.get("MOTIONPROBE_ALL_SOURCES"):
        pytest.skip("same family as one that runs; MOTIONPROBE_ALL_SOURCES=1 runs it too")
    if name in TORCHVISION_MODELS:
        spec = f"torchvision:{name}"
        frames = {"mvit_v1_b": "16", "mvit_v2_s": "16", "s3d": "14"}.get(name, "8")
        clip = ["--frames", frames]
    else:
        spec, clip = _tiny_hf(tmp_path / name, name), []
    data = str(two_clips)
    probe = tmp_path / "probe"
    assert _cli("probe", "--model", spec, *clip, "--data", data, "--out", str(probe)) == 0
    config = json.loads((probe / "config.json").read_text())
    from motionprobe.probes.engine import DEFAULT_SUITE

    assert set(DEFAULT_SUITE) <= set(config["interventions"])
    assert len((probe / "taxonomy.csv").read_text().splitlines()) == 3  # header and 2 classes
    for method in ("integrated_gradients", "gradcam"):
        out = tmp_path / method
        argv = ["attribute", "--model", spec, *clip, "--data", data, "--out", str(out), "--method",
                method, "--clips-per-class", "1", "--steps", "2", "--video", "none"]  # fmt: skip
        assert _cli(*argv) == 0
        assert (out / "class_profiles.csv").is_file()
    bias = tmp_path / "bias"
    argv = ["study", "static_dynamic_bias", "--checkpoint", f"m={spec}", *clip, "--data", data,
            "--out", str(bias), "--clips-per-class", "1"]  # fmt: skip
    assert main(["--quiet", *argv]) == 0
    layers = pd.read_csv(bias / "layers.csv")
    assert len(layers) >= 2 and layers["channels"].gt(0).all()


@pytest.mark.slow
def test_the_studies_take_a_model_spec_for_their_probe_and_attribution(two_clips, tmp_path):
    spec = "r3d=torchvision:r3d_18"  # a random model at its own 16 x 112 x 112 clips
    runs = {
        "what_makes_a_video": ["--checkpoint", "torchvision:r3d_18", "--no-generator",
                               "--frames", "1,4"],
        "temporal_taxonomy": ["--checkpoint", spec],
        "attribution_over_time": ["--checkpoint", spec, "--clips-per-class", "1", "--steps", "2"],
    }  # fmt: skip
    for study, options in runs.items():
        out = tmp_path / study
        argv = ["study", study, "--data", str(two_clips), "--out", str(out), *options]
        assert main(["--quiet", *argv]) == 0, study
        assert (out / "report.md").is_file()
        recorded = json.loads((out / "config.json").read_text())
        assert "torchvision:r3d_18" in json.dumps(recorded), study


@pytest.mark.slow
def test_evaluation_and_the_generator_take_a_model_spec(data, tmp_path, capsys):
    torch.save(tvm.video.r3d_18(num_classes=4).state_dict(), tmp_path / "r3d.pt")
    spec = ["--model", "torchvision:r3d_18", "--weights", str(tmp_path / "r3d.pt")]
    argv = ["evaluate", *spec, "--frames", "4", "--data", str(data), "--out", str(tmp_path / "ev"),
            "--clips", "1", "--crops", "1"]  # fmt: skip
    assert _cli(*argv) == 0
    assert "on 8 videos" in capsys.readouterr().out
    argv = ["generator", "--model", f"torchvision:r3d_18@{tmp_path / 'r3d.pt'}", "--data",
            str(data), "--out", str(tmp_path / "gen"), "--ks", "1", "--epochs", "1"]  # fmt: skip
    assert _cli(*argv) == 0
    config = json.loads((tmp_path / "gen" / "config.json").read_text())
    assert config["checkpoint"].startswith("torchvision:r3d_18@")
    assert config["layers"] == [f"net.layer{k}" for k in range(1, 5)]  # the family's stages


@pytest.mark.slow
def test_the_gap_study_fuses_a_foreign_rgb_model_with_our_flow_i3d_clip_by_clip(data, tmp_path):
    """A torchvision RGB model and a flow I3D: each probed alone, their late fusion evaluated on
    the same clips; the fused stream is the mean of the two models' softmax scores per clip."""
    from motionprobe.models.checkpoint import save_checkpoint
    from motionprobe.models.registry import create_model

    torch.manual_seed(0)
    rgb = tmp_path / "r3d.pt"
    torch.save(tvm.video.r3d_18(num_classes=4).state_dict(), rgb)
    flow = tmp_path / "flow.pt"
    save_checkpoint(flow, create_model("i3d_flow_tiny", num_classes=4), CLASSES,
                    {"frames": 8, "flow_method": "farneback"})  # fmt: skip
    out = tmp_path / "gap"
    argv = ["study", "rgb_vs_flow_gap", "--rgb", f"torchvision:r3d_18@{rgb}", "--flow",
            str(flow), "--frames", "4", "--data", str(data), "--out", str(out)]  # fmt: skip
    assert main(["--quiet", *argv]) == 0
    fused = pd.read_parquet(out / "fused" / "views.parquet")
    streams = {s: pd.read_parquet(out / s / "predictions.parquet") for s in ("rgb", "flow")}
    key = ["video_id", "clip_index"]
    clean = {s: p[p["intervention"] == "clean"].set_index(key) for s, p in streams.items()}
    fused = fused.set_index(key)
    assert len(fused) == len(clean["rgb"]) == len(clean["flow"]) == 8
    # The evaluation saw each model's probe clips: each model's probability of the true class
    # there, averaged, is the fusion's.
    p_mean = (clean["rgb"]["p_label"] + clean["flow"]["p_label"]) / 2
    assert np.allclose(fused["p_label"], p_mean.reindex(fused.index), atol=1e-4)
    gap = pd.read_csv(out / "gap.csv").set_index("class")
    for stream, table in (*clean.items(), ("fused", fused)):
        per_class = table.groupby("label")["correct"].mean()
        assert np.allclose(gap.loc[per_class.index, f"acc_{stream}"], per_class)
    assert gap["dependence"].notna().all()  # the RGB model's frozen-frame drop
    text = (out / "report.md").read_text()
    assert "fused late by averaging their softmax scores" in text
    assert "torchvision:r3d_18@" in text
    from motionprobe.studies import make_report

    (out / "report.md").unlink()
    assert make_report(out).read_text() == text  # re-rendered from the saved tables alone


def test_two_models_fuse_on_their_shared_classes_whatever_their_order():
    """A foreign model's classes in its own order, one of them missing from the other model:
    its views and logit columns are renumbered onto the shared classes before fusion."""
    from motionprobe.evaluate import _on_classes

    own = ["c", "a", "b"]  # this model's order
    table = pd.DataFrame({"video_id": ["v0", "v1", "v2"], "label": [0, 1, 2],
                          "clip_index": 0, "crop_index": 0})  # fmt: skip
    logits = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0], [0.0, 1.0, 7.0]], np.float32)
    moved, columns = _on_classes(table, logits, own, ["a", "b"])  # 'c' is not shared
    assert moved["video_id"].tolist() == ["v1", "v2"] and moved["label"].tolist() == [0, 1]
    assert np.array_equal(columns, [[5.0, 1.0], [1.0, 7.0]])  # columns a, b
