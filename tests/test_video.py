"""Tests for motionprobe.video: exact frame counts, exact decoding, seeking, resampling, bad input.

Most known answers use lossless videos of seeded random frames, so every frame is distinct and a
decoded frame equals its source exactly; ``IMAGES[i]`` is frame ``i``.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from motionprobe import video
from motionprobe.types import VideoError
from motionprobe.video import probe, read_clip, read_frames, write_video

FPS = 30
IMAGES = np.random.default_rng(0).integers(0, 256, (300, 24, 32, 3), dtype=np.uint8)


def full_decode(path: Path, keep: set[int] = frozenset()) -> tuple[int, dict[int, np.ndarray]]:
    """Frame count of a plain PyAV decode of the first video stream, and the frames in ``keep``."""
    kept = {}
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for count, frame in enumerate(container.decode(stream), start=1):
            if count - 1 in keep:
                kept[count - 1] = frame.to_ndarray(format="rgb24")
    return count, kept


def write_with_audio(path: Path, frames: np.ndarray, gop: int) -> Path:
    """Lossy h264 (B-frames) plus an AAC track, interleaved as a camera file would be."""
    with av.open(str(path), "w") as container:
        vstream = container.add_stream("libx264", rate=FPS)
        vstream.width, vstream.height, vstream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        vstream.codec_context.gop_size = gop
        vstream.options = {"keyint_min": str(gop), "sc_threshold": "0", "bf": "2"}
        astream = container.add_stream("aac", rate=44100)
        astream.layout = "mono"
        samples_per_frame = 44100 // FPS
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(vstream.encode(frame))
            tone = np.sin(np.arange(samples_per_frame) / 10, dtype=np.float32)[None]
            audio = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            audio.sample_rate, audio.pts = 44100, index * samples_per_frame
            container.mux(astream.encode(audio))
        container.mux(vstream.encode())
        container.mux(astream.encode())
    return path


@pytest.fixture(scope="module", params=[".mp4", ".mkv", ".avi"])
def lossless(request, tmp_path_factory) -> Path:
    """10 s of IMAGES at 30 fps, keyframe every 30 frames; MP4, MKV (ms clock), AVI (no pts)."""
    path = tmp_path_factory.mktemp("lossless") / f"frames{request.param}"
    return write_video(path, IMAGES, FPS, lossless=True, gop=30)


# --- real files ------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_files_count_and_decode_exactly(real_videos):
    """probe counts what a full decode yields; at a constant rate, time i / fps is frame i."""
    assert real_videos, "no files in ../shared/data/real"
    for path in real_videos:
        info = probe(path)
        n = info.num_frames
        starts = [0, n // 2, n - 8]
        picks = [n - 1, 0, n // 2 + 3, n - 1]
        count, kept = full_decode(path, {i for s in starts for i in range(s, s + 8)})
        assert n == count, path.name
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert info.fps == pytest.approx(float(stream.average_rate)), path.name
            assert (info.width, info.height) == (stream.width, stream.height), path.name
        for first in starts:
            clip = read_clip(path, 8, start=first / info.fps, info=info)
            assert clip.shape == (8, info.height, info.width, 3) and clip.dtype == np.uint8
            expected = np.stack([kept[i] for i in range(first, first + 8)])
            assert np.array_equal(clip, expected), f"{path.name} at frame {first}"
        assert np.array_equal(read_frames(path, picks), np.stack([kept[i] for i in picks]))


def test_real_ntsc_rate(shared_dir):
    path = shared_dir / "data" / "real" / "ntsc_29.97fps_426x240.mp4"
    if not path.exists():
        pytest.skip(f"{path} absent")
    assert probe(path).fps == pytest.approx(30000 / 1001)


# --- known answers on lossless videos -------------------------------------------------------


def test_lossless_round_trip_is_exact(lossless):
    info = probe(lossless)
    assert (info.num_frames, info.fps, info.width, info.height) == (300, FPS, 32, 24)
    assert info.duration == pytest.approx(10.0, abs=1e-3)
    assert np.array_equal(read_clip(lossless, 300, info=info), IMAGES)


@pytest.mark.parametrize(
    ("start", "first"),
    [(0.0, 0), (1.0, 30), (2.0 + 0.4 / FPS, 60), (2.0 + 0.6 / FPS, 61), (9.5, 285), (9.0, 270)],
)
def test_start_time_selects_frames(lossless, start, first):
    assert np.array_equal(read_clip(lossless, 8, start=start), IMAGES[first : first + 8])


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (15, [30, 32, 34, 36, 38, 40]),  # every other frame
        (10, [30, 33, 36, 39, 42, 45]),
        (20, [30, 31, 33, 34, 36, 37]),  # latest frame at or before 1 + k / 20
        (60, [30, 30, 31, 31, 32, 32]),  # each frame held twice
        (30, [30, 31, 32, 33, 34, 35]),
    ],
)
def test_resampling_is_sample_and_hold(lossless, fps, expected):
    assert np.array_equal(read_clip(lossless, 6, start=1.0, fps=fps), IMAGES[expected])


def test_short_clip_policies(lossless):
    start = 294 / FPS  # 6 frames left
    with pytest.raises(VideoError) as error:
        read_clip(lossless, 10, start=start)
    assert str(lossless) in str(error.value)
    assert "shorter than the requested clip: 6 frames available from t=9.80s, 10 requested" in (
        str(error.value)
    )
    looped = [294, 295, 296, 297, 298, 299, 294, 295, 296, 297]
    assert np.array_equal(read_clip(lossless, 10, start=start, short="loop"), IMAGES[looped])
    padded = [294, 295, 296, 297, 298, 299, 299, 299, 299, 299]
    assert np.array_equal(read_clip(lossless, 10, start=start, short="pad"), IMAGES[padded])
    # At 15 fps the samples are 9.8, 9.87, 9.93, 10.0 s; the video ends at 10.0 s.
    assert np.array_equal(
        read_clip(lossless, 5, start=start, fps=15, short="pad"), IMAGES[[294, 296, 298, 298, 298]]
    )
    with pytest.raises(VideoError, match="0 frames available"):
        read_clip(lossless, 4, start=12.0, short="loop")


def test_read_frames_any_order_with_repeats(lossless):
    indices = [299, 0, 150, 150, 31, 29, 30, 275]
    assert np.array_equal(read_frames(lossless, indices), IMAGES[indices])
    with pytest.raises(VideoError, match="frame index 300 out of range: the video has 300 frames"):
        read_frames(lossless, [3, 300])
    with pytest.raises(VideoError, match="out of range"):
        read_frames(lossless, [-1])


def test_late_clip_seeks_instead_of_decoding_from_start(lossless, monkeypatch):
    decoded = []
    original = video._Video._decode

    def counting(self):
        for item in original(self):
            decoded.append(item[0])
            yield item

    monkeypatch.setattr(video._Video, "_decode", counting)
    assert np.array_equal(read_clip(lossless, 8, start=9.5), IMAGES[285:293])
    # From the keyframe at 270 to 292; decoding from the start would take 293 frames.
    assert len(decoded) == 23
    decoded.clear()
    assert np.array_equal(read_clip(lossless, 8, start=9.0), IMAGES[270:278])
    assert len(decoded) == 8  # a clip starting on a keyframe decodes no earlier GOP
    decoded.clear()
    assert np.array_equal(read_frames(lossless, [5, 280]), IMAGES[[5, 280]])
    assert len(decoded) == 6 + 11


def test_seek_landing_late_falls_back_to_earlier_seek(tmp_path, monkeypatch):
    path = write_video(tmp_path / "a.mp4", IMAGES[:150], FPS, lossless=True, gop=30)
    original = video._Video._seek
    seeks = []

    def late_first_seek(self, key):  # as if the index had pointed one keyframe too far
        seeks.append(key)
        return original(self, key + (round(1 / self.time_base) if len(seeks) == 1 else 0))

    monkeypatch.setattr(video._Video, "_seek", late_first_seek)
    assert np.array_equal(read_clip(path, 8, start=2.5), IMAGES[75:83])
    assert len(seeks) == 2


def test_bframes_and_audio_decode_like_a_full_decode(tmp_path):
    path = write_with_audio(tmp_path / "av.mp4", IMAGES[:120], gop=30)
    info = probe(path)
    count, kept = full_decode(path, set(range(120)))
    assert info.num_frames == count == 120
    for first in (0, 29, 30, 31, 100):
        expected = np.stack([kept[i] for i in range(first, first + 8)])
        assert np.array_equal(read_clip(path, 8, start=first / FPS, info=info), expected)
    assert np.array_equal(read_frames(path, [119, 45, 0]), np.stack([kept[119], kept[45], kept[0]]))


def test_ntsc_rate_round_trip(tmp_path):
    path = write_video(tmp_path / "ntsc.mkv", IMAGES[:120], 29.97, lossless=True, gop=30)
    info = probe(path)
    assert info.fps == pytest.approx(30000 / 1001) and info.num_frames == 120
    assert np.array_equal(read_clip(path, 8, start=100 / info.fps), IMAGES[100:108])


@pytest.mark.parametrize(
    ("name", "codec", "options"),
    [
        ("mpeg4.avi", "mpeg4", {"bf": "2"}),  # counted by decoding; AVI flags P-frames as key
        ("mpeg4.mp4", "mpeg4", {"bf": "2"}),
        ("vp8.webm", "libvpx", {}),
        ("vp9.webm", "libvpx-vp9", {"deadline": "realtime", "cpu-used": "8"}),
        ("ffv1.mkv", "ffv1", {}),
        ("h264.mkv", "libx264", {}),
        ("raw.h264", "libx264", {}),  # no timestamps, cannot seek
    ],
)
def test_probe_count_matches_full_decode_per_codec(tmp_path, name, codec, options):
    path = tmp_path / name
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        stream.options = options
        stream.codec_context.gop_size = 10
        for index, image in enumerate(IMAGES[:40]):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    count, kept = full_decode(path, set(range(40)))
    info = probe(path)
    assert info.num_frames == count == 40
    first = round(1.0 * info.fps)  # raw h264 has no rate: FFmpeg assumes 25 fps
    clip = read_clip(path, 8, start=first / info.fps)
    assert np.array_equal(clip, np.stack([kept[i] for i in range(first, first + 8)]))
    assert np.array_equal(read_frames(path, [39, 2]), np.stack([kept[39], kept[2]]))


# --- writing -------------------------------------------------------------------------------


def test_write_video_accepts_tensors_odd_sizes_and_is_atomic(tmp_path):
    odd = IMAGES[:10, :23, :31]
    exact = write_video(tmp_path / "odd.mp4", torch.from_numpy(odd), 10, lossless=True)
    assert np.array_equal(read_clip(exact, 10), odd)
    lossy = write_video(tmp_path / "sub" / "odd_lossy.mp4", odd, 10)
    assert read_clip(lossy, 10).shape == odd.shape
    assert probe(lossy).codec == "h264"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "odd.mp4",
        "odd_lossy.mp4",
    ]
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "bad.mp4", odd.astype(np.float32), 10)
    assert not (tmp_path / "bad.mp4").exists()


# --- bad input -----------------------------------------------------------------------------


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, list[str]]]:
    """Name -> (file, words its error must contain)."""
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    audio = tmp_path / "audio_only.mp4"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        stream.layout = "mono"
        for index in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    whole = write_video(tmp_path / "whole.mp4", IMAGES[:60], FPS)
    truncated = tmp_path / "truncated.mp4"
    data = whole.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.4)])
    return {
        "missing": (tmp_path / "missing.mp4", ["not found"]),
        "empty": (empty, ["empty", "0 bytes"]),
        "text": (text, ["not a video"]),
        "audio only": (audio, ["no video stream", "audio"]),
        "truncated": (truncated, ["truncated"]),
    }


def test_bad_input_raises_video_error_naming_file_and_reason(tmp_path):
    for name, (path, words) in _bad_files(tmp_path).items():
        for read in (probe, lambda p: read_clip(p, 4)):
            with pytest.raises(VideoError) as error:
                read(path)
            message = str(error.value)
            assert str(path) in message and error.value.path == str(path), name
            assert all(word in message for word in words), f"{name}: {message}"


def test_truncated_data_mid_file_raises(tmp_path):
    """Header intact (moov first), data cut: no garbage frames, a clear error instead."""
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for index, image in enumerate(IMAGES[:60]):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    with pytest.raises(VideoError, match="truncated") as error:
        probe(cut)
    assert str(cut) in str(error.value)
    with pytest.raises(VideoError, match="truncated or corrupt"):
        read_clip(cut, 60)
    assert read_clip(cut, 4).shape == (4, 24, 32, 3)  # the intact start still reads


@pytest.mark.parametrize("name", ["h264_1080p_avi.avi", "mpeg4_mp3_320x240.avi"])
def test_a_truncated_avi_is_refused_or_used_up_to_its_damage_by_policy(shared_dir, tmp_path, name):
    """A download cut short: ``skip`` refuses it; ``use`` counts and reads exactly the frames
    before the damaged last packet, which are the complete file's first frames."""
    source = shared_dir / "data" / "real" / name
    whole = probe(source)
    counts = [0]
    for share in (0.5, 0.9):
        cut = tmp_path / f"{share}_{name}"
        cut.write_bytes(source.read_bytes()[: int(source.stat().st_size * share)])
        with pytest.raises(VideoError, match="truncated"):
            probe(cut)
        info = probe(cut, truncated="use")
        n = info.num_frames
        assert info.truncated and info.declared_frames == whole.num_frames
        assert counts[-1] < n < whole.num_frames  # more data, more frames
        counts.append(n)
        assert not probe(source, truncated="use").truncated  # a complete file is not
        frames = read_frames(cut, range(n), truncated="use")
        assert np.array_equal(frames, read_frames(source, range(n)))
        last = read_clip(cut, 4, start=(n - 4) / info.fps, info=info)
        assert np.array_equal(last, frames[-4:])
        with pytest.raises(VideoError, match=f"the video has {n} frames"):
            read_frames(cut, [n], truncated="use")
        with pytest.raises(VideoError, match="truncated"):  # the policy is the caller's choice
            read_frames(cut, [n - 1])


def test_a_cut_mp4_with_its_index_first_is_used_up_to_its_last_stored_frame(tmp_path):
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for index, image in enumerate(IMAGES[:60]):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    info = probe(cut, truncated="use")
    assert info.truncated and info.declared_frames == 60 and 0 < info.num_frames < 60
    n = info.num_frames
    frames = read_clip(cut, n, info=info)
    assert np.array_equal(frames, read_clip(whole, n))
    with pytest.raises(VideoError, match="shorter than the requested clip"):
        read_clip(cut, n + 1, info=info)
    with pytest.raises(ValueError, match="truncated must be one of"):
        probe(cut, truncated="yes")


def test_invalid_arguments():
    with pytest.raises(ValueError, match="short"):
        read_clip("x.mp4", 4, short="wrap")
    with pytest.raises(ValueError, match="num_frames"):
        read_clip("x.mp4", 0)


def test_decoder_threads_leave_real_frames_identical(real_videos):
    """Any decoder thread count (the loaders give workers a share of the cores) decodes the
    real files' clips bit-identically to FFmpeg's default threading."""
    assert video.set_decoder_threads(0) == 0
    try:
        for path in real_videos:
            info = probe(path)
            start = (info.num_frames // 2) / info.fps
            reference = read_clip(path, 12, start=start, info=info)
            for threads in (1, 2, 5):
                assert video.set_decoder_threads(threads) in (0, 1, 2)
                clip = read_clip(path, 12, start=start, info=info)
                assert np.array_equal(clip, reference), f"{path.name}, {threads} threads"
                with video._Video(path) as opened:
                    assert opened.stream.codec_context.thread_count == threads
            video.set_decoder_threads(0)
    finally:
        video.set_decoder_threads(0)
    with pytest.raises(ValueError):
        video.set_decoder_threads(-1)
