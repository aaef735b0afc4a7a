"""Temporal interventions and the engine that evaluates a model under them."""

from motionprobe.probes.engine import run_probe
from motionprobe.probes.interventions import INTERVENTIONS, freeze, parse, reverse, shuffle

__all__ = ["INTERVENTIONS", "freeze", "parse", "reverse", "run_probe", "shuffle"]
