"""Accuracy of a trained run under faults, from Python and from ``bench evaluate``.

:func:`evaluate_run`: fault-free accuracy, then Monte-Carlo accuracy with fresh fault draws
until the half-width of the 95% confidence interval is below ``ci`` [ALGORITHMS 5]. Rates:
the run's final per-layer eps (default), one ``eps`` on every layer, or a memory error
profile's operating points (``profile`` / ``operating_point``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from bench.errors import BenchError, user_errors
from bench.runs import training_run
from bench.training import check_device
from drivers import atomic
from models.architectures import layer_labels
from models.evaluation import MCResult, accuracy, mc_accuracy
from models.fault_registry import build_fault_model
from models.layers import stored_layers
from models.profile import ProfileError, load_profile
from models.profile.faults import ProfileFaultModel, evaluation_faults, fault_model_label
from models.run_dir import RunDirError
from models.training import TrainConfig, load_run

MIN_REPS = 10  # default min_reps


@dataclass
class EvaluationResult:
    run: Path
    config: TrainConfig
    epoch: int
    n_test: int
    clean: float                       # fault-free accuracy
    label: str                         # the faults, in words ("fault-free" without rates)
    rates: dict[str, float] | None     # per-layer rates evaluated (None: fault-free)
    result: MCResult | None            # Monte-Carlo accuracy (None: fault-free)
    labels: dict[str, str] = field(default_factory=dict)  # layer -> label for tables
    points: dict[str, str] = field(default_factory=dict)  # layer -> operating point (profile faults)
    notes: list[str] = field(default_factory=list)        # things the user should know
    target: float = 0.01
    network: str = ""                  # which network was evaluated, in words (bench.runs.Network)

    @property
    def reached(self) -> bool:
        return self.result is None or self.result.half_width < self.target

    def to_dict(self) -> dict:
        return {"run": str(self.run), "network": self.network, "epoch": self.epoch, "clean_accuracy": self.clean, "rates": self.rates,
                "faults": self.label, "operating_points": self.points or None, "target_half_width": self.target,
                **(self.result.to_dict() if self.result is not None else {})}


def evaluate_run(run: str | Path, *, network: str | None = None, eps: float | None = None, per_layer: bool = False, ci: float = 0.01,
                 min_reps: int | None = None, max_reps: int = 1000, draws_per_pass: int = 16, epoch: int | None = None,
                 seed: int = 0, device: str | None = None, profile: str | Path | None = None,
                 operating_point: str | None = None, json_out: str | Path | None = None,
                 on_progress: Callable[[MCResult], None] | None = None) -> EvaluationResult:
    """Evaluate ``run`` (``bench evaluate``): a training run, or a bench run folder's
    ``network`` (default its main network; ``bench.runs.training_run``); ``json_out`` also
    writes the result as JSON."""
    if eps is not None and not 0.0 <= eps <= 1.0:
        raise BenchError(f"--eps {eps}: a bit-error rate lies in [0, 1]")
    if eps is not None and per_layer:
        raise BenchError("--eps and --per-layer: give one")
    if ci <= 0:
        raise BenchError(f"--ci {ci}: must be > 0")
    if max_reps < 2:
        raise BenchError(f"--max-reps {max_reps}: must be >= 2")
    min_reps = min(MIN_REPS, max_reps) if min_reps is None else min_reps
    if min_reps < 2 or max_reps < min_reps:
        raise BenchError(f"--min-reps {min_reps} and --max-reps {max_reps}: need 2 <= --min-reps <= --max-reps")
    if draws_per_pass < 1:
        raise BenchError(f"--draws-per-pass {draws_per_pass}: must be >= 1")
    device = device or "cpu"
    check_device(device)
    used = training_run(run, network)
    run = used.path
    with user_errors(RunDirError, FileNotFoundError, ValueError, KeyError):
        net, config, extra = load_run(run, epoch=epoch, device=device)
    data = extra["data"]
    names = [layer["name"] for layer in extra["layers"]]
    notes: list[str] = []
    if profile is not None or operating_point is not None:
        fault_model, rates, label = _profile_faults(run, config, names, extra["eps"], eps, profile, operating_point,
                                                    notes)
    else:
        fault_model, rates, label = _run_faults(run, net, config, names, extra["eps"], eps, per_layer)
    clean = accuracy(net, data.test_x, data.test_y)
    result = None
    if rates is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
        result = mc_accuracy(net, data.test_x, data.test_y, rates, generator, fault_model, target=ci,
                             min_reps=min_reps, max_reps=max_reps, draws_per_pass=draws_per_pass,
                             on_progress=on_progress)
    out = EvaluationResult(Path(run), config, extra["epoch"], len(data.test_y), clean, label, rates, result,
                           layer_labels(net), _points(fault_model, rates), notes, ci, used.describe())
    if json_out is not None:
        atomic.write_json(json_out, out.to_dict(), indent=1)
    return out


def _run_faults(run, net, config, names, run_eps, eps, per_layer):
    """``(model, rates, label)`` with the run's own fault model (config.yaml ``faults``)."""
    model, faults = stored_layers(net)[0][1].fault_injector.model, config.faults
    if eps is not None:
        rates, text = {n: eps for n in names}, f"eps {eps:g} on every layer"
        if faults.get("kind") == "profile" and faults.get("operating_point"):
            # trained at a fixed point: eps sets each layer's BER with the profile's shape instead
            faults = {**faults, "operating_point": None, "rate_mapping": "scale"}
            model = build_fault_model(faults)
    elif run_eps:
        rates, text = run_eps, f"the run's per-layer eps ({config.method})"
    else:
        if per_layer:
            raise BenchError(f"--per-layer: run {run} (method {config.method}) has no per-layer eps; give --eps")
        return model, None, "fault-free"
    return model, rates, text if faults.get("kind", "bsc") == "bsc" else f"{text} under {fault_model_label(faults)}"


def _profile_faults(run, config, names, run_eps, eps, profile, operating_point, notes):
    """``(model, rates, label)`` under a profile; without ``profile`` the one the run was trained under."""
    record = config.faults.get("profile") if config.faults.get("kind") == "profile" else None
    if profile is None:
        if record is None:
            raise BenchError(f"--operating-point needs --profile FILE (run {run} was not trained under a profile)")
        profile = Path(record["path"])
        if not profile.is_file():
            raise BenchError(f"--operating-point: the run's profile {profile} is gone; give --profile FILE")
    if eps is not None and operating_point is not None:
        raise BenchError("--eps and --operating-point: give one (the point fixes every layer's BER)")
    with user_errors(ProfileError):
        loaded = load_profile(profile)
    chip_seed = None
    if record is not None and record["sha256"] == loaded.sha256:
        chip_seed = config.faults.get("chip_seed")  # the run's own chip
    elif record is not None:
        notes.append(f"{profile} is not the profile the run was trained under "
                     f"({record['path']}, sha256 {record['sha256'][:12]})")
    rates = {n: eps for n in names} if eps is not None else run_eps
    with user_errors(ProfileError, prefix="--operating-point: " if operating_point else ""):
        model, rates, label = evaluation_faults(loaded, names, rates, operating_point, chip_seed)
    return model, rates, f"profile {label} ({profile}, chip seed {model.chip_seed})"


def _points(model, rates) -> dict[str, str]:
    """Per layer: the profile operating point its rate reads at (empty for other fault models)."""
    if rates is None or not isinstance(model, ProfileFaultModel):
        return {}
    scaled = " (shape; rates scaled to eps)" if model.operating_point is None and model.rate_mapping == "scale" else ""
    return {n: model.point_for(r, n).name + scaled for n, r in rates.items()}
