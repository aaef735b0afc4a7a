"""Runs that cannot be mixed up: identity, overwrite, locks, resume checks, one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from motionprobe import verdict
from motionprobe.attribution import run as attribution_run
from motionprobe.attribution import run_attribution
from motionprobe.cli import EXIT_ERROR, main
from motionprobe.data.synthetic import synthesize
from motionprobe.io import run_lock, write_json
from motionprobe.models import create_model
from motionprobe.models.checkpoint import load_checkpoint, save_checkpoint
from motionprobe.probes import bias, engine, run_probe
from motionprobe.probes.bias import run_bias
from motionprobe.runs import file_digest, read_run
from motionprobe.train import TrainConfig, train
from motionprobe.types import RunError

CLASSES = ["move_right", "red_object", "still"]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Two datasets with the same classes and video ids but other videos."""
    root = tmp_path_factory.mktemp("runs")
    one = synthesize(root / "one", 2, 1, 4, classes=CLASSES, size=32, seed=0, progress=False)
    two = synthesize(root / "two", 2, 1, 4, classes=CLASSES, size=32, seed=1, progress=False)
    return Path(one), Path(two)


def _checkpoint(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    model = create_model("c3d_tiny", num_classes=len(CLASSES))
    save_checkpoint(path, model, CLASSES, {"frames": 16})
    return path


class _Killed(Exception):
    pass


def _probe_killed_after(monkeypatch, batches: int, *args, **kwargs) -> None:
    """A probe stopped after ``batches`` finished batches, as a kill would leave it."""
    written = {"n": 0}
    original = engine._write_part

    def write_then_die(*a, **k):
        original(*a, **k)
        written["n"] += 1
        if written["n"] == batches:
            raise _Killed

    monkeypatch.setattr(engine, "_write_part", write_then_die)
    with pytest.raises(_Killed):
        run_probe(*args, **kwargs)
    monkeypatch.undo()


@pytest.mark.slow
def test_a_resumed_probe_refuses_other_data_or_another_checkpoint_file(
    datasets, tmp_path, monkeypatch
):
    one, two = datasets
    ckpt = _checkpoint(tmp_path / "best.pt", seed=0)
    args = dict(interventions=["freeze", "shuffle"], batch_size=3, progress=False)
    run_probe(ckpt, one, tmp_path / "whole", **args)
    _probe_killed_after(monkeypatch, 2, ckpt, one, tmp_path / "cut", **args)

    with pytest.raises(RunError, match=r"unfinished probe run with another data, manifest"):
        run_probe(ckpt, two, tmp_path / "cut", **args)
    first = ckpt.read_bytes()
    _checkpoint(ckpt, seed=1)  # training rewrote best.pt meanwhile
    with pytest.raises(RunError, match="checkpoint_sha256"):
        run_probe(ckpt, one, tmp_path / "cut", **args)
    ckpt.write_bytes(first)
    run_probe(ckpt, one, tmp_path / "cut", **args)  # the same run: resumed
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "cut" / "predictions.parquet"),
        pd.read_parquet(tmp_path / "whole" / "predictions.parquet"),
    )


@pytest.mark.slow
def test_a_finished_probe_is_replaced_only_on_request_and_nothing_of_it_survives(
    datasets, tmp_path
):
    one, _ = datasets
    ckpt = _checkpoint(tmp_path / "m.pt", seed=0)
    out = tmp_path / "probe"
    run_probe(ckpt, one, out, batch_size=6, progress=False)
    assert (out / "taxonomy.csv").is_file() and (out / "conflict.csv").is_file()
    (out / "report.md").write_text("the first run's report")

    with pytest.raises(RunError, match="finished probe run with another .*interventions"):
        run_probe(ckpt, one, out, interventions=["shuffle"], batch_size=6, progress=False)
    assert (out / "report.md").is_file()  # a refusal removes nothing

    run_probe(ckpt, one, out, interventions=["shuffle"], batch_size=6, progress=False,
              overwrite=True)  # fmt: skip
    left = {p.name for p in out.iterdir()}
    assert not left & {"taxonomy.csv", "conflict.csv", "report.md", "figures"}
    assert read_run(out).typed().interventions == ["clean", "shuffle"]
    # The same run again is allowed, and gives the same table.
    before = pd.read_parquet(out / "predictions.parquet")
    run_probe(ckpt, one, out, interventions=["shuffle"], batch_size=6, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "predictions.parquet"), before)


@pytest.mark.slow
def test_a_live_lock_refuses_a_second_run_and_a_stale_lock_is_taken_over(datasets, tmp_path):
    one, _ = datasets
    ckpt = _checkpoint(tmp_path / "m.pt", seed=0)
    out = tmp_path / "locked"
    out.mkdir()
    other = subprocess.Popen(["sleep", "60"])
    try:
        write_json(out / ".lock", {"pid": other.pid, "host": socket.gethostname(), "what": "x"})
        with pytest.raises(RunError, match=f"pid {other.pid}.*is writing here"):
            run_probe(ckpt, one, out, interventions=["shuffle"], progress=False)
        with pytest.raises(RunError, match="is writing here"):
            train(TrainConfig(data=str(one), out=str(out), epochs=1), progress=False)
    finally:
        other.kill()
        other.wait()
    # Its process is gone: the lock is stale, the run takes it and removes it at the end.
    run_probe(ckpt, one, out, interventions=["shuffle"], progress=False)
    assert (out / "predictions.parquet").is_file() and not (out / ".lock").exists()


def test_runs_nested_in_one_process_share_the_lock(tmp_path):
    with run_lock(tmp_path / "study") as lock:
        with run_lock(tmp_path / "study"):
            assert lock.is_file()
        assert lock.is_file()  # the inner run's end leaves the outer's lock
    assert not lock.exists()


@pytest.mark.slow
def test_training_takes_path_configs_and_refuses_to_resume_with_other_settings(datasets, tmp_path):
    one, _ = datasets
    config = TrainConfig(data=one, out=tmp_path / "run", epochs=1, batch_size=4, workers=0)
    assert isinstance(config.data, str) and isinstance(config.out, str)
    result = train(config, progress=False)
    load_checkpoint(result["checkpoint"])  # weights_only=True reads it
    changed = TrainConfig(data=one, out=tmp_path / "run", epochs=2, batch_size=4, workers=0,
                          lr=1e-2)  # fmt: skip
    with pytest.raises(RunError, match="other lr; resume it with the same settings"):
        train(changed, progress=False)
    more = TrainConfig(data=one, out=tmp_path / "run", epochs=2, batch_size=4, workers=0)
    assert train(more, progress=False)["epochs"] == 2  # more epochs may be asked for


def test_empty_splits_are_refused_before_training(tmp_path):
    for split in ("train", "val", "test"):
        (tmp_path / f"{split}.csv").write_text("label,youtube_id,time_start,time_end,split\n")
    with pytest.raises(RunError, match="train split lists no videos"):
        train(TrainConfig(data=str(tmp_path), out=str(tmp_path / "run"), epochs=1))
    assert not (tmp_path / "run").exists()  # a failed start leaves nothing behind


@pytest.fixture(scope="module")
def mistakes_setup(datasets, tmp_path_factory):
    root = tmp_path_factory.mktemp("mistakes")
    one, _ = datasets
    ckpt = _checkpoint(root / "m.pt", seed=0)
    (root / "truncated.pt").write_bytes(ckpt.read_bytes()[:200])
    (root / "notes.pt").write_text("not a checkpoint")
    torch.save({"weights": torch.zeros(2)}, root / "other.pt")
    (root / "file").write_text("")
    empty = root / "empty"
    empty.mkdir()
    for split in ("train", "val", "test"):
        (empty / f"{split}.csv").write_text("label,youtube_id,time_start,time_end,split\n")
    (root / "runfolder").mkdir()
    attributed = root / "attributed"  # a finished attribution run with other settings
    write_json(attributed / "config.json", {"run": "attribution", "fingerprint": {"seed": 9}})
    (attributed / "clips.csv").write_text("video_id\n")
    (root / "out_of_layouts").mkdir()
    (root / "out_of_layouts" / "readme.txt").write_text("no videos here")
    return {"data": str(one), "ckpt": str(ckpt), "root": str(root), "empty": str(empty)}


#: One user mistake per row: the command line (``{data}``, ``{ckpt}``, ``{root}``, ``{out}``
#: filled in) and a piece of the one line it must print.
MISTAKES = [
    ("probe --checkpoint {root}/missing.pt --data {data} --out {out}", "no such checkpoint"),
    ("probe --checkpoint {root}/truncated.pt --data {data} --out {out}", "not a motionprobe"),
    ("probe --checkpoint {root}/notes.pt --data {data} --out {out}", "not a motionprobe"),
    ("probe --checkpoint {root}/other.pt --data {data} --out {out}", "no model"),
    ("probe --checkpoint {ckpt} --data {data} --out {out} --device cuda", "no CUDA device"),
    ("probe --checkpoint {ckpt} --data {data} --out {root}/file", "cannot write a run here"),
    (
        "probe --checkpoint {ckpt} --data {data} --out {out} --interventions freeze:idx=0",
        "has no parameter 'idx'",
    ),
    (
        "probe --checkpoint {ckpt} --data {data} --out {out} --interventions freeze:index=99",
        "out of range",
    ),
    ("probe --checkpoint {ckpt} --data {data} --out {out} --interventions nosuch", "nosuch"),
    (
        "probe --checkpoint {ckpt} --data {data} --out {out} --interventions freeze:select=best",
        "select must be",
    ),
    ("probe --checkpoint {ckpt} --data {data} --out {out} --batch-size 0", "batch_size"),
    ("probe --checkpoint {ckpt} --data {data} --out {out} --forward-batch 0", "forward_batch"),
    ("probe --checkpoint {ckpt} --data {data} --out {out} --num-clips 0", "num_clips"),
    ("probe --checkpoint {ckpt} --data {data} --out {out} --workers -1", "workers"),
    ("probe --checkpoint {ckpt} --data {root}/nowhere --out {out}", "nowhere"),
    ("probe --checkpoint {ckpt} --data {data} --out {out} --stream rgb", "stream"),
    (
        "probe --checkpoint {ckpt} --data {data} --out {out} --label-map {root}/nomap.txt",
        "nomap.txt",
    ),
    ("train --data {data} --out {out} --epochs 0", "epochs must be at least 1"),
    ("train --data {data} --out {out} --batch-size -1", "batch_size must be at least 1"),
    ("train --data {empty} --out {out}", "lists no videos"),
    ("train --data {data} --out {out} --model nosuch_model", "nosuch_model"),
    ("train --data {data} --out {out} --device cuda", "no CUDA device"),
    ("evaluate --checkpoint {root}/missing.pt --data {data} --out {out}", "no such checkpoint"),
    ("generator --checkpoint {ckpt} --data {data} --out {out} --ks 99", "99"),
    ("generator --checkpoint {ckpt} --data {data} --out {out} --epochs 0", "epochs"),
    (
        "attribute --checkpoint {ckpt} --data {data} --out {out} --clips-per-class 0",
        "clips_per_class",
    ),
    (
        "attribute --checkpoint {ckpt} --data {data} --out {root}/attributed",
        "holds a finished attribution run with another",
    ),
    ("report {root}/nowhere", "no such"),
    ("report {root}/runfolder", "missing"),
    ("synth {out} --classes nope", "nope"),
    ("check {root}/nowhere", "nowhere"),
    ("probe --model torchvision:resnet50 --data {data} --out {out}", "not a video classifier"),
    (
        "probe --model torchvision:r3d_18 --weights KINETICS_V9 --data {data} --out {out}",
        "no weights 'KINETICS_V9'",
    ),
    ("probe --model torchvision:s3d --frames 4 --data {data} --out {out}", "at least 14 frames"),
    ("probe --model no_such_module:build --data {data} --out {out}", "cannot import"),
    ("probe --checkpoint {ckpt} --data ucf101:{data} --out {out}", "no trainlist01.txt"),
    ("probe --checkpoint {ckpt} --data {data} --out {out} --fold 4", "takes folds none"),
    ("check {root}/out_of_layouts", "no known dataset layout"),
    ("evaluate --checkpoint {ckpt} --data {data} --out {out} --layout ssv2", "labels.json"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("line", "says"), MISTAKES, ids=[m[0][:60] for m in MISTAKES])
def test_every_mistake_gets_one_line_and_its_own_exit_status(
    mistakes_setup, tmp_path, capsys, line, says
):
    out = tmp_path / "out"
    argv = line.format(out=out, **mistakes_setup).split()
    assert main([*argv, "--quiet"] if argv[0] != "synth" else argv) == EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"motionprobe {argv[0]}: error: "), err
    assert says in err[0] and "Traceback" not in err[0]
    # Nothing half-written: no folder, or one that blocks nothing (no run, no lock).
    assert not out.exists() or not (set(os.listdir(out)) & {".lock", "parts", "config.json"})


def test_debug_shows_the_traceback(mistakes_setup, tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["probe", "--checkpoint", f"{mistakes_setup['root']}/missing.pt", "--data",
              mistakes_setup["data"], "--out", str(tmp_path / "o"), "--debug"])  # fmt: skip


def test_version_and_quiet(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("motionprobe ")
    assert main(["--quiet", "models", "--num-classes", "4"]) == 0
    assert os.environ.pop("TQDM_DISABLE") == "1"


def test_a_cue_conflict_with_too_few_pairs_is_absent_not_a_preference():
    rows = []
    for cls, pairs in (("few", 2), ("many", 8)):
        for i in range(pairs):  # every pair follows the appearance
            params = json.dumps({"partner": "x", "partner_label": "other", "moved": 0.5})
            rows.append((f"{cls}{i}", 0, cls, "conflict", params, 0, cls, True))
    cols = ["video_id", "clip_index", "label", "intervention", "params", "seed", "pred", "correct"]
    prefs = verdict.cue_preference(pd.DataFrame(rows, columns=cols)).set_index("class")
    assert prefs.at["few", "n_conflict"] == 2 and prefs.at["few", "cue_preference"] == "absent"
    assert prefs.at["many", "cue_preference"] == "appearance"


@pytest.mark.slow
def test_a_damaged_part_is_redone_not_a_dead_end(datasets, tmp_path, monkeypatch):
    one, _ = datasets
    ckpt = _checkpoint(tmp_path / "m.pt", seed=0)
    args = dict(interventions=["shuffle"], batch_size=3, progress=False)
    run_probe(ckpt, one, tmp_path / "whole", **args)
    _probe_killed_after(monkeypatch, 2, ckpt, one, tmp_path / "cut", **args)
    part = sorted((tmp_path / "cut" / "parts").glob("batch_*.parquet"))[0]
    part.write_bytes(b"PAR1 damaged")
    run_probe(ckpt, one, tmp_path / "cut", **args)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "cut" / "predictions.parquet"),
        pd.read_parquet(tmp_path / "whole" / "predictions.parquet"),
    )


def test_a_stale_lock_takes_its_dead_runs_temporary_files_with_it(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    write_json(tmp_path / ".lock", {"pid": dead.pid, "host": socket.gethostname()})
    orphan = tmp_path / "checkpoints" / ".last.ab12cd_9.pt"
    orphan.parent.mkdir()
    orphan.write_bytes(b"half")
    kept = tmp_path / ".gitignore"
    kept.write_text("*")
    with run_lock(tmp_path):
        assert not orphan.exists() and kept.exists()


#: A small attribution run: one clip per class, no animations.
ATTRIBUTE = dict(clips_per_class=1, sanity_clips=1, video_format=None, progress=False)


@pytest.mark.slow
def test_an_attribution_run_records_its_fingerprint_and_refuses_another(
    datasets, tmp_path, monkeypatch
):
    one, two = datasets
    ckpt = _checkpoint(tmp_path / "m.pt", seed=0)
    out = tmp_path / "attr"
    first = run_attribution(ckpt, one, out, method="saliency", save_maps=True, **ATTRIBUTE)
    config = read_run(out).config
    mark = config["fingerprint"]
    assert mark["checkpoint_sha256"] == file_digest(ckpt) and mark["data"] == str(one.resolve())
    assert mark["manifest_sha256"] == config["manifest_sha256"] and mark["method"] == "saliency"
    assert mark["clips_per_class"] == 1 and mark["save_maps"] is True and "device" not in mark
    assert not (out / "unfinished.json").exists()
    # The same run again: rewritten in place, as before.
    again = run_attribution(ckpt, one, out, method="saliency", save_maps=True, **ATTRIBUTE)
    assert again.clips == first.clips == 3

    with pytest.raises(RunError, match=r"finished attribution run with another method; use "
                       r"another --out, or --overwrite to discard it"):  # fmt: skip
        run_attribution(ckpt, one, out, method="integrated_gradients", save_maps=True, **ATTRIBUTE)
    with pytest.raises(RunError, match="another data, manifest_sha256;"):
        run_attribution(ckpt, two, out, method="saliency", save_maps=True, **ATTRIBUTE)
    _checkpoint(ckpt, seed=1)  # training rewrote the checkpoint meanwhile
    with pytest.raises(RunError, match="another checkpoint_sha256;"):
        run_attribution(ckpt, one, out, method="saliency", save_maps=True, **ATTRIBUTE)
    assert (out / "attributions.npz").is_file()  # a refusal removes nothing

    (out / "report.md").write_text("the first run's report")
    run_attribution(ckpt, one, out, method="saliency", overwrite=True, **ATTRIBUTE)
    left = {p.name for p in out.iterdir()}
    assert not left & {"attributions.npz", "report.md", "unfinished.json"}
    assert read_run(out).config["fingerprint"]["checkpoint_sha256"] == file_digest(ckpt)

    # Killed after its first batch: the stamp stays and names the unfinished run.
    monkeypatch.setattr(attribution_run, "_keep_maps_and_examples", _die)
    with pytest.raises(_Killed):
        run_attribution(ckpt, one, tmp_path / "cut", method="saliency", **ATTRIBUTE)
    monkeypatch.undo()
    assert json.loads((tmp_path / "cut" / "unfinished.json").read_text())["method"] == "saliency"
    with pytest.raises(RunError, match="unfinished attribution run with another clips_per_class"):
        run_attribution(ckpt, one, tmp_path / "cut", method="saliency",
                        **(ATTRIBUTE | {"clips_per_class": 2}))  # fmt: skip
    done = run_attribution(ckpt, one, tmp_path / "cut", method="saliency", **ATTRIBUTE)
    assert done.clips == 3 and not (tmp_path / "cut" / "unfinished.json").exists()


def _die(*args, **kwargs):
    raise _Killed


@pytest.mark.slow
def test_a_bias_run_records_its_fingerprint_and_refuses_another(datasets, tmp_path, monkeypatch):
    one, two = datasets
    ckpt = _checkpoint(tmp_path / "m.pt", seed=0)
    out = tmp_path / "bias"
    run_bias(ckpt, one, out, clips_per_class=2, progress=False)
    config = read_run(out).config
    mark = config["fingerprint"]
    assert mark["checkpoint_sha256"] == file_digest(ckpt) and mark["data"] == str(one.resolve())
    assert mark["manifest_sha256"] == config["manifest_sha256"] and mark["seed"] == 0
    assert mark["batch_size"] == 8 and len(mark["layers"]) == 5 and "workers" not in mark
    assert not (out / "unfinished.json").exists()
    layers = pd.read_csv(out / "layers.csv")
    run_bias(ckpt, one, out, clips_per_class=2, progress=False)  # the same run: as before
    pd.testing.assert_frame_equal(pd.read_csv(out / "layers.csv"), layers)

    with pytest.raises(RunError, match=r"finished bias run with another seed; use another "
                       r"--out, or --overwrite to discard it"):  # fmt: skip
        run_bias(ckpt, one, out, clips_per_class=2, seed=1, progress=False)
    with pytest.raises(RunError, match="another data, manifest_sha256;"):
        run_bias(ckpt, two, out, clips_per_class=2, progress=False)
    (out / "report.md").write_text("the first run's report")
    (out / "figures").mkdir()
    run_bias(ckpt, one, out, clips_per_class=2, seed=1, progress=False, overwrite=True)
    assert not {p.name for p in out.iterdir()} & {"report.md", "figures", "unfinished.json"}
    assert read_run(out).config["fingerprint"]["seed"] == 1

    monkeypatch.setattr(bias, "_features", _die)
    with pytest.raises(_Killed):
        run_bias(ckpt, one, tmp_path / "cut", clips_per_class=2, progress=False)
    monkeypatch.undo()
    _checkpoint(ckpt, seed=1)
    with pytest.raises(RunError, match="unfinished bias run with another checkpoint_sha256;"):
        run_bias(ckpt, one, tmp_path / "cut", clips_per_class=2, progress=False)
    run_bias(ckpt, one, tmp_path / "cut", clips_per_class=2, progress=False, overwrite=True)
    assert read_run(tmp_path / "cut").config["fingerprint"]["checkpoint_sha256"] == file_digest(
        ckpt
    )


def test_truncated_videos_are_skipped_or_used_up_to_their_damage_by_policy(
    shared_dir, tmp_path, capsys
):
    """A dataset holding a real AVI cut short: by default it is a bad item; with
    ``--truncated use`` its decodable frames are the video (clips sampled within them), it is
    probed, and ``bad_items.csv`` lists it as used, not skipped."""
    source = shared_dir / "data" / "real" / "mpeg4_mp3_320x240.avi"
    data = tmp_path / "data"
    for cls in CLASSES:
        (data / "test" / cls).mkdir(parents=True)
    (data / "test" / "still" / "whole.avi").write_bytes(source.read_bytes())
    cut = data / "test" / "move_right" / "cut.avi"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    ckpt = _checkpoint(tmp_path / "best.pt", seed=0)
    base = ["--quiet", "probe", "--checkpoint", str(ckpt), "--data", str(data),
            "--interventions", "freeze", "--num-clips", "3"]  # fmt: skip
    assert main([*base, "--out", str(tmp_path / "skip")]) == 0
    assert "3 clips" in capsys.readouterr().out  # the whole video only
    bad = pd.read_csv(tmp_path / "skip" / "bad_items.csv")
    assert bad["path"].tolist() == [str(cut)] and not bad["used"].any()
    assert "truncated" in bad["reason"][0]

    assert main([*base, "--out", str(tmp_path / "use"), "--truncated", "use"]) == 0
    assert ", 0 bad items" in capsys.readouterr().out
    pred = pd.read_parquet(tmp_path / "use" / "predictions.parquet")
    assert (pred.loc[pred["intervention"] == "clean", "video_id"] == "cut").sum() == 3
    bad = pd.read_csv(tmp_path / "use" / "bad_items.csv")
    assert set(bad["path"]) == {str(cut)} and bad["used"].all()
    assert "used its 76 decodable frames of the 164 its header declares" in bad["reason"][0]
    config = json.loads((tmp_path / "use" / "config.json").read_text())
    assert config["truncated"] == "use"
    for policy, ok in (("skip", False), ("use", True)):  # check says the same as the runs
        table = tmp_path / f"check_{policy}.csv"
        argv = ["--quiet", "check", str(data), "--frames", "16", "--out", str(table),
                "--truncated", policy]  # fmt: skip
        assert main(argv) == 0
        row = pd.read_csv(table, keep_default_na=False).set_index("path").loc[str(cut)]
        assert bool(row["ok"]) is ok and "truncated" in row["error"]
        assert ("76 decodable frames used" in row["error"]) is ok

    # The last of 3 evenly spaced clips ends on the last decodable frame, read exactly.
    from motionprobe.data.kinetics import VideoDataset
    from motionprobe.types import VideoRecord
    from motionprobe.video import read_frames

    records = [VideoRecord(cut, "move_right", "cut", "test")]
    for policy in ("skip", "use"):
        dataset = VideoDataset(records, CLASSES, frames=16, sampling="uniform", num_clips=3,
                               truncated=policy)  # fmt: skip
        item = dataset[2]
        if policy == "skip":
            assert "truncated" in item["error"]
            continue
        assert "76 decodable frames" in item["note"]
        assert np.array_equal(item["video"].numpy(), read_frames(source, range(60, 76)))
