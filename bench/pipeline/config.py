"""The resolved configuration of one ``bench run``: built-in defaults < the profile's
``experiment`` section < ``--quick`` (built-in quick settings < the profile's
``experiment.quick``) < command-line overrides. It is saved as ``RUN/config.yaml`` and
``RUN/seeds.json``; each stage hashes only the sections it reads (``Stage.config_keys``).

Defaults [choice] where the profile is silent (also in ``bench run --help``): digits, ``mlp``
at width 1/8 (hidden layers of 256, so the weights fit the virtual chip's 16 KiB memory
under test), LaNMax with lambda 0.5, 30 epochs, the virtual lab (realistic physics), 200 board
test inputs, each layer's energy to a 95% interval of +-5% (drivers/energy), Monte-Carlo to a
95% CI half-width of 1 point (5 to 100 repetitions).
"""

from __future__ import annotations

from typing import Any, Mapping

from bench.errors import BenchError
from bench.pipeline.hardware import hardware_spec
from models.profile import Profile

DEFAULTS: dict[str, Any] = {
    "dataset": "digits", "arch": "mlp", "width": 0.125, "method": "lanmax", "lambda": 0.5,
    "epochs": 30, "batch_size": 64, "lr": 0.01, "seed": 0, "chip_seed": 0, "hardware": "virtual",
    "uniform_eps": None,      # None: the geometric mean of LaNMax's final per-layer eps
    "test_subset": 200,       # test inputs run on the board, layer by layer
    "energy_target": 0.05,    # per-layer energy: captures until its 95% interval is +- this fraction
    "energy_window_s": None,  # first capture window (s); None: sized from the layer's duration
    "train_subset": None,     # None: the whole training set
    "ci_target": 0.01,        # Monte-Carlo: stop at this 95% CI half-width (accuracy fraction)
    "mc_min": 5, "mc_max": 100,
}

#: ``--quick``: about a minute on two CPU cores (README's first command, CI).
QUICK: dict[str, Any] = {
    "dataset": "digits", "arch": "mlp", "width": 1 / 32, "epochs": 4,
    "test_subset": 40, "ci_target": 0.03, "mc_min": 4, "mc_max": 16,
}

#: Keys of the profile's ``experiment`` section this command does not use itself.
IGNORED_EXPERIMENT_KEYS = ("operating_point",)


def derive_seeds(seed: int, chip_seed: int) -> dict[str, int]:
    """One master seed -> one seed per random consumer (saved in ``seeds.json``)."""
    return {"train": seed, "baseline_reliable": seed, "baseline_uniform": seed,
            "evaluation": seed + 1_000, "board_subset": seed + 2_000, "chip": chip_seed}


def resolve(profile: Profile, overrides: Mapping[str, Any], quick: bool) -> dict[str, Any]:
    """Merge the layers of settings (module docstring) into the run config."""
    experiment = {k: v for k, v in profile.experiment.items() if k not in IGNORED_EXPERIMENT_KEYS}
    profile_quick = experiment.pop("quick", None) or {}
    unknown = sorted((set(experiment) | set(profile_quick)) - set(DEFAULTS))
    if unknown:
        raise BenchError(f"{profile.path}: experiment: unknown key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(DEFAULTS))}")
    opts = {**DEFAULTS, **experiment}
    if quick:
        opts.update(QUICK)
        opts.update(profile_quick)
    opts.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("epochs", "test_subset", "mc_min"):
        if int(opts[key]) < 1:
            raise BenchError(f"--{key.replace('_', '-')} {opts[key]}: must be at least 1")
    if not 0 < float(opts["energy_target"]) < 1:
        raise BenchError(f"--energy-target {opts['energy_target']}: must lie in (0, 1) (a relative half-width)")
    seeds = derive_seeds(int(opts["seed"]), int(opts["chip_seed"]))
    return {
        "quick": bool(quick),
        "profile_path": str(profile.path),   # where it was read; stages hash its contents (below), not the path
        "profile": {"sha256": profile.sha256, "technology": profile.technology},
        "seeds": seeds,
        "train": {k: opts[k] for k in ("dataset", "arch", "width", "method", "lambda", "epochs",
                                        "batch_size", "lr", "uniform_eps", "train_subset")},
        "evaluation": {k: opts[k] for k in ("ci_target", "mc_min", "mc_max")},
        "hardware": hardware_spec(opts["hardware"]),
        "board": {"test_subset": int(opts["test_subset"]), "energy_target": float(opts["energy_target"]),
                  "energy_window_s": opts["energy_window_s"]},
    }
