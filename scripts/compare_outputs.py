"""Are two output trees the same? For checking that a refactor changed no result.

Runs the studies twice (before and after a change, same seeds) into two roots, then::

    python scripts/compare_outputs.py /tmp/before /tmp/after

Compares every file the two trees share by content, not bytes, where bytes carry things that
are not results: the root path itself (each tree names its own), wall times, timestamps and
the SVG ids matplotlib draws at random. Tables (CSV, Parquet) and checkpoints must be equal
exactly, JSON equal after dropping timing keys, PNG equal pixel for pixel, videos frame for
frame. Prints one line per difference and exits 1 if there is any.

What the change only *adds* is listed apart and is not a difference: files only in AFTER,
columns appended to a table whose own columns are unchanged, keys added to a JSON object whose
other keys are unchanged (new outputs such as a run's typed config or parsed parameters).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

# Keys whose values are clocks or the code's own version, not results: before and after a change
# are different commits by definition.
VOLATILE_KEYS = {"seconds", "wall_s", "elapsed", "elapsed_s", "time", "started", "finished"}
VOLATILE_KEYS |= {"git_commit"}
VOLATILE_KEY = re.compile(r"(^|_)(seconds|time|minutes|wall|started|finished|date|per_s)($|_)")
# Durations written into Markdown, e.g. "(3.2 s)" or "4.1 min", and the commit line.
DURATION = re.compile(r"\d+(\.\d+)?\s?(s|min|seconds|minutes)\b")
COMMIT_LINE = re.compile(r"^- \*\*Git commit:\*\*.*\n?", re.MULTILINE)
#: What AFTER adds without changing anything BEFORE had (filled by :func:`same`).
ADDED: list[str] = []
SKIP_NAMES = re.compile(r"events\.out\.tfevents|\.lock$|\.log$")


def _norm(text: str, root: Path) -> str:
    return text.replace(str(root.resolve()), "<root>").replace(str(root), "<root>")


def _scrub(obj: object, root: Path) -> object:
    if isinstance(obj, dict):
        return {
            k: _scrub(v, root)
            for k, v in obj.items()
            if k not in VOLATILE_KEYS and not VOLATILE_KEY.search(str(k))
        }
    if isinstance(obj, list):
        return [_scrub(v, root) for v in obj]
    if isinstance(obj, str):
        return _norm(obj, root)
    return obj


def _frame(path: Path, root: Path) -> pd.DataFrame:
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    for col in df.select_dtypes(include=["object", "string"]).columns:
        df[col] = df[col].map(lambda v: _norm(v, root) if isinstance(v, str) else v)
    drop = [c for c in df.columns if VOLATILE_KEY.search(str(c))]
    return df.drop(columns=drop)


def _tensors_equal(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_tensors_equal(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_tensors_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (isinstance(a, float) and np.isnan(a) and np.isnan(b))


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image  # matplotlib's own dependency

    return np.asarray(Image.open(path).convert("RGBA"))


def _video(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _svg(path: Path, root: Path) -> str:
    text = _norm(path.read_text(), root)
    text = re.sub(r"<dc:date>.*?</dc:date>", "", text)
    # matplotlib draws clip-path and glyph ids at random unless svg.hashsalt is set.
    ids = {m: f"id{i}" for i, m in enumerate(dict.fromkeys(re.findall(r'id="([^"]+)"', text)))}
    return re.sub(r"[0-9a-f]{10,}", lambda m: ids.get(m.group(0), "<hash>"), text)


def _same_table(a: Path, b: Path, root_a: Path, root_b: Path) -> str | None:
    fa, fb = _frame(a, root_a), _frame(b, root_b)
    added = list(fb.columns[len(fa.columns) :])
    if list(fb.columns[: len(fa.columns)]) == list(fa.columns) and added:
        ADDED.append(f"{b.relative_to(root_b)}: columns {added}")
        fb = fb[list(fa.columns)]
    if list(fa.columns) != list(fb.columns) or fa.shape != fb.shape:
        return f"shape/columns {fa.shape} vs {fb.shape}"
    if not fa.equals(fb):
        num = fa.select_dtypes("number")
        diff = (num - fb[num.columns]).abs().max().max() if len(num.columns) else float("nan")
        return f"values differ (max numeric |diff| {diff:.3g})"
    return None


def _without_added(a: object, b: object, where: str, added: list[str]) -> object:
    """``b`` without the keys it adds to ``a``'s objects (recursively), which go to ``added``."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return b
    added += [f"{where}{k}" for k in sorted(b.keys() - a.keys())]
    return {k: _without_added(a[k], b[k], f"{where}{k}.", added) for k in a if k in b} | {
        k: None for k in a if k not in b
    }


def _same_json(a: Path, b: Path, root_a: Path, root_b: Path) -> str | None:
    ja = _scrub(json.loads(a.read_text()), root_a)
    jb = _scrub(json.loads(b.read_text()), root_b)
    added: list[str] = []
    jb = _without_added(ja, jb, "", added)
    if added:
        ADDED.append(f"{b.relative_to(root_b)}: keys {added}")
    if ja == jb:
        return None
    changed = sorted(k for k in ja if ja.get(k) != jb.get(k)) if isinstance(ja, dict) else []
    return f"json differs {changed[:8]}" if changed else "json differs"


def same(a: Path, b: Path, root_a: Path, root_b: Path) -> str | None:
    """None when the two files hold the same result, else why they differ."""
    ext = a.suffix
    if ext in {".csv", ".parquet"}:
        return _same_table(a, b, root_a, root_b)
    if ext == ".json":
        return _same_json(a, b, root_a, root_b)
    if ext in {".md", ".txt"}:
        ta = COMMIT_LINE.sub("", DURATION.sub("<t>", _norm(a.read_text(), root_a)))
        tb = COMMIT_LINE.sub("", DURATION.sub("<t>", _norm(b.read_text(), root_b)))
        if ta == tb:
            return None
        la, lb = ta.splitlines(), tb.splitlines()
        first = next(
            (i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y),
            min(len(la), len(lb)),
        )
        return f"text differs at line {first + 1}"
    if ext == ".png":
        pa, pb = _pixels(a), _pixels(b)
        return None if pa.shape == pb.shape and np.array_equal(pa, pb) else "pixels differ"
    if ext == ".svg":
        return None if _svg(a, root_a) == _svg(b, root_b) else "svg differs"
    if ext == ".pt":
        ta = torch.load(io.BytesIO(a.read_bytes()), weights_only=True, map_location="cpu")
        tb = torch.load(io.BytesIO(b.read_bytes()), weights_only=True, map_location="cpu")
        ta, tb = _scrub(ta, root_a), _scrub(tb, root_b)
        return None if _tensors_equal(ta, tb) else "tensors differ"
    if ext in {".mp4", ".avi", ".webm", ".mkv"}:
        va, vb = _video(a), _video(b)
        return None if va.shape == vb.shape and np.array_equal(va, vb) else "frames differ"
    return None if a.read_bytes() == b.read_bytes() else "bytes differ"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--only", nargs="*", default=None, help="compare only these subfolders")
    args = parser.parse_args(argv)

    def files(root: Path) -> set[Path]:
        return {
            p.relative_to(root)
            for p in root.rglob("*")
            if p.is_file() and not SKIP_NAMES.search(p.name)
        }

    fa, fb = files(args.before), files(args.after)
    if args.only:
        fa, fb = ({p for p in f if p.parts[0] in args.only} for f in (fa, fb))
    problems = [f"only in before: {p}" for p in sorted(fa - fb)]
    ADDED.extend(f"only in after: {p}" for p in sorted(fb - fa))
    shared = sorted(fa & fb)
    for rel in shared:
        why = same(args.before / rel, args.after / rel, args.before, args.after)
        if why:
            problems.append(f"{rel}: {why}")
    for line in ADDED:
        print(f"added: {line}")
    for line in problems:
        print(line)
    print(
        f"{len(shared)} shared files compared, {len(problems)} differences, {len(ADDED)} additions"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
