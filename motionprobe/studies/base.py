"""What a study is: one module with its options, its run and its report, behind a registry.

A study module builds a :class:`Study` and passes it to :func:`register_study`; the package
imports every module in this folder, so a new study is one new file (and its test). The
scripts in ``studies/`` and ``motionprobe study NAME`` both run a study through
:func:`run_study`, which parses the options every study shares (``--out``, ``--smoke``,
``--device``, and ``--data``/``--truncated``/``--workers`` where a study takes them),
resolves them once into a :class:`~motionprobe.studies.context.StudyContext`, runs the study and
prints a one-line summary with the path it wrote.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from motionprobe.device import reuse_freed_memory
from motionprobe.io import run_lock
from motionprobe.studies.context import StudyContext
from motionprobe.video import TRUNCATED_POLICIES


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A study without options of its own."""


@dataclass(frozen=True)
class Study:
    """One question, answered end to end.

    Attributes:
        name: Registry key; also the default output folder ``outputs/{name}``.
        description: One line: the question the study answers.
        run: ``run(ctx, args) -> path`` does the work and returns what it wrote (its report).
        report: ``report(run_dir, data=None, title=...) -> report.md`` re-renders the figures
            and report from the saved tables (``motionprobe report DIR``); ``None`` when the
            study writes no ``config.json`` naming it.
        add_arguments: Adds the study's own options to its parser.
        shared: Which optional shared options it takes: ``data`` (a dataset root, default:
            the synthetic controls beside ``--out``, made on first use) and ``workers``
            (DataLoader workers). ``--out``, ``--smoke`` and ``--device`` every study takes.
    """

    name: str
    description: str
    run: Callable[[StudyContext, argparse.Namespace], Path]
    report: Callable[..., Path] | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    shared: tuple[str, ...] = ("data", "workers")


#: Every registered study by name (:func:`register_study` adds one).
STUDIES: dict[str, Study] = {}


def register_study(study: Study) -> Study:
    """Add a study to :data:`STUDIES` (a name may be registered once)."""
    if study.name in STUDIES:
        raise ValueError(f"study {study.name!r} is already registered")
    STUDIES[study.name] = study
    return study


def get_study(name: str) -> Study:
    """The registered study of a name."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; choose from {sorted(STUDIES)}")
    return STUDIES[name]


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default after its help text, unless the default is None
    (an option whose default is worked out at run time says so in its own words)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, DefaultsHelpFormatter):
    """A study's ``--help``: its description and epilog as written, each option's default."""


def study_parser(
    study: Study, prog: str | None = None, epilog: str | None = None
) -> argparse.ArgumentParser:
    """The study's command line: the shared options, then its own."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=study.description,
        epilog=epilog,
        formatter_class=_HelpFormatter,
    )
    if "data" in study.shared:
        parser.add_argument(
            "--data",
            default=None,
            help="dataset root, or LAYOUT[@FOLD]:PATH (default: synthetic controls)",
        )
        parser.add_argument(
            "--truncated",
            choices=TRUNCATED_POLICIES,
            default="skip",
            help="a truncated video: skip it as a bad item, or use the frames before its damage",
        )
    parser.add_argument("--out", default=f"outputs/{study.name}", help="results folder")
    parser.add_argument("--smoke", action="store_true", help="tiny data and models (seconds)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace results in --out made with other settings")  # fmt: skip
    if "workers" in study.shared:
        parser.add_argument("--workers", type=int, default=0, help="data loader processes")
    study.add_arguments(parser)
    return parser


def run_study(
    name: str,
    argv: Sequence[str] | None = None,
    prog: str | None = None,
    epilog: str | None = None,
) -> Path:
    """Parse a study's options, run it and print where its results are.

    Args:
        name: A key of :data:`STUDIES`.
        argv: Command-line arguments (default: ``sys.argv[1:]``).
        prog: Program name in the usage line.
        epilog: Text after the options in ``--help`` (e.g. the script's usage examples).

    Returns:
        The path the study returned (its report, or its summary table).
    """
    study = get_study(name)
    parser = study_parser(study, prog, epilog)
    args = parser.parse_args(argv)
    reuse_freed_memory()
    start = time.time()
    with run_lock(args.out, f"study {name}"):
        path = _run(study, args)
    minutes = round((time.time() - start) / 60, 2)
    print(f"{name}: done in {minutes} min -> {Path(path).resolve()}")
    return Path(path)


def _run(study: Study, args: argparse.Namespace) -> Path:
    ctx = StudyContext.create(
        args.out,
        data=getattr(args, "data", None),
        smoke=args.smoke,
        device=args.device,
        workers=getattr(args, "workers", 0),
        progress=not getattr(args, "no_progress", False),
        make_data="data" in study.shared,
        overwrite=args.overwrite,
        truncated=getattr(args, "truncated", "skip"),
    )
    return study.run(ctx, args)
