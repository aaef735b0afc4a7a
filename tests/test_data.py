"""Tests of motionprobe.data: layouts, label maps, samplers, the Dataset and collate, the scan."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import torch

from motionprobe import flow
from motionprobe.cli import main
from motionprobe.data import (
    DatasetIndex,
    VideoDataset,
    check_dataset,
    collate,
    folder_index,
    hmdb51_index,
    kinetics_index,
    load_index,
    load_label_map,
    random_clip_start,
    ucf101_index,
    uniform_clip_starts,
)
from motionprobe.data import check as check_module
from motionprobe.data.synthetic import synthesize
from motionprobe.types import BadItem, RunError, VideoRecord
from motionprobe.video import write_video

FPS = 10
SIZE = 32
CLASSES = ["walk", "run", "jump"]

# words each bad-input kind's reason must contain (any one of them)
WORDS = {
    "missing": ("missing file",),
    "zero": ("zero", "empty", "0 bytes"),
    "trunc": ("truncat", "incomplete", "cut"),
    "text": ("not a video", "invalid data", "cannot open", "not a media"),
    "audio": ("no video stream",),
    "short": ("shorter than the requested clip",),
    "unknown": ("unknown class",),
}


def _has_words(reason: str, kind: str) -> bool:
    return any(w in reason.lower() for w in WORDS[kind])


def ramp(num_frames: int, size: int = SIZE) -> np.ndarray:
    """Grey frames whose value encodes the frame index: frame t is 10 * t + 5."""
    values = (np.arange(num_frames) * 10 + 5).astype(np.uint8)
    return np.broadcast_to(values[:, None, None, None], (num_frames, size, size, 3)).copy()


def frame_index(clip) -> list[int]:
    """Recover the source frame indices of a decoded ramp clip."""
    clip = np.asarray(clip)
    return [int(round((float(f.mean()) - 5) / 10)) for f in clip]


def touch(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_audio_only(path: Path) -> Path:
    """An .mp4 holding one AAC audio stream and no video stream."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = 8000
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def kinetics_csv(path: Path, rows: list[tuple], extra: bool = True) -> Path:
    cols = ["label", "youtube_id", "time_start", "time_end", "split"]
    df = pd.DataFrame(rows, columns=cols)
    if extra:
        df["is_cc"] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------------------------
# a tiny Kinetics-layout dataset holding every kind of bad input (written once per module)


@pytest.fixture(scope="module")
def bad_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kin")
    split = root / "train"
    good = {"good1": ("walk", 20), "good2": ("run", 20), "good3": ("jump", 18)}
    rows = []
    for yid, (label, n) in good.items():
        write_video(split / label / f"{yid}_000000_000002.mp4", ramp(n), FPS, lossless=True)
        rows.append((label, yid, 0, 2, "train"))
    # the same clip downloaded as .mkv (another container)
    write_video(split / "run" / "mkvclip_000003_000005.mkv", ramp(20), FPS, lossless=True)
    rows.append(("run", "mkvclip", 3, 5, "train"))
    # bad inputs, all in an existing class
    jump = split / "jump"
    touch(jump / "zero_000000_000002.mp4")
    full = write_video(jump / "tmp_full.mp4", ramp(20, 64), FPS)
    data = full.read_bytes()
    full.unlink()
    touch(jump / "trunc_000000_000002.mp4", data[: int(len(data) * 0.4)])
    touch(jump / "text_000000_000002.mp4", b"this is not a video, just some text\n" * 20)
    write_audio_only(jump / "audio_000000_000002.mp4")
    write_video(jump / "short_000000_000002.mp4", ramp(10), FPS, lossless=True)
    for yid in ("zero", "trunc", "text", "audio", "short", "missing"):
        rows.append(("jump", yid, 0, 2, "train"))
    # an unknown class whose file exists, and a row of another split (ignored)
    write_video(split / "fly" / "flyer_000000_000002.mp4", ramp(20), FPS, lossless=True)
    rows.append(("fly", "flyer", 0, 2, "train"))
    rows.append(("walk", "valonly", 0, 2, "val"))
    kinetics_csv(root / "train.csv", rows)
    return root


BAD_IDS = {
    "zero_000000_000002": "zero",
    "trunc_000000_000002": "trunc",
    "text_000000_000002": "text",
    "audio_000000_000002": "audio",
}
GOOD_IDS = {
    "good1_000000_000002",
    "good2_000000_000002",
    "good3_000000_000002",
    "mkvclip_000003_000005",
}


# --------------------------------------------------------------------------------------------
# samplers


def test_random_clip_start_bounds_and_determinism():
    for available, clip in [(100, 16), (17, 16), (16, 16), (5, 16), (0, 1)]:
        rng = np.random.default_rng(0)
        starts = [random_clip_start(available, clip, rng) for _ in range(3000)]
        high = max(available - clip, 0)
        assert min(starts) >= 0 and max(starts) <= high
        if high > 0:
            assert set(starts) == set(range(high + 1))  # every start reachable
    a = [random_clip_start(100, 16, np.random.default_rng(7)) for _ in range(3)]
    b = [random_clip_start(100, 16, np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(7)
    assert len({random_clip_start(100, 16, rng) for _ in range(20)}) > 1
    with pytest.raises(ValueError):
        random_clip_start(10, 0, np.random.default_rng(0))


def test_uniform_clip_starts_even_and_centre():
    assert uniform_clip_starts(100, 16, 1) == [42]  # centre clip: 42..57 around 50
    assert uniform_clip_starts(16, 16, 1) == [0]
    assert uniform_clip_starts(5, 16, 3) == [0, 0, 0]
    starts = uniform_clip_starts(100, 16, 5)
    assert starts[0] == 0 and starts[-1] == 100 - 16  # windows cover the video
    gaps = np.diff(starts)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced
    assert uniform_clip_starts(100, 10, 10) == list(range(0, 91, 10))
    assert uniform_clip_starts(100, 16, 5) == uniform_clip_starts(100, 16, 5)
    with pytest.raises(ValueError):
        uniform_clip_starts(100, 16, 0)


# --------------------------------------------------------------------------------------------
# label maps


def test_load_label_map_formats(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("abseiling\n\n  air drumming \nanswering questions\n")
    assert load_label_map(plain) == ["abseiling", "air drumming", "answering questions"]
    indexed = tmp_path / "classInd.txt"
    indexed.write_text("2 ApplyLipstick\r\n1 ApplyEyeMakeup\r\n3 Archery\r\n")
    assert load_label_map(indexed) == ["ApplyEyeMakeup", "ApplyLipstick", "Archery"]
    js = tmp_path / "classes.json"
    js.write_text(json.dumps(["b", "a"]))
    assert load_label_map(js) == ["b", "a"]
    dup = tmp_path / "dup.txt"
    dup.write_text("a\nb\na\n")
    with pytest.raises(ValueError, match="more than once"):
        load_label_map(dup)
    with pytest.raises(FileNotFoundError):
        load_label_map(tmp_path / "nope.txt")


# --------------------------------------------------------------------------------------------
# layouts (index only: placeholder files, nothing decoded)


def test_kinetics_index_extensions_extra_columns_and_bad_rows(tmp_path):
    root = tmp_path
    touch(root / "val" / "air drumming" / "aaa_000001_000011.mkv")
    touch(root / "val" / "abseiling" / "bbb_000000_000010.webm")
    touch(root / "val" / "abseiling" / "ccc_000120_000130.mp4")
    touch(root / "val" / "abseiling" / "ccc_000120_000130.avi")  # .mp4 preferred
    touch(root / "val" / "abseiling" / "notes.txt")
    rows = [
        ("air drumming", "aaa", 1, 11, "val"),
        ("abseiling", "bbb", 0, 10, "val"),
        ("abseiling", "ccc", 120, 130, "val"),
        ("abseiling", "ddd", 5, 15, "val"),  # missing
        ("abseiling", "eee", 5, 15, "train"),  # other split: ignored
    ]
    kinetics_csv(root / "val.csv", rows)
    index = kinetics_index(root, "val")
    assert isinstance(index, DatasetIndex)
    assert index.classes == ["abseiling", "air drumming"]  # sorted without a label map
    ids = {r.video_id: r for r in index.records}
    assert set(ids) == {"aaa_000001_000011", "bbb_000000_000010", "ccc_000120_000130"}
    assert ids["aaa_000001_000011"].path.suffix == ".mkv"
    assert ids["bbb_000000_000010"].path.suffix == ".webm"
    assert ids["ccc_000120_000130"].path.suffix == ".mp4"
    assert all(r.split == "val" for r in index.records)
    assert ids["aaa_000001_000011"].label == "air drumming"
    assert [b.video_id for b in index.bad] == ["ddd_000005_000015"]
    reason = index.bad[0].reason
    assert "missing file" in reason and "ddd_000005_000015.*" in reason and "abseiling" in reason

    # unknown class with a label map; load_index auto-detects the CSV
    index = load_index(root, "val", label_map=["abseiling"])
    assert index.classes == ["abseiling"]
    unknown = [b for b in index.bad if "unknown class" in b.reason]
    assert [b.video_id for b in unknown] == ["aaa_000001_000011"]
    assert "'air drumming'" in unknown[0].reason and "label map" in unknown[0].reason


def test_kinetics_index_malformed_csv(tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_text("label,youtube_id,split\nx,abc,train\n")
    with pytest.raises(ValueError) as err:
        kinetics_index(tmp_path, "train")
    assert "train.csv" in str(err.value)
    assert "time_start" in str(err.value) and "time_end" in str(err.value)


def test_kinetics_label_map_order(tmp_path, shared_dir):
    label_file = shared_dir / "data" / "labels" / "kinetics400.txt"
    names = load_label_map(label_file)
    assert len(names) == 400 and names[0] == "abseiling"
    # two classes whose sorted order differs from nothing else: check the map's indices are kept
    picked = [names[10], names[3]]
    for i, label in enumerate(picked):
        touch(tmp_path / "train" / label / f"v{i}_000000_000010.mp4")
    kinetics_csv(
        tmp_path / "train.csv", [(lab, f"v{i}", 0, 10, "train") for i, lab in enumerate(picked)]
    )
    index = kinetics_index(tmp_path, "train", label_map=label_file)
    assert index.classes == names
    assert not index.bad
    ds = VideoDataset(index.records, index.classes, frames=4)
    assert [ds.class_to_idx[r.label] for r in index.records] == [10, 3]


def test_folder_index(tmp_path):
    for split in ("train", None):
        base = tmp_path / split if split else tmp_path / "flat"
        touch(base / "b_class" / "x1.mp4")
        touch(base / "b_class" / "x2.MKV")
        touch(base / "a_class" / "y1.avi")
        touch(base / "a_class" / "readme.txt")
        (base / "empty_class").mkdir()
        index = folder_index(tmp_path if split else tmp_path / "flat", split)
        assert index.classes == ["a_class", "b_class", "empty_class"]
        assert sorted(r.video_id for r in index.records) == ["x1", "x2", "y1"]
        assert {r.video_id: r.label for r in index.records}["y1"] == "a_class"
        assert not index.bad
    index = folder_index(tmp_path, "train", label_map=["b_class"])
    assert [r.video_id for r in index.records] == ["x1", "x2"]
    assert [b.video_id for b in index.bad] == ["y1"]
    assert "unknown class 'a_class'" in index.bad[0].reason
    # no CSV: load_index falls back to folders
    assert load_index(tmp_path, "train").classes == ["a_class", "b_class", "empty_class"]
    with pytest.raises(FileNotFoundError, match="val"):
        folder_index(tmp_path, "val")


def test_ucf101_index(tmp_path):
    root = tmp_path / "UCF-101"
    lists = tmp_path / "ucfTrainTestlist"
    touch(root / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi")
    touch(root / "Archery" / "v_Archery_g01_c01.avi")
    touch(root / "Archery" / "v_Archery_g02_c01.avi")
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 ApplyLipstick\n3 Archery\n")
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n"
        "Archery/v_Archery_g01_c01.avi 3\n"
        "ApplyLipstick/v_ApplyLipstick_g01_c01.avi 2\n"
    )
    (lists / "testlist01.txt").write_text("Archery/v_Archery_g02_c01.avi\r\n\r\n")
    train = ucf101_index(root, lists / "trainlist01.txt")  # classInd.txt found beside it
    assert train.classes == ["ApplyEyeMakeup", "ApplyLipstick", "Archery"]
    assert [(r.video_id, r.label, r.split) for r in train.records] == [
        ("v_ApplyEyeMakeup_g08_c01", "ApplyEyeMakeup", "train"),
        ("v_Archery_g01_c01", "Archery", "train"),
    ]
    assert [b.video_id for b in train.bad] == ["v_ApplyLipstick_g01_c01"]
    assert "missing file" in train.bad[0].reason
    test = ucf101_index(root, lists / "testlist01.txt", class_ind=lists / "classInd.txt")
    assert [(r.video_id, r.label, r.split) for r in test.records] == [
        ("v_Archery_g02_c01", "Archery", "test")
    ]
    assert not test.bad


def test_hmdb51_index(tmp_path):
    root = tmp_path / "hmdb51"
    splits = tmp_path / "splits"
    touch(root / "brush_hair" / "a.avi")
    touch(root / "brush_hair" / "b.avi")
    touch(root / "brush_hair" / "c.avi")
    touch(root / "cartwheel" / "d.avi")
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (splits / "cartwheel_test_split1.txt").write_text("d.avi 1 \ngone.avi 1 \n")
    (splits / "cartwheel_test_split2.txt").write_text("d.avi 2 \n")
    train = hmdb51_index(root, splits, 1, "train")
    assert train.classes == ["brush_hair", "cartwheel"]
    assert [(r.video_id, r.label) for r in train.records] == [
        ("a", "brush_hair"),
        ("d", "cartwheel"),
    ]
    assert [b.video_id for b in train.bad] == ["gone"]
    assert "missing file" in train.bad[0].reason
    test = hmdb51_index(root, splits, 1, "test")
    assert [r.video_id for r in test.records] == ["b"]
    assert [r.video_id for r in hmdb51_index(root, splits, 2, "test").records] == ["d"]
    with pytest.raises(ValueError):
        hmdb51_index(root, splits, 1, "validation")


# --------------------------------------------------------------------------------------------
# the index over real (tiny) videos


def test_index_of_bad_root(bad_root):
    index = kinetics_index(bad_root, "train", label_map=CLASSES)
    ids = {r.video_id for r in index.records}
    assert GOOD_IDS | set(BAD_IDS) | {"short_000000_000002"} == ids  # files exist: not decoded yet
    bad = {b.video_id: b.reason for b in index.bad}
    assert set(bad) == {"missing_000000_000002", "flyer_000000_000002"}
    assert _has_words(bad["missing_000000_000002"], "missing")
    assert _has_words(bad["flyer_000000_000002"], "unknown")
    assert "valonly_000000_000002" not in ids | set(bad)


# --------------------------------------------------------------------------------------------
# Dataset and collate


def _record(root: Path, video_id: str) -> VideoRecord:
    index = kinetics_index(root, "train", label_map=CLASSES)
    return next(r for r in index.records if r.video_id == video_id)


def test_dataset_random_clip_deterministic_per_seed_epoch_index(bad_root):
    rec = _record(bad_root, "good1_000000_000002")  # 20 frames
    ds = VideoDataset([rec, rec], CLASSES, frames=4, seed=3)
    assert len(ds) == 2
    item = ds[0]
    assert item["video"].dtype == torch.uint8 and tuple(item["video"].shape) == (4, SIZE, SIZE, 3)
    assert item["label"] == 0 and item["video_id"] == "good1_000000_000002"
    assert item["clip_index"] == 0 and item["path"] == str(rec.path)
    idx = frame_index(item["video"])
    assert idx == list(range(idx[0], idx[0] + 4))  # consecutive frames of the source
    assert torch.equal(ds[0]["video"], item["video"])  # same (seed, epoch, index): same clip
    twin = VideoDataset([rec, rec], CLASSES, frames=4, seed=3)
    assert torch.equal(twin[0]["video"], item["video"])

    starts = {}
    for epoch in range(6):
        ds.set_epoch(epoch)
        starts[epoch] = frame_index(ds[0]["video"])[0]
        # the decoded clip starts where the sampler says
        rng = np.random.default_rng([3, epoch, 0])
        assert starts[epoch] == random_clip_start(20, 4, rng)
    assert len(set(starts.values())) > 1  # epochs differ
    ds.set_epoch(2)
    assert frame_index(ds[0]["video"])[0] == starts[2]  # and come back
    other_seed = VideoDataset([rec], CLASSES, frames=4, seed=4)
    other = []
    for epoch in range(6):
        other_seed.set_epoch(epoch)
        other.append(frame_index(other_seed[0]["video"])[0])
    assert other != list(starts.values())


def test_dataset_uniform_clips_and_transform(bad_root):
    rec = _record(bad_root, "good2_000000_000002")  # 20 frames, class run
    ds = VideoDataset(
        [rec], CLASSES, frames=8, sampling="uniform", num_clips=3, transform=lambda c: c[:, :4]
    )
    assert len(ds) == 3
    items = [ds[i] for i in range(3)]
    assert [it["clip_index"] for it in items] == [0, 1, 2]
    assert [frame_index(it["video"])[0] for it in items] == [0, 6, 12]
    assert isinstance(items[0]["video"], np.ndarray) and items[0]["video"].shape == (8, 4, SIZE, 3)
    assert all(it["label"] == 1 for it in items)
    centre = VideoDataset([rec], CLASSES, frames=8, sampling="uniform")
    assert frame_index(centre[0]["video"])[0] == 6
    batch = collate(items)
    assert tuple(batch["video"].shape) == (3, 8, 4, SIZE, 3)
    assert batch["clip_index"].tolist() == [0, 1, 2]


def test_dataset_resampled_fps(bad_root):
    rec = _record(bad_root, "good1_000000_000002")  # 20 frames at 10 fps = 2 s
    ds = VideoDataset([rec], CLASSES, frames=4, fps=5, sampling="uniform")
    clip = ds[0]["video"]
    assert tuple(clip.shape) == (4, SIZE, SIZE, 3)
    idx = frame_index(clip)
    assert np.diff(idx).tolist() == [2, 2, 2]  # every other source frame


def test_dataset_bad_items_are_listed_not_substituted(bad_root):
    index = kinetics_index(bad_root, "train", label_map=CLASSES)
    ds = VideoDataset(index.records, index.classes, frames=16, short="error", sampling="uniform")
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate)
    good_ids, bad = [], []
    for batch in loader:
        if batch["video"] is not None:
            assert batch["video"].shape[0] == len(batch["video_id"]) == len(batch["label"])
            assert batch["video"].shape[1:] == (16, SIZE, SIZE, 3)
        good_ids += batch["video_id"]
        bad += batch["bad"]
    assert sorted(good_ids) == sorted(GOOD_IDS)  # each good video once, nothing substituted
    assert all(isinstance(b, BadItem) for b in bad)
    reasons = {b.video_id: b.reason for b in bad}
    assert set(reasons) == set(BAD_IDS) | {"short_000000_000002"}
    for vid, kind in BAD_IDS.items():
        assert _has_words(reasons[vid], kind), (kind, reasons[vid])
    assert reasons["short_000000_000002"]  # the reader's own words under short="error"
    assert all(b.extra["label"] == 2 for b in bad)  # all in class jump

    # a single failed item: the error dict, not an exception
    zero = next(i for i, r in enumerate(index.records) if r.video_id == "zero_000000_000002")
    item = ds[zero]
    assert set(item) == {"error", "video_id", "path", "clip_index", "label"}
    assert item["path"].endswith("zero_000000_000002.mp4")
    assert collate([item])["video"] is None and len(collate([item])["bad"]) == 1

    # short videos are usable with the loop and pad policies
    short = next(r for r in index.records if r.video_id == "short_000000_000002")
    for policy in ("loop", "pad"):
        clip = VideoDataset([short], CLASSES, frames=16, short=policy)[0]["video"]
        assert tuple(clip.shape) == (16, SIZE, SIZE, 3)


def test_dataset_rejects_bad_arguments(bad_root):
    rec = _record(bad_root, "good1_000000_000002")
    with pytest.raises(ValueError):
        VideoDataset([rec], CLASSES, sampling="dense")
    with pytest.raises(ValueError):
        VideoDataset([rec], CLASSES, short="stretch")
    with pytest.raises(ValueError, match="not in classes"):
        VideoDataset([rec], ["run"])


# --------------------------------------------------------------------------------------------
# check_dataset


def test_check_dataset_reports_every_bad_kind(bad_root, tmp_path, capsys):
    out = tmp_path / "reports" / "check.csv"
    table = check_dataset(bad_root, out=out, frames=16, label_map=CLASSES, progress=False)
    assert list(table.columns) == ["path", "ok", "error", "frames", "fps", "width", "height"]
    by_name = {Path(row["path"]).name.split(".")[0]: row for row in table.to_dict("records")}
    for vid in GOOD_IDS:
        row = by_name[vid]
        assert row["ok"] and row["error"] == ""
        assert row["width"] == SIZE and row["height"] == SIZE and row["fps"] == pytest.approx(FPS)
    assert by_name["good3_000000_000002"]["frames"] == 18
    for vid, kind in BAD_IDS.items():
        assert not by_name[vid]["ok"]
        assert _has_words(by_name[vid]["error"], kind), (kind, by_name[vid]["error"])
    short = by_name["short_000000_000002"]
    assert not short["ok"] and short["frames"] == 10
    assert "shorter than the requested clip: 10 frames < 16" in short["error"]
    assert "loop" in short["error"]
    missing = by_name["missing_000000_000002"]
    assert not missing["ok"] and _has_words(missing["error"], "missing")
    flyer = by_name["flyer_000000_000002"]  # decodes fine, but its class is unknown
    assert not flyer["ok"] and _has_words(flyer["error"], "unknown")
    # the train.csv row of split val has no file either
    assert _has_words(by_name["valonly_000000_000002"]["error"], "missing")
    assert len(table) == len(GOOD_IDS) + len(BAD_IDS) + 4  # one row per video / bad row

    written = pd.read_csv(out)
    assert len(written) == len(table) and written["ok"].sum() == len(GOOD_IDS)
    assert not list(out.parent.glob(".*"))  # atomic: no temporary left behind
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith(
        f"checked {len(table)} videos (kinetics layout): {len(GOOD_IDS)} ok, 8 bad ("
    )
    assert "missing file: 2" in summary and "unknown class: 1" in summary
    assert summary.endswith(f"-> {out.resolve()}")


def test_check_dataset_without_decode_and_errors(bad_root, tmp_path):
    table = check_dataset(bad_root, out=None, frames=4, decode=False, progress=False)
    by_name = {Path(r["path"]).name.split(".")[0]: r["ok"] for r in table.to_dict("records")}
    assert not by_name["zero_000000_000002"] and not by_name["text_000000_000002"]
    assert by_name["short_000000_000002"]  # 10 frames >= 4
    assert by_name["flyer_000000_000002"]  # no label map: every class known
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_dataset(tmp_path / "nowhere", out=None)


# --------------------------------------------------------------------------------------------
# symlinked class folders, repeated CSV rows, where check.csv goes


def test_a_symlinked_class_folder_counts_for_its_class(tmp_path):
    root = synthesize(tmp_path / "data", 2, 1, 1, frames=8, size=32,
                      classes=["move_right", "still"], progress=False)  # fmt: skip
    away = tmp_path / "elsewhere" / "still"  # e.g. a class kept on another disk
    away.parent.mkdir()
    (root / "train" / "still").rename(away)
    (root / "train" / "still").symlink_to(away, target_is_directory=True)
    (away / "loop").symlink_to(root / "train", target_is_directory=True)  # a link loop ends

    index = load_index(root, "train")
    assert Counter(r.label for r in index.records) == {"move_right": 2, "still": 2}
    assert not index.bad
    flat = tmp_path / "flat"  # root/class/video.mp4, every class folder a link
    flat.mkdir()
    for name in ("move_right", "still"):
        (flat / name).symlink_to(root / "train" / name, target_is_directory=True)
    assert Counter(r.label for r in folder_index(flat).records) == {"move_right": 2, "still": 2}

    table = check_dataset(root, out=None, frames=8, progress=False)
    assert len(table) == 2 * (2 + 1 + 1) and table["ok"].all()  # the linked videos too
    videos = flow.list_videos(root)
    linked = [v for v in videos if v.parent == root / "train" / "still"]
    assert len(videos) == 8 and len(linked) == 2
    cache = tmp_path / "cache"
    done = flow.extract_flow(root, cache, method="farneback", progress=False)
    assert done["computed"] == 8 and done["bad"] == []
    entry = flow.entry_path(cache, root, linked[0])
    assert entry == cache / "train" / "still" / f"{linked[0].name}.npz"
    assert flow.check_entry(entry) is None


def test_repeated_csv_rows_are_dropped_with_one_warning_and_two_labels_refused(tmp_path):
    touch(tmp_path / "train" / "walk" / "aaa_000000_000010.mp4")
    touch(tmp_path / "train" / "run" / "bbb_000000_000010.mp4")
    rows = [
        ("walk", "aaa", 0, 10, "train"),
        ("run", "bbb", 0, 10, "train"),
        ("walk", "aaa", 0, 10, "train"),
        ("walk", " aaa ", 0, 10, "train"),  # the same row, spaced otherwise
    ]
    csv = kinetics_csv(tmp_path / "train.csv", rows)
    with pytest.warns(UserWarning) as caught:
        index = kinetics_index(tmp_path, "train")
    said = [str(w.message) for w in caught if "duplicate" in str(w.message)]
    assert said == [f"{csv}: 2 duplicate rows dropped (each repeats an earlier row)"]
    assert [r.video_id for r in index.records] == ["aaa_000000_000010", "bbb_000000_000010"]

    kinetics_csv(csv, [*rows, ("run", "aaa", 0, 10, "val")])
    clash = rf"{csv}: video aaa_000000_000010 is listed with two labels \(run, walk\)"
    with pytest.raises(RunError, match=clash):
        load_index(tmp_path, "train")
    table = check_dataset(tmp_path, out=None, decode=False, progress=False)  # a scan goes on
    error = table.set_index("path").at[str(csv), "error"]
    assert error.startswith("malformed split CSV: ") and "listed with two labels" in error


def _one_video_root(path: Path) -> Path:
    write_video(path / "walk" / "a.mp4", ramp(12), FPS, lossless=True)
    return path


def test_check_writes_into_the_dataset_by_default(tmp_path, monkeypatch, capsys):
    root = _one_video_root(tmp_path / "data")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["check", str(root), "--frames", "4", "--quiet"]) == 0
    assert pd.read_csv(root / "check.csv")["ok"].tolist() == [True]
    assert not (here / "check.csv").exists()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert (
        last == f"checked 1 videos (folders layout): 1 ok, 0 bad -> {root.resolve() / 'check.csv'}"
    )
    assert len(check_dataset(root, frames=4, progress=False)) == 1  # its own table is no split


def test_check_of_a_read_only_dataset_writes_here_and_says_so(tmp_path, monkeypatch, capsys):
    root = _one_video_root(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    root.chmod(0o555)
    try:
        if os.access(root, os.W_OK):  # a privileged user writes anywhere: make it unable to
            monkeypatch.setattr(check_module, "_writable", lambda folder: False)
        check_dataset(root, frames=4, progress=False)
    finally:
        root.chmod(0o755)
    assert (tmp_path / "check.csv").is_file() and not (root / "check.csv").exists()
    said = capsys.readouterr()
    where = tmp_path.resolve() / "check.csv"
    assert said.err.strip() == f"check: {root} is not writable; writing the table to {where}"
    assert said.out.strip().splitlines()[-1].endswith(f"-> {where}")


# --------------------------------------------------------------------------------------------
# loader speed settings


def test_training_loader_uint8_clips_workers_and_decoder_threads(tmp_path):
    """uint8 clips from 2 workers hold the float loader's values; workers share the cores."""
    from motionprobe import video
    from motionprobe.data.loaders import _DecoderThreads, decoder_threads, make_loader
    from motionprobe.transforms import preset

    rng = np.random.default_rng(0)
    rows = []
    for i, label in enumerate(["a", "b", "a"]):
        frames = rng.integers(0, 256, (12, 48, 64, 3), dtype=np.uint8)
        write_video(tmp_path / "train" / label / f"v{i}_000000_000001.mp4", frames, FPS, gop=4)
        rows.append((label, f"v{i}", 0, 1, "train"))
    kinetics_csv(tmp_path / "train.csv", rows)
    p = preset("i3d_rgb", crop=32, short_side=48)  # 64x48 frames need no resize: uint8 clips
    args = dict(frames=6, batch_size=2, train=True, seed=1)
    fast, _, _ = make_loader(tmp_path, "train", None, p, workers=2, uint8=True, **args)
    slow, _, _ = make_loader(tmp_path, "train", None, p, workers=0, **args)
    epochs = []
    for epoch in range(3):  # persistent workers follow the sampler's epoch as workers=0 does
        for loader in (fast, slow):
            loader.sampler.set_epoch(epoch)
            loader.dataset.set_epoch(epoch)  # reaches workers=0 only
        fast_batches, slow_batches = list(fast), list(slow)
        assert [len(b["label"]) for b in fast_batches] == [2, 1]
        for a, b in zip(fast_batches, slow_batches, strict=True):
            assert a["video"].dtype == torch.uint8 and b["video"].dtype == torch.float32
            assert a["video"].shape == b["video"].shape == (len(a["label"]), 3, 6, 32, 32)
            assert torch.equal(a["video"].float(), b["video"])
            assert a["video_id"] == b["video_id"]
        epochs.append(torch.cat([b["video"] for b in slow_batches]))
    assert fast._iterator is not None and fast.persistent_workers  # the same workers throughout
    assert not torch.equal(epochs[1], epochs[2])  # new random clips and crops each epoch

    cores = len(os.sched_getaffinity(0))
    assert decoder_threads(0) == 0  # the main process keeps FFmpeg's choice
    assert decoder_threads(1) == cores
    assert decoder_threads(2) == max(1, cores // 2)
    assert decoder_threads(4 * cores) == 1
    assert fast.worker_init_fn.count == decoder_threads(2) and slow.worker_init_fn is None
    assert not fast.pin_memory
    try:
        _DecoderThreads(3)(0)
        assert video._DECODER_THREADS == 3
    finally:
        video.set_decoder_threads(0)


def test_collate_promotes_mixed_uint8_and_float_clips():
    """A uint8 clip beside a resized float one: a float32 batch of the same values."""
    u8 = torch.arange(24, dtype=torch.uint8).view(3, 2, 2, 2)
    items = [
        {"video": u8, "label": 0, "video_id": "a", "clip_index": 0, "path": "a"},
        {"video": u8.float() + 0.5, "label": 1, "video_id": "b", "clip_index": 0, "path": "b"},
    ]
    batch = collate(items)
    assert batch["video"].dtype == torch.float32
    assert torch.equal(batch["video"][0], u8.float())
    assert collate(items[:1])["video"].dtype == torch.uint8


class _Interleaved(torch.utils.data.Dataset):
    """uint8 crops that are views of (T, H, W, 3) frames, as ClipTransform(uint8=True) gives."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        frames = torch.randint(0, 256, (6, 9, 10, 3), generator=g, dtype=torch.uint8)
        clip = frames[:, 1:7, 2:8].permute(3, 0, 1, 2)
        return {"video": clip, "label": i, "video_id": str(i), "clip_index": 0, "path": str(i)}


def test_collate_writes_interleaved_crops_planar_into_the_batch_in_and_out_of_workers():
    ds = _Interleaved()
    want = torch.stack([ds[i]["video"].contiguous() for i in range(4)])
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers,
                                             collate_fn=collate)  # fmt: skip
        got = torch.cat([b["video"] for b in loader])
        assert got.is_contiguous() and torch.equal(got, want)
    with pytest.raises(ValueError, match="different shapes"):
        collate([ds[0], {**ds[1], "video": ds[1]["video"][:, :5]}])


def test_cached_datasets_share_decoded_videos_until_the_file_changes(tmp_path, monkeypatch):
    """A second cached dataset over the same files decodes nothing; a rewritten file is read
    again; the shared frames cannot be written through a clip."""
    from motionprobe import video
    from motionprobe.data import kinetics

    ramp = np.arange(8, dtype=np.uint8)[:, None, None, None] * 30
    path = tmp_path / "train" / "a" / "v_000000_000001.mp4"
    write_video(path, np.broadcast_to(ramp, (8, 16, 16, 3)).copy(), FPS, lossless=True)
    rec = VideoRecord(path, "a", "v_000000_000001", "train")
    decoded = []
    real = video.read_clip
    monkeypatch.setattr(video, "read_clip", lambda *a, **k: decoded.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(kinetics, "_SHARED", kinetics._SharedFrames(10**6))

    def clip() -> torch.Tensor:
        return VideoDataset([rec], ["a"], frames=4, cache=True, seed=1)[0]["video"]

    first, second = clip(), clip()
    assert torch.equal(first, second) and len(decoded) == 1
    first[:] = 0  # a clip is a copy: the shared frames are untouched
    assert torch.equal(clip(), second) and len(decoded) == 1
    write_video(path, np.broadcast_to(255 - ramp, (8, 16, 16, 3)).copy(), FPS, lossless=True)
    os.utime(path, ns=(1, 1))  # a new modification time, as a rewrite in the same tick may not
    assert not torch.equal(clip(), second) and len(decoded) == 2
    assert kinetics._SHARED.bytes <= 10**6
