"""Shared fixtures: the read-only data beside the checkout and small written videos."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (real videos and label maps); skips if absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not found (the read-only data beside the checkout)")
    return SHARED


@pytest.fixture(scope="session")
def real_videos(shared_dir: Path) -> list[Path]:
    """Every file in ``../shared/data/real``."""
    return sorted(p for p in (shared_dir / "data" / "real").iterdir() if p.is_file())


@pytest.fixture(scope="session")
def study_root(tmp_path_factory) -> Path:
    """One parent folder for every ``--smoke`` study, so they share the smoke dataset and
    models (``{root}/synthetic_smoke``, ``{root}/models``), as the studies do by default."""
    return tmp_path_factory.mktemp("studies")


def pytest_collection_modifyitems(config, items):
    """Skip ``gpu`` tests on machines without CUDA."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
