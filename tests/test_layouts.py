"""Dataset layouts: each written in its official format, detected, indexed with its bad rows
listed, and run from the command line (check, one epoch of training, a probe)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from motionprobe import rawframes
from motionprobe.cli import EXIT_ERROR, main
from motionprobe.data import VideoDataset, check_dataset, load_index
from motionprobe.data.layouts import LAYOUTS, DataSpec, data_spec, detect_layout
from motionprobe.data.layouts.ssv2 import reverse_pairs, ssv2_classes
from motionprobe.video import write_video

SIZE, FPS, FRAMES = 32, 10, 24


def ramp(seed: int, frames: int = FRAMES) -> np.ndarray:
    """Frames whose grey value encodes the frame index (frame t is 8 t + seed)."""
    values = (np.arange(frames) * 8 + seed).astype(np.uint8)
    return np.broadcast_to(values[:, None, None, None], (frames, SIZE, SIZE, 3)).copy()


def _video(path: Path, seed: int = 3) -> Path:
    if path.suffix == ".webm":  # as Something-Something-V2 ships them
        return write_video(path, ramp(seed), FPS, codec="libvpx-vp9")
    return write_video(path, ramp(seed), FPS, lossless=True)


SSV2_CLASSES = [
    "Closing something",
    "Opening something",
    "Pushing something from left to right",
    "Pushing something from right to left",
]


def _ssv2(root: Path) -> Path:
    labels = root / "labels"
    labels.mkdir(parents=True)
    (labels / "labels.json").write_text(json.dumps({c: str(i) for i, c in enumerate(SSV2_CLASSES)}))
    templates = {
        "Closing something": "Closing [something]",
        "Opening something": "Opening [something]",
        "Pushing something from left to right": "Pushing [something] from left to right",
        "Pushing something from right to left": "Pushing [something] from right to left",
    }
    for _split, file, first in (("train", "train.json", 100), ("val", "validation.json", 200)):
        entries = []
        for k, cls in enumerate(SSV2_CLASSES):
            for j in range(2):
                vid = str(first + 10 * k + j)
                _video(root / "videos" / f"{vid}.{'webm' if j else 'mp4'}", seed=k)
                entries.append({"id": vid, "template": templates[cls], "label": "x",
                                "placeholders": ["a cup"]})  # fmt: skip
        entries.append({"id": str(first + 99), "template": "Juggling [something]", "label": "y"})
        entries.append({"id": str(first + 98), "template": "Opening [something]", "label": "z"})
        (labels / file).write_text(json.dumps(entries))
    return root


def _diving48(root: Path) -> Path:
    vocab = [["Back", "15som", "05Twis", "FREE"], ["Forward", "25som", "NoTwis", "PIKE"]]
    (root / "rgb").mkdir(parents=True)
    (root / "Diving48_vocab.json").write_text(json.dumps(vocab))
    for split in ("train", "test"):
        entries = []
        for k in range(2):
            for j in range(3):
                vid = f"{split}{k}{j}_00001"
                _video(root / "rgb" / f"{vid}.mp4", seed=k)
                entries.append({"vid_name": vid, "label": k, "start_frame": 2, "end_frame": 22})
        entries.append({"vid_name": "nowhere_00001", "label": 0, "start_frame": 0, "end_frame": 9})
        entries.append({"vid_name": f"{split}000_00001", "label": 48, "start_frame": 0,
                        "end_frame": 9})  # fmt: skip
        (root / f"Diving48_V2_{split}.json").write_text(json.dumps(entries))
    return root


def _ucf101(root: Path) -> Path:
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    classes = ["Archery", "Basketball"]
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    for fold in (1, 2):
        train, test = [], []
        for k, cls in enumerate(classes):
            for g in range(1, 5):
                name = f"{cls}/v_{cls}_g0{g}_c01.avi"
                (train if (g + fold) % 4 else test).append(name)
                path = root / "UCF-101" / name
                if not path.exists():
                    _video(path, seed=k)
        (lists / f"trainlist0{fold}.txt").write_text("".join(f"{n} 1\n" for n in train))
        (lists / f"testlist0{fold}.txt").write_text("".join(f"{n}\n" for n in test))
    return root


def _hmdb51(root: Path) -> Path:
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for k, cls in enumerate(["climb", "push"]):
        for fold in (1, 2):
            lines = []
            for j in range(4):
                name = f"{cls}_{j}.avi"
                if not (root / cls / name).exists():
                    _video(root / cls / name, seed=k)
                lines.append(f"{name} {1 if (j + fold) % 4 else 2}")
            lines.append(f"{cls}_gone.avi 2")
            (splits / f"{cls}_test_split{fold}.txt").write_text("\n".join(lines) + "\n")
    return root


def _mmaction(root: Path) -> Path:
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "label_map.txt").write_text("climb\npush\n")
    for split in ("train", "val"):
        lines = []
        for k in range(2):
            for j in range(3):
                rel = f"{split}/{k}_{j}.mp4"
                _video(root / f"videos_{split}" / rel, seed=k)
                lines.append(f"{rel} {k}" if j else f"{rel} 2 22 {k}")  # one clip of 20 frames
        lines += [f"{split}/missing.mp4 0", "only_a_path", f"{split}/0_1.mp4 7"]
        (root / "annotations" / f"toy_{split}_list_videos.txt").write_text("\n".join(lines))
    return root


def _jpeg(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 100])


def _rawframes(root: Path, bound: float = 20.0) -> Path:
    (root / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        lines = []
        for k in range(2):
            for j in range(3):
                folder = root / "rawframes" / f"{split}_{k}_{j}"
                for t, image in enumerate(ramp(k)):
                    _jpeg(folder / f"img_{t + 1:05d}.jpg", image[..., ::-1])
                    if t < FRAMES - 1:  # denseflow: one flow frame per frame pair
                        dx, dy = (1.0 + k, -2.0)
                        for axis, v in (("x", dx), ("y", dy)):
                            value = round((v + bound) / (2 * bound) * 255)
                            _jpeg(folder / f"flow_{axis}_{t + 1:05d}.jpg",
                                  np.full((SIZE, SIZE), value, np.uint8))  # fmt: skip
                lines.append(f"{folder.name} {FRAMES} {k}")
        (root / "rawframes" / f"{split}_empty").mkdir()
        lines.append(f"{split}_empty 0 0")
        (root / "annotations" / f"toy_{split}_list_rawframes.txt").write_text("\n".join(lines))
    return root


def _folders(root: Path) -> Path:
    for k, cls in enumerate(["move_left", "move_right"]):  # classes of the Kinetics fixture
        for j in range(3):
            _video(root / cls / f"{j}.mp4", seed=k)
    return root


def _kinetics(root: Path) -> Path:
    from motionprobe.data.synthetic import synthesize

    classes = ["move_left", "move_right", "red_object"]
    return Path(synthesize(root, 3, 2, 2, classes=classes, size=SIZE, frames=FRAMES,
                           progress=False))  # fmt: skip


BUILDERS = {
    "kinetics": _kinetics,
    "ssv2": _ssv2,
    "diving48": _diving48,
    "ucf101": _ucf101,
    "hmdb51": _hmdb51,
    "mmaction": _mmaction,
    "rawframes": _rawframes,
    "folders": _folders,
}
LAYOUT_OF = {"rawframes": "mmaction"}
TRAIN_SPLIT = {"folders": None}


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("layouts")
    return {name: build(base / name) for name, build in BUILDERS.items()}


def test_every_layout_is_detected_and_its_bad_rows_listed(roots):
    expected_bad = {
        "ssv2": {"unknown class 'Juggling something'", "missing file: no 298.*"},
        "diving48": {"label 48 not a class", "missing file: no nowhere_00001.*"},
        "ucf101": set(),
        "hmdb51": {"missing file: no climb_gone.avi", "missing file: no push_gone.avi"},
        "mmaction": {"missing file: no missing.mp4", "line 8:", "label 7 outside the 2 classes"},
        "rawframes": {"empty frame folder"},
        "folders": set(),
        "kinetics": set(),
    }
    for name, root in roots.items():
        split = "test" if name in ("diving48", "ucf101", "hmdb51") else "val"
        index = load_index(root, split)
        assert index.layout == LAYOUT_OF.get(name, name), name
        assert len(index.records) >= 2 and len(index.classes) >= 2, name
        reasons = [b.reason for b in index.bad]
        for words in expected_bad[name]:
            assert any(words in r for r in reasons), (name, words, reasons)
        assert len(index.bad) == len(expected_bad[name]) or name == "ssv2", (name, reasons)
        assert {r.label for r in index.records} <= set(index.classes)


def test_ssv2_classes_are_templates_and_its_reverse_pairs_are_ssv2_classes(roots):
    index = load_index(roots["ssv2"], "train")
    assert index.classes == SSV2_CLASSES  # labels.json's index order
    assert {r.label for r in index.records} == set(SSV2_CLASSES)
    assert [r.video_id for r in index.records][:2] == ["100", "101"]
    webm = next(r for r in index.records if r.path.suffix == ".webm")  # VP9, as shipped
    clip = VideoDataset([webm], index.classes, frames=8, sampling="uniform")[0]["video"]
    seed = index.classes.index(webm.label)
    centre = (np.arange(8) + (FRAMES - 8) // 2) * 8 + seed
    assert np.abs(clip.numpy()[:, 0, 0, 0].astype(int) - centre).max() <= 4
    names = ssv2_classes()
    assert len(names) == len(set(names)) == 174
    pairs = reverse_pairs()
    assert len(pairs) >= 10 and all(a in names and b in names and a != b for a, b in pairs)
    assert len({c for pair in pairs for c in pair}) == 2 * len(pairs)  # each class in one pair
    assert reverse_pairs(SSV2_CLASSES) == [
        ("Pushing something from left to right", "Pushing something from right to left"),
        ("Opening something", "Closing something"),
    ]
    with pytest.raises(FileNotFoundError, match="splits"):
        load_index(roots["ssv2"], "holdout")


def test_a_segment_is_read_as_its_own_video(roots):
    """Diving48's start/end frames and MMAction2's ``path start end label``: the clip's frames
    come from the segment only."""
    for name, split, first in (("diving48", "train", 2), ("mmaction", "train", 2)):
        index = load_index(roots[name], split)
        record = next(r for r in index.records if r.segment is not None)
        assert record.segment[0] == first
        dataset = VideoDataset([record], index.classes, frames=20, sampling="uniform")
        grey = dataset[0]["video"].numpy()[:, 0, 0, 0].astype(int)
        seed = index.classes.index(record.label)
        assert np.abs(grey - (np.arange(first, first + 20) * 8 + seed)).max() <= 2, name
        short = VideoDataset([record], index.classes, frames=21, sampling="uniform", short="error")
        assert "shorter than the requested clip" in short[0]["error"]  # 20 frames, not 24


def test_frame_folders_read_as_videos_and_their_flow_frames_as_flow(roots):
    index = load_index(roots["rawframes"], "train")
    record = index.records[0]
    info = rawframes.probe_frames(record.path)
    assert (info.num_frames, info.width, info.height) == (FRAMES, SIZE, SIZE)
    dataset = VideoDataset([record], index.classes, frames=8, sampling="uniform",
                           modality="rgb+flow")  # fmt: skip
    item = dataset[0]
    start = (FRAMES - 1 - 8) // 2
    grey = item["video"].numpy()[:, 0, 0, 0].astype(int)
    assert np.abs(grey - (np.arange(start, start + 8) * 8)).max() <= 2
    flow = item["flow"].numpy()  # denseflow's quantisation undone with its bound
    assert flow.shape == (2, 8, SIZE, SIZE)
    assert np.abs(flow[0] - 1.0).max() < 40 / 255 and np.abs(flow[1] + 2.0).max() < 40 / 255
    (record.path / "img_00005.jpg").rename(record.path / "img_00005.bak")
    try:
        with pytest.raises(Exception, match="frame 5 of 1..24 is missing"):
            rawframes.probe_frames(record.path)
    finally:
        (record.path / "img_00005.bak").rename(record.path / "img_00005.jpg")


def test_folds_and_forced_layouts(roots):
    ucf = roots["ucf101"]
    one = {r.video_id for r in load_index(ucf, "test").records}
    two = {r.video_id for r in load_index(f"ucf101@2:{ucf}", "test").records}
    assert one and two and one != two
    assert one == {r.video_id for r in load_index(f"ucf101@1:{ucf}", "test").records}
    hmdb = roots["hmdb51"]
    assert {r.video_id for r in load_index(f"hmdb51@2:{hmdb}", "test").records} != {
        r.video_id for r in load_index(hmdb, "test").records
    }
    assert DataSpec.parse(f"hmdb51@2:{hmdb}") == DataSpec(hmdb, "hmdb51", 2)
    assert data_spec(ucf, "ucf101", 2) == f"ucf101@2:{ucf}"
    with pytest.raises(ValueError, match="takes folds none"):
        load_index(f"ssv2@2:{roots['ssv2']}", "train")
    with pytest.raises(ValueError, match="takes folds one of"):
        load_index(f"ucf101@4:{ucf}", "train")
    assert data_spec(ucf, None, 2) == f"ucf101@2:{ucf}"  # --fold alone: the detected layout
    assert detect_layout(f"folders:{roots['ssv2']}").name == "folders"  # forced, not detected


def test_an_unknown_root_says_what_every_layout_looked_for(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="no known dataset layout") as error:
        load_index(tmp_path, "train")
    for name in LAYOUTS:
        assert f"{name}: " in str(error.value)
    assert "labels.json" in str(error.value) and "trainlist01.txt" in str(error.value)


def test_check_names_the_layout_and_lists_bad_rows(roots, capsys):
    table = check_dataset(roots["hmdb51"], out=None, frames=8, decode=False, progress=False)
    assert "(hmdb51 layout)" in capsys.readouterr().out
    bad = table.loc[~table["ok"], "error"].tolist()
    assert any("missing file: no climb_gone.avi" in e for e in bad)
    assert main(["check", str(roots["ucf101"]), "--layout", "ucf101", "--fold", "2", "--out",
                 "none" if False else str(roots["ucf101"] / "c.csv"), "--quiet"]) == 0  # fmt: skip
    assert "(ucf101 layout)" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(BUILDERS))
def test_check_train_and_probe_run_on_each_layout_from_the_cli(roots, name, tmp_path, capsys):
    root = str(roots[name])
    assert main(["--quiet", "check", root, "--frames", "8", "--out", str(tmp_path / "c.csv")]) == 0
    layout = LAYOUT_OF.get(name, name)
    assert f"({layout} layout)" in capsys.readouterr().out
    run = tmp_path / "run"
    if name == "folders":  # no split folders: probed, never trained and validated on itself
        argv = ["train", "--model", "c3d_tiny", "--data", root, "--out", str(run)]
        assert main(argv) == EXIT_ERROR
        assert "no separate splits" in capsys.readouterr().err
    trained_on = str(roots["kinetics"]) if name == "folders" else root
    argv = ["--quiet", "train", "--model", "c3d_tiny", "--data", trained_on, "--out", str(run),
            "--epochs", "1", "--frames", "16", "--batch-size", "4", "--workers", "0"]  # fmt: skip
    assert main(argv) == 0, name
    config = json.loads((run / "config.json").read_text())
    assert config["val_split"] == ("test" if name in ("diving48", "ucf101", "hmdb51") else "val")
    summary = capsys.readouterr().out
    assert ("best epoch chosen on test" in summary) == (config["val_split"] == "test")
    bad = pd.read_csv(run / "bad_items.csv")
    if name in ("ssv2", "hmdb51", "mmaction", "rawframes", "diving48"):
        assert len(bad) and not bad["used"].any()  # listed with reasons, never substituted
    split = "test" if name in ("diving48", "ucf101", "hmdb51") else "val"
    argv = ["--quiet", "probe", "--checkpoint", str(run / "checkpoints" / "best.pt"), "--data",
            root, "--split", split, "--out", str(tmp_path / "probe"), "--interventions",
            "freeze,reverse"]  # fmt: skip
    assert main(argv) == 0, name
    pred = pd.read_parquet(tmp_path / "probe" / "predictions.parquet")
    clean = pred[pred["intervention"] == "clean"]
    assert len(clean) == len(load_index(root, split).records)
    if name == "ssv2":  # the report lists the reverse pairs and their partner rates
        assert main(["--quiet", "report", str(tmp_path / "probe")]) == 0
        text = (tmp_path / "probe" / "report.md").read_text()
        assert "## Reverse pairs" in text and "the shipped SSv2 list" in text
        rates = pd.read_csv(tmp_path / "probe" / "pairs.csv")
        assert len(rates) == 4 and set(rates["class"]) == set(SSV2_CLASSES)
        rev = pred[pred["intervention"] == "reverse"]
        mine = rev[rev["label"] == "Opening something"]
        row = rates.set_index("class").loc["Opening something"]
        assert row["reverse_to_partner"] == (mine["pred"] == "Closing something").mean()
    if name == "ucf101":  # a study reads the same data, its fold chosen in the spec
        out = tmp_path / "study"
        argv = ["--quiet", "study", "temporal_taxonomy", "--data", f"ucf101@2:{root}",
                "--checkpoint", f"c3d={run / 'checkpoints' / 'best.pt'}", "--split", "test",
                "--out", str(out)]  # fmt: skip
        assert main(argv) == 0
        probed = pd.read_parquet(out / "c3d" / "predictions.parquet")["video_id"]
        fold2 = {r.video_id for r in load_index(f"ucf101@2:{root}", "test").records}
        assert set(probed) == fold2 != {r.video_id for r in load_index(root, "test").records}


def test_a_flow_model_trains_on_the_flow_frames_of_frame_folders(roots, tmp_path, monkeypatch):
    """denseflow's frames are the flow: nothing is computed (the estimator would raise)."""
    from motionprobe import flow

    def no_flow(*args, **kwargs):
        raise AssertionError("flow was computed, not read from the folders")

    monkeypatch.setattr(flow, "compute_flow", no_flow)
    argv = ["--quiet", "train", "--model", "i3d_flow_tiny", "--data", str(roots["rawframes"]),
            "--out", str(tmp_path / "run"), "--epochs", "1", "--frames", "8", "--batch-size",
            "4", "--workers", "0", "--flow-bound", "20"]  # fmt: skip
    assert main(argv) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["flow_bound"] == 20 and config["model"] == "i3d_flow_tiny"


def test_partner_rates_count_reversed_clips_predicted_as_the_partner():
    from motionprobe.pairs import reverse_partner_rates

    rows = []
    for k in range(10):  # 'open' reversed goes to 'close' 7 times in 10; 'close' never moves
        rows.append((f"o{k}", 0, "open", "clean", "open", True))
        rows.append((f"o{k}", 0, "open", "reverse", "close" if k < 7 else "open", k >= 7))
        rows.append((f"c{k}", 0, "close", "clean", "close", True))
        rows.append((f"c{k}", 0, "close", "reverse", "close", True))
    preds = pd.DataFrame(rows, columns=["video_id", "clip_index", "label", "intervention",
                                        "pred", "correct"])  # fmt: skip
    table = reverse_partner_rates(preds, [("open", "close")]).set_index("class")
    assert table.at["open", "reverse_to_partner"] == pytest.approx(0.7)
    assert table.at["open", "clean_to_partner"] == 0 and table.at["open", "reverse_acc"] == 0.3
    assert table.at["open", "ci_low"] < 0.7 < table.at["open", "ci_high"]
    assert table.at["close", "reverse_to_partner"] == 0 and table.at["close", "n"] == 10


def test_a_mistyped_layout_is_one_clear_error(roots, capsys, tmp_path):
    code = main(["probe", "--checkpoint", "x.pt", "--data", str(roots["ssv2"]), "--out",
                 str(tmp_path / "p"), "--fold", "2"])  # fmt: skip
    assert code == EXIT_ERROR  # a fold for a layout that has none, before any work
    assert "layout ssv2 takes folds none, not 2" in capsys.readouterr().err


def test_mmaction_lists_are_preferred_and_picked_by_kind_and_split(tmp_path):
    """An MMAction2 copy of UCF101: split files beside video and rawframe lists, test lists
    named val, three official splits."""
    root = tmp_path / "ucf"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "trainlist01.txt").write_text("Archery/v_a.avi 1\n")
    (root / "annotations" / "classInd.txt").write_text("1 Archery\n2 Basketball\n")
    for fold in (1, 2):
        for split in ("train", "val"):
            rel = f"{split}{fold}.mp4"
            _video(root / "videos" / rel, seed=fold)
            for kind in ("videos", "rawframes"):
                name = f"ucf101_{split}_split_{fold}_{kind}.txt"
                (root / "annotations" / name).write_text(f"{rel} {fold - 1}\n")
    index = load_index(root, "train")
    assert index.layout == "mmaction" and [r.video_id for r in index.records] == ["train1"]
    assert [r.video_id for r in load_index(f"mmaction@2:{root}", "test").records] == ["val2"]
    assert index.classes == ["Archery", "Basketball"]  # classInd.txt beside the lists


def test_frame_folders_are_read_at_their_own_rate(roots):
    """A model trained at 25 fps asks for clips at 25 fps: a folder has no rate, so its frames
    are taken as they are (no resampling of an assumed rate)."""
    index = load_index(roots["rawframes"], "train")
    record = index.records[0]
    clip = VideoDataset([record], index.classes, frames=8, fps=25.0, sampling="uniform")
    grey = clip[0]["video"].numpy()[:, 0, 0, 0].astype(int)
    start = (FRAMES - 8) // 2
    assert np.abs(grey - np.arange(start, start + 8) * 8).max() <= 2
    only_flow = record.path.parent / "only_flow"
    only_flow.mkdir()
    for f in record.path.glob("flow_*"):
        (only_flow / f.name).write_bytes(f.read_bytes())
    info = rawframes.probe_frames(only_flow)
    assert info.num_frames == FRAMES and info.codec == rawframes.CODEC
