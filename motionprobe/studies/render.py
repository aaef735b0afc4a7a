"""Re-render any results folder's figures and ``report.md`` from its tables, by the study that
wrote it (``config.json``'s ``study``)."""

from __future__ import annotations

from pathlib import Path

from motionprobe.report import probe_report
from motionprobe.runs import read_run
from motionprobe.studies.base import STUDIES


def make_report(
    run_dir: str | Path, data: str | Path | None = None, title: str | None = None
) -> Path:
    """Re-render a results folder's figures and ``report.md`` from its tables, without models.

    The folder's ``config.json`` names the study that wrote it; its registered report renders
    the folder. A plain probe run (:func:`motionprobe.probes.run_probe`) gets
    :func:`~motionprobe.report.probe_report`.

    Args:
        run_dir: A study's or a probe run's results folder.
        data: Dataset root, for the ground-truth cues (default: the one recorded in the folder).
        title: Report title (default: the study's own).

    Returns:
        The path of ``report.md``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such results folder")
    config_path = run_dir / "config.json"
    study = read_run(run_dir).config.get("study")
    reports = {name: s.report for name, s in STUDIES.items() if s.report is not None}
    if study is not None and study not in reports:
        raise ValueError(
            f"{config_path}: written by study {study!r}, which has no report; "
            f"known: {sorted(reports)}"
        )
    render = reports.get(study, probe_report)
    kwargs = {"title": title} if title else {}
    return render(run_dir, data=data, **kwargs)
