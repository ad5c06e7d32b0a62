"""The resolved configuration of one ``bench run``: built-in defaults < the profile's
``experiment`` section < ``--quick`` (built-in quick settings < the profile's
``experiment.quick``) < command-line overrides. It is saved as ``RUN/config.yaml`` and
``RUN/seeds.json``; each stage hashes only the sections it reads (``Stage.config_keys``).

Defaults [choice] where the profile is silent (also in ``bench run --help``): digits, ``mlp``
at width 1/8 (hidden layers of 256, so the weights fit the virtual chip's 16 KiB memory
under test), LaNMax with lambda 1, 30 epochs, the virtual lab (realistic physics), 200 board
test inputs, each layer's energy to a 95% interval of +-5% (drivers/energy), Monte-Carlo to a
95% CI half-width of 1 point (5 to 100 repetitions). The comparison (stage ``baselines``,
``bench.front``): the main method at its lambda (or at each of ``lambdas``), reliable training
and uniform noise at ``front_points`` of the profile's faulty operating points, each trained
with ``train_seeds`` seeds (``seed``, ``seed + 1``, ...); the verdict at iso-accuracy within
``tolerance`` of reliable. ``--quick``: one seed, three points.
"""

from __future__ import annotations

from typing import Any, Mapping

from bench.errors import BenchError
from bench.pipeline.hardware import hardware_spec
from models.profile import Profile

DEFAULTS: dict[str, Any] = {
    "dataset": "digits", "arch": "mlp", "width": 0.125, "method": "lanmax", "lambda": 1.0,
    "epochs": 30, "batch_size": 64, "lr": 0.01, "seed": 0, "chip_seed": 0, "hardware": "virtual",
    "lambdas": None,          # lambdas of the main method in the comparison (None: just "lambda")
    "train_seeds": 3,         # training seeds of every network in the comparison
    "front_points": 5,        # operating points of the uniform-noise front (spread over the faulty ones)
    "tolerance": 0.005,       # iso-accuracy: within this of reliable (accuracy fraction)
    "test_subset": 200,       # test inputs run on the board, layer by layer
    "energy_target": 0.05,    # per-layer energy: captures until its 95% interval is +- this fraction
    "energy_window_s": None,  # first capture window (s); None: sized from the layer's duration
    "train_subset": None,     # None: the whole training set
    "ci_target": 0.01,        # Monte-Carlo: stop at this 95% CI half-width (accuracy fraction)
    "mc_min": 5, "mc_max": 100,
}

#: ``--quick``: about a minute on two CPU cores (README's first command, CI).
QUICK: dict[str, Any] = {
    "dataset": "digits", "arch": "mlp", "width": 1 / 32, "epochs": 4, "train_seeds": 1, "front_points": 3,
    "test_subset": 40, "ci_target": 0.03, "mc_min": 4, "mc_max": 16,
}

#: Keys of the profile's ``experiment`` section this command does not use itself.
IGNORED_EXPERIMENT_KEYS = ("operating_point",)


def derive_seeds(seed: int, chip_seed: int, train_seeds: int = 1) -> dict[str, Any]:
    """One master seed -> one seed per random consumer (saved in ``seeds.json``); ``front``:
    the training seeds of the comparison's networks (the first is the deployed network's)."""
    return {"train": seed, "front": [seed + k for k in range(train_seeds)],
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
    for key in ("epochs", "test_subset", "mc_min", "train_seeds", "front_points"):
        if int(opts[key]) < 1:
            raise BenchError(f"--{key.replace('_', '-')} {opts[key]}: must be at least 1")
    if not 0 < float(opts["energy_target"]) < 1:
        raise BenchError(f"--energy-target {opts['energy_target']}: must lie in (0, 1) (a relative half-width)")
    if not 0 <= float(opts["tolerance"]) < 1:
        raise BenchError(f"--tolerance {opts['tolerance']}: must lie in [0, 1) (an accuracy fraction)")
    main_lambda = float(opts["lambda"])  # the deployed network's, first: it is part of the comparison
    lambdas = [main_lambda] + [float(v) for v in opts["lambdas"] or [] if float(v) != main_lambda]
    seeds = derive_seeds(int(opts["seed"]), int(opts["chip_seed"]), int(opts["train_seeds"]))
    return {
        "quick": bool(quick),
        "profile_path": str(profile.path),   # where it was read; stages hash its contents (below), not the path
        "profile": {"sha256": profile.sha256, "technology": profile.technology},
        "seeds": seeds,
        "train": {k: opts[k] for k in ("dataset", "arch", "width", "method", "lambda", "epochs",
                                        "batch_size", "lr", "train_subset")},
        "front": {"lambdas": lambdas, "front_points": int(opts["front_points"])},
        "evaluation": {k: opts[k] for k in ("ci_target", "mc_min", "mc_max", "tolerance")},
        "hardware": hardware_spec(opts["hardware"]),
        "board": {"test_subset": int(opts["test_subset"]), "energy_target": float(opts["energy_target"]),
                  "energy_window_s": opts["energy_window_s"]},
    }
