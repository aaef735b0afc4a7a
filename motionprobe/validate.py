"""How far can the verdicts be trusted for an architecture? Ask control families that know.

:func:`validate` trains the architecture on each synthetic control family (tiny settings, several
seeds), runs the default probe suite on each test split, and compares the verdict and its axes
with the families' ground truth. The families were designed independently of each other and of
the rule, so the agreement is measured on data the rule was not tuned to. Everything resumes:
datasets, trainings and probe runs that finished are reused, unfinished ones continue.

Layout of ``out``::

    data/{family}_{size}px/            the controls (shared by every architecture)
    {model}/{family}/seed{s}/train/     the training run
    {model}/{family}/seed{s}/probe/     the probe run (taxonomy.csv with bootstrap stability)
    {model}/taxonomy.csv                every family and seed, with seed agreement and `stable`
    {model}/agreement.csv               family x seed x axis: agreeing classes and share
    {model}/misses.csv                  every disagreeing class and axis, with the rule's reason
    {model}/figures/agreement.{png,svg} family x axis agreement
    {model}/report.md
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from motionprobe import verdict
from motionprobe.data.families import FAMILIES, get_family
from motionprobe.data.synthetic import load_truth, synthesize
from motionprobe.io import record_study, write_csv
from motionprobe.probes.engine import run_probe
from motionprobe.recipes import synthetic_config
from motionprobe.report import validity_report
from motionprobe.train import TrainConfig, train

#: The controls each family is synthesised with: short clips, and enough test clips per class
#: for a drop's CI to tell 0 from ``min_drop`` (at 24, a class that loses 2 of its clips has a
#: CI reaching past 0.2 and stays undetermined; probing is a small share of the time).
DATA = dict(train_per_class=32, val_per_class=8, test_per_class=48, frames=16)
#: The same for ``smoke`` runs, which only exercise the code.
SMOKE_DATA = dict(train_per_class=4, val_per_class=2, test_per_class=6, frames=8)

#: Frame side per model family: Inception models need more pixels than their five stride-2
#: stages would leave at 32 px.
SIZES = {"i3d": 64, "two_stream": 64}


#: Epochs where the model's CPU recipe stops short on the harder families: C3D's recipe is tuned
#: to the 13-class default and leaves the spin and swarm controls underfitted at 30.
EPOCHS = {"c3d_tiny": 40}


def default_size(model: str) -> int:
    """Frame side used to validate ``model`` (see :data:`SIZES`; 32 px otherwise)."""
    return next((s for prefix, s in SIZES.items() if model.startswith(prefix)), 32)


def family_data(root: Path, family: str, size: int, smoke: bool, progress: bool) -> Path:
    """The controls of ``family`` at ``size`` px under ``root``, synthesised if missing."""
    tag = "_smoke" if smoke else ""
    data = root / f"{family}_{size}px{tag}"
    if not (data / "classes.json").is_file():
        extra = dict(SMOKE_DATA, classes=get_family(family).smoke) if smoke else DATA
        synthesize(data, size=size, family=family, progress=progress, **extra)
    return data


def train_probe(
    model: str,
    data: Path,
    run: Path,
    seed: int,
    epochs: int | None = None,
    size: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``model`` on ``data`` with ``seed`` into ``run/train``, probe into ``run/probe``.

    Returns:
        The taxonomy of the run's predictions (with bootstrap stability).
    """
    probe = run / "probe"
    if not (probe / "predictions.parquet").is_file():
        best = run / "train" / "checkpoints" / "best.pt"
        if not ((run / "train" / "result.json").is_file() and best.is_file()):
            fields = synthetic_config(model)
            fields.update(data=str(data), out=str(run / "train"), seed=seed, device=device)
            fields.update(resume=True, workers=0)
            if epochs:
                fields["epochs"] = epochs
            if size:
                fields.update(size=size, resize=size)
            train(TrainConfig(**fields), progress=progress)
        # Farneback for the conflict partners' motion: the global conflict needs only each
        # step's dominant displacement, which it gets right at a fraction of TV-L1's cost.
        run_probe(best, data, probe, device=device, flow_method="farneback", progress=progress)
    # Judged afresh from the predictions, so a finished run is always read by today's rule.
    preds = pd.read_parquet(probe / "predictions.parquet")
    tax = verdict.judge(preds)
    return verdict.mark_stable(tax, verdict.stability(preds))


def validate(
    model: str,
    out: str | Path,
    families: Sequence[str] = FAMILIES,
    seeds: Sequence[int] = (0, 1),
    epochs: int | None = None,
    size: int | None = None,
    smoke: bool = False,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Train and probe ``model`` on every family and seed; compare the verdicts with the truth.

    Args:
        model: Any registered model (``motionprobe models``).
        out: Output folder (see the module docstring); the data folder is shared by models.
        families: Control families (:data:`~motionprobe.data.families.FAMILIES`).
        seeds: Training seeds; a verdict that differs between seeds is marked unstable.
        epochs: Override the model's synthetic recipe.
        size: Frame side (default :func:`default_size`).
        smoke: Tiny data and one epoch: exercises the code, measures nothing.
        device: Torch device.
        progress: Show progress bars.

    Returns:
        Summary: the model, agreement per family (pooled over seeds and axes), seconds, paths.
    """
    for family in families:  # refuse an unknown family before any training
        get_family(family)
    out = Path(out)
    size = size or default_size(model)
    epochs = 1 if smoke else epochs or EPOCHS.get(model)
    folder = out / model
    start = time.time()
    taxes, agree, misses = [], [], []
    for family in families:
        data = family_data(out / "data", family, size, smoke, progress)
        truth = load_truth(data)
        runs = {
            s: train_probe(
                model, data, folder / family / f"seed{s}", s, epochs, size, device, progress
            )
            for s in seeds
        }
        for s, tax in runs.items():
            others = [t for k, t in runs.items() if k != s]
            tax = verdict.mark_stable(tax, tax[["class", "stability"]], others)
            taxes.append(tax.assign(family=family, seed=s))
            clean = float((tax["acc_clean"] * tax["n"]).sum() / max(tax["n"].sum(), 1))
            a = verdict.agreement(tax, truth).assign(family=family, seed=s, clean_acc=clean)
            agree.append(a)
            reasons = tax.set_index("class")["reason"]
            bad = a[~a["agrees"]]
            misses.append(bad.assign(reason=bad["class"].map(reasons)))
    tax_all = pd.concat(taxes, ignore_index=True)
    long = pd.concat(agree, ignore_index=True)
    long["agrees_recognised"] = long["agrees"] & long["recognised"]
    long["wrong"] = long["committed"] & ~long["agrees"]
    long["committed_stable"] = long["committed"] & long["stable"]
    long["wrong_stable"] = long["wrong"] & long["stable"]
    table = (
        long.groupby(["family", "seed", "axis"], sort=False)
        .agg(
            agree=("agrees", "sum"),
            classes=("agrees", "size"),
            agree_recognised=("agrees_recognised", "sum"),
            recognised=("recognised", "sum"),
            committed=("committed", "sum"),
            wrong=("wrong", "sum"),
            committed_stable=("committed_stable", "sum"),
            wrong_stable=("wrong_stable", "sum"),
            clean_acc=("clean_acc", "first"),
        )
        .reset_index()
    )
    table["share"] = table["agree"] / table["classes"]
    table["share_recognised"] = table["agree_recognised"] / table["recognised"]
    write_csv(folder / "taxonomy.csv", tax_all)
    write_csv(folder / "agreement.csv", table)
    write_csv(folder / "misses.csv", pd.concat(misses, ignore_index=True))
    seconds = time.time() - start
    record_study(
        folder,
        "probe_validity",
        dict(
            model=model,
            families=list(families),
            seeds=list(seeds),
            epochs=epochs,
            size=size,
            smoke=smoke,
        ),
        rule=verdict.Rule().to_dict(),
        seconds=seconds,
    )
    report = validity_report(folder)
    pooled = long[long["axis"] == "verdict"].groupby("family", sort=False)["agrees"].mean()
    return {
        "model": model,
        "verdict_agreement": {k: float(v) for k, v in pooled.items()},
        "seconds": seconds,
        "out": str(folder),
        "report": str(report),
    }
