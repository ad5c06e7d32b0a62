"""Adapters to the other parts of faultbench: the one place where the pipeline calls
training, profiles, export, the board client, the supplies and the virtual lab.

Each function is small and names the part it calls, so a change of an interface touches
one function here and no stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from bench.errors import BenchError


# --- profiles (bench/profiles.py, models/profile_faults.py) -----------------------------

@dataclass(frozen=True)
class ProfileInfo:
    path: Path
    profile: Any          # the profiles part's validated object
    experiment: Mapping[str, Any]
    technology: str


def load_profile(path: Path) -> ProfileInfo:
    from bench import profiles

    prof = profiles.load_profile(path)   # ProfileError is a BenchError listing every problem
    return ProfileInfo(Path(path), prof, prof.experiment, prof.data["technology"])


def profile_of(config: Mapping[str, Any]):
    """The validated profile a run's config names."""
    return load_profile(Path(config["profile_path"])).profile


def energy_model(profile):
    """The profile's calibrated ``EnergyModel``, or ``None`` without one (models.profile_faults)."""
    from models.profile_faults import profile_energy_model

    return profile_energy_model(profile)


def energy_model_dict(model) -> dict | None:
    return None if model is None else {"E0": model.E0, "beta": model.beta, "eps_ref": model.eps_ref}


def method_options(config: Mapping[str, Any], method: str) -> dict:
    """Method hyper-parameters from the run config: lambda, and the profile's energy model
    for methods that trade energy (LaNMax's ``e0``, ``beta``, ``eps_ref``)."""
    from models.methods import option_help

    known = {name for name, _, _ in option_help(method)}
    opts: dict[str, Any] = {}
    if "lambda" in known:
        opts["lambda"] = float(config["train"]["lambda"])
    return {**opts, **profile_method_options(profile_of(config), method)}


def profile_method_options(profile, method: str) -> dict:
    """What a profile sets of a method's options (``bench run`` and ``bench train --profile``):
    the energy model's ``e0``, ``beta``, ``eps_ref`` and LaNMax's eps bound (:func:`eps_bounds`)."""
    from models.methods import option_help

    defaults = {name: default for name, default, _ in option_help(method)}
    opts: dict[str, Any] = {}
    model = energy_model(profile)
    if model is not None:
        for key, value in (("e0", model.E0), ("beta", model.beta), ("eps_ref", model.eps_ref)):
            if key in defaults:
                opts[key] = value
    if "theta_max" in defaults:
        opts.update(eps_bounds(profile, defaults))
    return opts


def eps_bounds(profile, defaults: Mapping[str, Any]) -> dict:
    """LaNMax's upper bound on log10(eps) under a profile [choice]: the least reliable
    operating point's eps (beyond it there is no point to run at, and the energy model is not
    calibrated there; rram_lowpower's fit even turns negative past eps 0.047). The start
    ``theta_init`` moves down to the bound when it lies above it."""
    eps_max = max(p.ber for p in _points(profile))
    if eps_max <= 0 or math.log10(eps_max) >= defaults["theta_max"]:
        return {}
    theta_max = math.log10(eps_max)
    return {"theta_max": theta_max, **({"theta_init": theta_max} if defaults["theta_init"] > theta_max else {})}


def _points(profile):
    from models.profile_faults import profile_operating_points

    return profile_operating_points(profile)


# --- data, training, evaluation (models/) ------------------------------------------------

def load_data(train_cfg: Mapping[str, Any], data_dir: str | None, seed: int):
    from models.data import DatasetError, load_dataset

    try:
        return load_dataset(train_cfg["dataset"], data_dir, seed=seed, limit_train=train_cfg["train_subset"])
    except DatasetError as exc:
        raise BenchError(f"--dataset {train_cfg['dataset']}: {exc}") from None


def train_model(out: Path, train_cfg: Mapping[str, Any], *, method: str, options: Mapping[str, Any],
                faults: Mapping[str, Any], seed: int, data_dir: str | None, progress=None) -> dict:
    """Train one network into run directory ``out`` (models.training); return its summary.

    An ``out`` left by an interrupted attempt is resumed from its last checkpoint."""
    from models.layers import stored_layers
    from models.run_dir import CONFIG, RunDir
    from models.training import TrainConfig, train

    cfg = TrainConfig(arch=train_cfg["arch"], dataset=train_cfg["dataset"], data_dir=data_dir,
                      width=float(train_cfg["width"]), method=method, method_options=dict(options),
                      epochs=int(train_cfg["epochs"]), batch_size=int(train_cfg["batch_size"]),
                      lr=train_cfg["lr"], faults=dict(faults), seed=int(seed),
                      limit_train=train_cfg["train_subset"])
    run = RunDir(out)
    resume = (out / CONFIG).is_file()
    done = run.status()["epochs_done"] if resume else 0
    task = progress.add_task(f"train {method}", total=cfg.epochs, completed=done) if progress else None

    def on_epoch(record):
        if progress:
            progress.update(task, advance=1, description=f"train {method} (test acc {record.get('test_acc', 0):.3f})")

    try:
        session = train(cfg, out, resume=resume, on_epoch=on_epoch)
    except ValueError as exc:
        raise BenchError(f"training {method}: {exc}") from None
    eps = session.method.eps()
    last = run.read_metrics()[-1]
    return {"method": method, "options": dict(options), "run_dir": out.name,
            "eps": dict(eps) if eps else None,
            "layers": [{"name": n, "n_params": m.n_params, "bits": m.bits} for n, m in stored_layers(session.net)],
            "final_epoch": {k: v for k, v in last.items() if not k.endswith("seconds")}}  # wall times are no result


def load_trained(run_dir: Path):
    """The trained network of a run directory (models.run_dir.load_run), in eval mode."""
    from models.run_dir import load_run

    net, _config, _extra = load_run(run_dir)
    net.eval()
    return net


def training_faults(config: Mapping[str, Any]) -> dict:
    """``TrainConfig.faults``: the profile's fault model (bench.profiles.training_faults: each
    layer's eps picks its point by ``rate_mapping="scale"``, continuous in eps for LaNMax)."""
    from bench.profiles import training_faults as faults

    return faults(config["profile_path"], chip_seed=config["seeds"]["chip"])


def weight_words(train_cfg: Mapping[str, Any], data_dir: str | None) -> int:
    """Words of weight memory the configured network needs (built untrained; shared memory
    map). Checks ``--method``, ``--dataset``, ``--arch`` and ``--width`` on the way."""
    from drivers.memory_layout import memory_map, total_words
    from models.architectures import build_model
    from models.layers import stored_layers
    from models.methods import method_spec

    try:
        method_spec(train_cfg["method"])
    except KeyError as exc:
        raise BenchError(f"--method {train_cfg['method']}: {exc.args[0]}") from None
    data = load_data({**train_cfg, "train_subset": 1}, data_dir, 0)
    try:
        net = build_model(train_cfg["arch"], data.in_shape, data.n_classes, float(train_cfg["width"]))
    except ValueError as exc:
        raise BenchError(f"--arch {train_cfg['arch']} --width {train_cfg['width']}: {exc}") from None
    return total_words(memory_map([(n, tuple(m.weight.shape), m.encoding) for n, m in stored_layers(net)]))


def choose_operating_points(profile, eps: Mapping[str, float | None]) -> dict[str, dict]:
    """Per layer: the nearest operating point at least as reliable as its eps
    (models.profile_faults.choose_operating_point); ``None`` eps -> the most reliable point."""
    from models.profile_faults import (choose_operating_point, profile_energy_kind, profile_energy_model,
                                       profile_operating_points)

    points = profile_operating_points(profile)
    model, kind = profile_energy_model(profile), profile_energy_kind(profile)
    out = {}
    for name, e in eps.items():
        c = choose_operating_point(points, points[0].ber if e is None else e, model, kind)
        p = c.point
        out[name] = {"name": p.name, "eps": p.ber, "p01": p.ber_0to1, "p10": p.ber_1to0, "voltage": p.voltage,
                     "energy_per_bit": c.energy_per_bit, "meets_target": c.meets_target}
    return out


def point_energy_per_bit(op: Mapping[str, Any], model) -> float:
    """Energy per bit at a chosen operating point [choice]: the profile's measured energy of
    that point (what the memory then spends, issue 6), else the fitted ``E(eps)`` (ALGORITHMS 3).
    The model alone cannot price a point whose measured BER is 0 (``E(0)`` is unbounded)."""
    if op.get("energy_per_bit") is not None:
        return float(op["energy_per_bit"])
    if model is None:
        raise BenchError(f"operating point {op['name']}: no energy per bit and no energy_model in the profile")
    return model.bit_energy(max(op["eps"], model.eps_ref))


def eval_faults(config: Mapping[str, Any], points: Mapping[str, Mapping] | None, over_chips: bool = True):
    """``(fault model, per-layer rates)`` for Monte-Carlo evaluation at chosen operating points:
    the profile model with ``quantize`` mapping, each layer's rate its point's eps (which maps
    back to that same point). ``over_chips``: a fresh chip seed per repetition (the
    distribution over chips, models.chip_distribution); else the run's fixed chip seed.
    ``points=None``: fault-free."""
    from models.chip_distribution import FreshChipPerDraw
    from models.profile_faults import fault_model_from_profile

    if points is None:
        return None, None
    model = fault_model_from_profile(profile_of(config), chip_seed=config["seeds"]["chip"], rate_mapping="quantize")
    return FreshChipPerDraw(model) if over_chips else model, {name: float(p["eps"]) for name, p in points.items()}


def mc_accuracy(*args, **kwargs):
    from models.evaluation import mc_accuracy as mc

    return mc(*args, **kwargs)


# --- export and reference interpreter (models/export.py, models/reference.py) ----------

def export_model(net, in_shape) -> tuple[bytes, "np.ndarray"]:
    """Blob bytes and the uint32 weight image of a trained network."""
    import numpy as np
    from models.export import ExportError, export_model as export

    try:
        exported = export(net, in_shape)
    except ExportError as exc:
        raise BenchError(f"deploy: {exc}") from None
    return exported.blob_bytes(), np.asarray(exported.image, dtype=np.uint32)


def blob_regions(blob: bytes):
    from models.blob import ModelBlob

    return ModelBlob.from_bytes(blob).regions()


def blob_steps(blob: bytes) -> list[int | None]:
    """Per blob layer (one STEP each): the index of its stored layer, or None (max-pool)."""
    from models.blob import W_NONE, ModelBlob

    out, k = [], 0
    for layer in ModelBlob.from_bytes(blob).layers:
        if layer.w_enc == W_NONE:
            out.append(None)
        else:
            out.append(k)
            k += 1
    return out


def quantize_inputs(x, blob: bytes):
    """Test inputs as the int8 codes the board takes (FORMAT.md B.5)."""
    import numpy as np
    from models.blob import ModelBlob
    from models.reference import quantize_input

    levels = ModelBlob.from_bytes(blob).input_levels
    return quantize_input(np.asarray(x, dtype=np.float32), levels).astype(np.int8)


def reference_scores(blob: bytes, words, x):
    from models.reference import scores

    return scores(blob, words, x)


# --- fault maps (drivers/faultmap.py) ------------------------------------------------------

def save_faultmap(path: Path, written, reads, bench, layer: str, volts: float, base_word: int) -> dict:
    """Record the reads of one layer's region at its voltage; returns its BER split."""
    from drivers.faultmap import FaultMap, write_faultmap

    chip = bench.label
    fmap = FaultMap.from_reads(written, reads, chip_id=chip, operating_point={"name": layer, "voltage_V": float(volts)},
                               pattern="model-weights", base_word=int(base_word))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_faultmap(path, fmap)
    return fmap.ber()


def read_faultmap(path: Path):
    from drivers.faultmap import FaultMapError, read_faultmap as read

    try:
        return read(path)
    except FaultMapError as exc:
        raise BenchError(str(exc)) from None


def energy_kind(profile) -> str:
    """``read`` or ``write``: which energy the profile's operating points trade."""
    from models.profile_faults import profile_energy_kind

    return profile_energy_kind(profile)


def most_reliable_eps(profile) -> float:
    from models.profile_faults import profile_operating_points

    return min(p.ber for p in profile_operating_points(profile))
