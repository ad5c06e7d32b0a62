"""Training from Python and from ``bench train``: options in, a finished run directory out.

:func:`train_run` takes the options of ``bench train`` (same names, same defaults, same
errors) and returns a :class:`TrainResult`; the run directory is described in
docs/RUN_DIRECTORY.md. Under a profile (``profile=``), the profile's fault model, its
energy model and LaNMax's eps bound are applied (``models.profile``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from bench.datasets import download as download_data
from bench.errors import BenchError, user_errors
from bench.tensorboard import TrainingLog
from drivers.memory_layout import memory_map, total_words
from models.architectures import ARCHITECTURES, MODES, build_model, layer_labels
from models.data import DATASETS, Dataset, DatasetError, load_dataset
from models.faults import GRADIENT_MODES
from models.layers import stored_layers
from models.method_registry import method_spec, option_help
from models.profile import Profile, ProfileError, load_profile
from models.profile.faults import fault_model_label, training_faults
from models.profile.method_options import profile_method_options
from models.profile.points import OperatingPointChoice
from models.run_dir import CONFIG, RunDir, RunDirError
from models.training import OPTIMIZERS, Session, TrainConfig, check_model_size, train

#: The choices of ``bench train``'s options (from their registries).
__all__ = ["ARCHITECTURES", "DATASETS", "GRADIENT_MODES", "MODES", "OPTIMIZERS", "TrainResult", "check_device",
           "method_help", "train_run", "weight_words"]
#: ``bench train`` options that are :class:`TrainConfig` fields as they are.
CONFIG_FIELDS = ("arch", "dataset", "data_dir", "width", "mode", "method", "gradient", "epochs", "batch_size",
                 "optimizer", "lr", "lr_decay", "lr_decay_every", "seed", "device", "limit_train", "limit_test",
                 "bet_reg", "bet_lambda", "keep_checkpoints")
#: ``bench train`` options that are method options (``--eps``, ``--lambda``, ``--bits``).
METHOD_OPTION_FIELDS = ("eps", "lambda", "bits")


@dataclass
class TrainResult:
    """A finished (or resumed and finished) training run."""

    out: Path
    config: TrainConfig
    session: Session
    resumed_at: int | None = None     # the epoch a resumed run continued from
    eps: dict[str, float] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    #: per layer, the profile operating point its eps maps to (runs under a profile)
    points: dict[str, OperatingPointChoice] | None = None
    faults_label: str | None = None   # what the fault model does with eps, in words
    plots: list[Path] = field(default_factory=list)


def check_device(device: str) -> None:
    """``cpu``, ``cuda`` or ``cuda:N``, and CUDA must be there (one :class:`BenchError` line)."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise BenchError(f"--device {device!r}: expected cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"--device {device}: CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise BenchError(f"--device {device}: only cpu and cuda are supported")


def method_help(method: str) -> list[tuple[str, Any, str]]:
    """``(option, default, meaning)`` of every hyper-parameter of ``method``."""
    with user_errors(KeyError, prefix="--method: "):
        return option_help(method)


def config_from_options(options: Mapping[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from ``bench train`` option names (``None`` = default);
    ``eps``, ``lambda``, ``bits`` and ``option`` (a mapping) become method options."""
    unknown = sorted(set(options) - set(CONFIG_FIELDS) - set(METHOD_OPTION_FIELDS) - {"option"})
    if unknown:
        raise BenchError(f"unknown training option(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(CONFIG_FIELDS + METHOD_OPTION_FIELDS + ('option',)))}")
    values = {f: options[f] for f in CONFIG_FIELDS if options.get(f) is not None}
    method_options = dict(options.get("option") or {})
    method_options.update({k: options[k] for k in METHOD_OPTION_FIELDS if options.get(k) is not None})
    return TrainConfig(**values, method_options=method_options)


def apply_profile(config: TrainConfig, profile: Profile, operating_point: str | None = None,
                  method_given: bool = True, chip_seed: int | None = None) -> TrainConfig:
    """``config`` trained under ``profile``: the profile's fault model (``training_faults``),
    its energy model and LaNMax's eps bound for methods with those options (options given
    explicitly win); ``method_given`` False takes the profile's ``experiment.method``
    (``uniform`` at a fixed operating point) and its ``lambda``."""
    with user_errors(ProfileError, prefix=f"--operating-point {operating_point!r}: "):
        point = profile.operating_point(operating_point) if operating_point is not None else None
    faults = training_faults(profile, chip_seed, operating_point)
    method = config.method if method_given else ("uniform" if point else profile.experiment.get("method", "uniform"))
    if method == "reliable":
        raise BenchError(f"--method reliable trains without faults; --profile {profile.path} needs a noise method "
                         f"(uniform, lanmax, ...)")
    if point is not None and method != "uniform":
        raise BenchError(f"--operating-point {operating_point} fixes every layer's faults, so the method's eps "
                         f"has no effect: use --method uniform (the default) or drop --operating-point")
    options = dict(config.method_options)
    if point is not None and point.ber > 0:  # uniform's rate is the point's, for the record
        options.setdefault("eps", point.ber)
    if not method_given and "lambda" in profile.experiment and method == profile.experiment.get("method"):
        options.setdefault("lambda", profile.experiment["lambda"])
    with user_errors(KeyError, prefix="--method: "):
        options = {**profile_method_options(profile, method), **options}
    return replace(config, method=method, method_options=options, faults=faults)


def load_data(config: TrainConfig) -> Dataset:
    with user_errors(DatasetError, prefix=f"--dataset {config.dataset}: "):
        return load_dataset(config.dataset, config.data_dir, seed=config.seed,
                            limit_train=config.limit_train, limit_test=config.limit_test)


def weight_words(config: TrainConfig, data: Dataset) -> int:
    """Words of weight memory the configured network needs (built untrained, shared memory
    map); checks ``--method``, ``--arch`` and ``--width`` on the way."""
    with user_errors(KeyError, prefix=f"--method {config.method}: "):
        method_spec(config.method)
    with user_errors(ValueError, prefix=f"--arch {config.arch} --width {config.width:g}: "):
        check_model_size(config, data.in_shape, data.n_classes)
        net = build_model(config.arch, data.in_shape, data.n_classes, float(config.width), config.mode)
    return total_words(memory_map([(n, tuple(m.weight.shape), m.encoding) for n, m in stored_layers(net)]))


def train_run(out: str | Path, *, resume: bool = False, profile: str | Path | Profile | None = None,
              operating_point: str | None = None, chip_seed: int | None = None, plots: bool = True,
              download: bool = False, mirror: str | None = None, checksums: Any = None,
              on_download: Callable[[str, int, int | None], None] | None = None,
              tensorboard: bool = False,
              on_start: Callable[[TrainConfig, int], None] | None = None,
              on_batch: Callable[[int, int], None] | None = None, on_epoch: Callable[[dict], None] | None = None,
              **options) -> TrainResult:
    """Train a network into run directory ``out`` (``bench train``).

    ``options``: ``bench train``'s options by name (``arch``, ``dataset``, ``width``,
    ``method``, ``eps``, ``lambda``, ``epochs``, ``seed``, ``device``, ...; ``option`` a
    mapping of other method options). ``resume`` continues the run in ``out`` from its last
    checkpoint (options are then read from its ``config.yaml``). ``profile``: train under that
    memory error profile (a path or a loaded :class:`Profile`); ``operating_point`` fixes
    every layer at one of its points. ``plots``: draw ``plots/`` when training ends.
    ``download``: fetch the data set into its ``data_dir`` first (``mirror``, ``checksums``,
    ``on_download(file, bytes_done, bytes_total)``: :func:`bench.datasets.download`).
    ``tensorboard``: also log every epoch to ``out/tensorboard`` (``bench.tensorboard``; needs
    the optional tensorboard package).
    ``on_start(config, epochs_done)`` before the first epoch; ``on_batch(done, total)`` and
    ``on_epoch(metrics record)`` as training goes.
    Bad options, a used ``out``, a missing data set: one :class:`BenchError` line.
    """
    out = Path(out)
    run = RunDir(out)
    with user_errors(RunDirError, ValueError, KeyError, FileNotFoundError):
        if resume:
            config = TrainConfig.from_dict(run.read_config())
        else:
            if (out / CONFIG).exists():
                raise BenchError(f"--out {out}: already holds a run; add --resume or choose another --out")
            config = config_from_options(options)
            if profile is not None:
                if not isinstance(profile, Profile):
                    with user_errors(ProfileError):
                        profile = load_profile(profile)
                config = apply_profile(config, profile, operating_point, options.get("method") is not None, chip_seed)
            elif operating_point is not None:
                raise BenchError("--operating-point needs --profile FILE (a point of that profile)")
            config = config.resolved()
        check_device(config.device)
        if download:
            download_data(config.dataset, config.data_dir, mirror=mirror, checksums=checksums, progress=on_download)
        data = load_data(config)
        check_model_size(config, data.in_shape, data.n_classes)  # before a run directory exists
    resumed_at = run.status()["epochs_done"] if resume else None
    log = None
    if tensorboard:
        log = TrainingLog(out, (resumed_at or 0) + 1)
    if on_start is not None:
        on_start(config, resumed_at or 0)

    def epoch_done(record: dict) -> None:
        if log is not None:
            log.epoch(record, run.layer_labels())
        if on_epoch is not None:
            on_epoch(record)

    try:
        with user_errors(RunDirError, ValueError):  # ValueError: options that don't fit the run (e.g. lanmax OLS)
            session = train(config, out, resume=resume, data=data, on_batch=on_batch, on_epoch=epoch_done)
    finally:
        if log is not None:
            log.close()
    eps = session.method.eps()
    result = TrainResult(out, config, session, resumed_at, None if eps is None else dict(eps),
                         layer_labels(session.net))
    if config.faults.get("kind") == "profile":
        result.faults_label = fault_model_label(config.faults)
    record = config.faults.get("profile") or {}
    if eps and not config.faults.get("operating_point") and record:
        if not isinstance(profile, Profile) and Path(record["path"]).is_file():
            with user_errors(ProfileError):
                profile = load_profile(record["path"])
        if isinstance(profile, Profile):
            result.points = profile.choose_per_layer(eps)
    if plots:
        result.plots = run.plot()
    return result
