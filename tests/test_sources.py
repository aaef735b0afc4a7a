"""Models researchers already have: torchvision and Hugging Face classifiers, and any callable.

Nothing is downloaded: torchvision models are built with ``weights=None`` (or a state dict saved
to a temporary folder), Hugging Face models from tiny configs saved there.
"""

from __future__ import annotations

import json

import numpy as np
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
    frames = 16 if name.startswith("mvit") else 8  # MViT's positions are fixed at 16 frames
    target = make_target(f"torchvision:{name}", frames=frames, data_classes=CLASSES)
    clip = torch.rand(1, 3, frames, loaded.preset.crop, loaded.preset.crop) * 255
    with torch.inference_mode():
        logits = target.model(*target.normalize({"rgb": clip}, "cpu"))
    assert logits.shape == (1, 4) and torch.isfinite(logits).all()
