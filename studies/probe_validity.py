"""How far can the verdicts be trusted? Each architecture against control families that know.

Trains every architecture on each synthetic control family (three, designed independently of
each other and of the verdict rule), probes it with the default suite, and compares the verdict
and its axes (one frame suffices, order matters, cue preference) with the ground truth, across
two training seeds and a bootstrap over clips. Read this before the Kinetics results of an
architecture: it says how often its verdicts are right where the answer is known.

    python studies/probe_validity.py                          # c3d_tiny and i3d_rgb_tiny
    python studies/probe_validity.py --models convnet_lstm_tiny --seeds 0
    python studies/probe_validity.py --smoke                  # seconds, for tests
    motionprobe report outputs/probe_validity/c3d_tiny        # re-render from the saved tables
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from motionprobe.data.families import FAMILIES
from motionprobe.io import write_csv
from motionprobe.plots import agreement_heatmap, save_figure
from motionprobe.validate import validate

DEFAULT_MODELS = ("c3d_tiny", "i3d_rgb_tiny")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="registered models")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--seeds", default="0,1", help="training seeds")
    parser.add_argument("--out", default="outputs/probe_validity")
    parser.add_argument("--smoke", action="store_true", help="tiny data, one epoch (seconds)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    start = time.time()
    out = Path(args.out)
    rows = []
    for model in filter(None, args.models.split(",")):
        result = validate(
            model,
            out,
            families=[f for f in args.families.split(",") if f],
            seeds=[int(s) for s in args.seeds.split(",") if s],
            smoke=args.smoke,
            device=args.device,
        )
        table = pd.read_csv(Path(result["out"]) / "agreement.csv")
        pooled = table.groupby(["family", "axis"], sort=False)[["agree", "classes"]].sum()
        for (family, axis), r in pooled.iterrows():
            rows.append((model, family, axis, int(r["agree"]), int(r["classes"])))
    summary = pd.DataFrame(rows, columns=["model", "family", "axis", "agree", "classes"])
    summary["share"] = summary["agree"] / summary["classes"]
    path = write_csv(out / "summary.csv", summary)
    rows = summary.assign(family=summary["model"] + " / " + summary["family"])
    save_figure(agreement_heatmap(rows, "Verdicts against the ground truth"), out / "summary")
    verdicts = summary[summary["axis"] == "verdict"]
    text = ", ".join(
        f"{r.model}/{r.family} {100 * r.share:.0f} %" for r in verdicts.itertuples(index=False)
    )
    minutes = round((time.time() - start) / 60, 1)
    print(f"probe_validity: verdicts right on {text} in {minutes} min -> {path.resolve()}")
    return path


if __name__ == "__main__":
    main()
