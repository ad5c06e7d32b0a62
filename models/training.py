"""The training loop: binary weights, faults re-sampled on every forward pass, resumable.

Per mini-batch (see ``models.methods`` for the method protocol)::

    rates = method.before_batch(method_generator)       # None: fault-free batch
    logits = net(x)   # every stored layer reads its weights through the injector at `rates`
    loss = method.loss(logits, y); loss.backward()
    method.step(net, epoch) if method.owns_step else optimizer.step()
    clip latent weights to [-1, 1]                       [ALGORITHMS 1]
    method.after_batch(loss)

Optimisers of the papers: ``sgd`` = SGD with Nesterov momentum and step decay (seed 1:
lr 0.1, x0.2 every 60 epochs), ``adam`` = Adam with exponential decay by steps (seed 2:
"decrease the learning rate every N epochs by P percent"; its N and P were unreadable,
our defaults are x0.5 every 10 epochs). Both are ``StepLR(every, factor)``.

Every random stream has its own generator seeded from the run seed
(:func:`derive_seeds`): weight init, shuffling, augmentation, faults, the method's draws and
the per-epoch evaluation. Their states go into every checkpoint, so ``resume`` continues
bit-exactly from the last completed epoch.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from models.architectures import ARCHITECTURES, MODES, build_model, layer_labels
from models.data import DATASETS, Dataset, augment, iterate_batches, load_dataset, n_batches
from models.bet import BetRegularized
from models.evaluation import accuracy, mc_accuracy
from models.fault_registry import build_fault_model
from models.faults import GRADIENT_MODES, FaultInjector
from models.layers import attach_faults, clip_latent_weights, layer_memory
from models.method_registry import build_method, method_spec, resolve_options
from models.methods import MethodContext, NoiseMethod
from drivers import stop_signals
from drivers.atomic import remove_strays
from models.run_dir import CHECKPOINTS, CONFIG, RunDir, RunDirError

OPTIMIZERS = ("adam", "sgd")
#: optimiser -> (lr, decay factor, decay every N epochs) defaults
OPTIMIZER_DEFAULTS = {"sgd": (0.1, 0.2, 60), "adam": (1e-2, 0.5, 10)}
STREAMS = ("init", "shuffle", "augment", "faults", "method", "eval")
#: Largest float32 parameter memory a run may ask for, checked before the net is built
#: [choice: 4 GiB; training needs about 4x that with gradients and Adam's two moments].
MAX_PARAM_BYTES = 4 * 2**30


@dataclass
class TrainConfig:
    """Everything a run depends on; ``resolved()`` fills the optimiser and method defaults."""

    arch: str = "mlp"
    dataset: str = "digits"
    data_dir: str | None = None
    width: float = 1.0
    mode: str = "bnn"
    method: str = "reliable"
    method_options: dict = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float | None = None
    lr_decay: float | None = None
    lr_decay_every: int | None = None
    momentum: float = 0.9
    gradient: str = "straight-through"
    faults: dict = field(default_factory=lambda: {"kind": "bsc"})
    seed: int = 0
    device: str = "cpu"
    limit_train: int | None = None
    limit_test: int | None = None
    eval_draws: int = 8  # fault draws for the per-epoch test accuracy at the method's eps
    keep_checkpoints: int | None = None  # keep only the newest N epoch checkpoints (None: all)
    bet_reg: float | None = None  # BET hinge regulariser target b (None: off) [ALGORITHMS 6; models.bet]
    bet_lambda: float = 0.01  # its weight lambda [choice: seed 2's value is unreadable]

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown config field(s) {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def resolved(self) -> "TrainConfig":
        """Validate and fill defaults; raises ``ValueError`` naming the bad field."""
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch {self.arch!r}: expected one of {', '.join(sorted(ARCHITECTURES))}")
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: expected one of {MODES}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset {self.dataset!r}: expected one of {', '.join(DATASETS)}")
        for name in ("width", "lr", "lr_decay", "momentum", "bet_reg", "bet_lambda"):
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name} {value}: must be a finite number")
        if not self.width > 0 or (self.arch == "wrn" and self.width != int(self.width)):
            raise ValueError(f"width {self.width}: must be > 0 (wrn: an integer widening factor k >= 1)")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r}: expected one of {OPTIMIZERS}")
        if self.gradient not in GRADIENT_MODES:
            raise ValueError(f"gradient {self.gradient!r}: expected one of {GRADIENT_MODES}")
        if self.keep_checkpoints is not None and self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")
        for name in ("epochs", "batch_size", "eval_draws"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if (self.bet_reg is not None and self.bet_reg < 0) or self.bet_lambda < 0:
            raise ValueError(f"bet_reg={self.bet_reg} and bet_lambda={self.bet_lambda} must be >= 0")
        if self.gradient == "aware" and method_spec(self.method).build_model is not None:
            raise ValueError(f"gradient 'aware' is defined for binary weights only, not method {self.method!r}")
        if self.bet_reg is not None and (self.mode != "bnn" or method_spec(self.method).build_model is not None):
            raise ValueError(f"--bet-reg needs binary neurons (sign activations): mode bnn and the standard "
                             f"architectures, not mode {self.mode!r} / method {self.method!r}")
        lr, decay, every = OPTIMIZER_DEFAULTS[self.optimizer]
        options = dataclasses.asdict(resolve_options(self.method, self.method_options))
        build_fault_model(self.faults)
        return dataclasses.replace(
            self, lr=self.lr if self.lr is not None else lr,
            lr_decay=self.lr_decay if self.lr_decay is not None else decay,
            lr_decay_every=self.lr_decay_every if self.lr_decay_every is not None else every,
            method_options={k.rstrip("_"): v for k, v in options.items()})


def derive_seeds(seed: int) -> dict[str, int]:
    """Independent 63-bit seeds per random stream (numpy ``SeedSequence`` spawning)."""
    states = np.random.SeedSequence(seed).generate_state(len(STREAMS), dtype=np.uint64)
    return {name: int(s >> np.uint64(1)) for name, s in zip(STREAMS, states)}


@dataclass
class Session:
    """A run's live objects (built fresh or restored from a checkpoint)."""

    config: TrainConfig
    data: Dataset
    net: nn.Module
    method: NoiseMethod
    optimizer: torch.optim.Optimizer | None
    scheduler: Any
    generators: dict[str, torch.Generator]
    injector: FaultInjector
    epoch: int = 0  # epochs completed

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "model": self.net.state_dict(),
                "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
                "method": self.method.state_dict(),
                "generators": {k: g.get_state() for k, g in self.generators.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = state["epoch"]
        self.net.load_state_dict(state["model"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        self.method.load_state_dict(state["method"])
        for k, g in self.generators.items():
            g.set_state(state["generators"][k])


def make_generators(seed: int, device: torch.device) -> dict[str, torch.Generator]:
    on_device = {"augment", "faults", "eval"}  # draws made on the tensors' device
    return {name: torch.Generator(device=device if name in on_device else "cpu").manual_seed(s)
            for name, s in derive_seeds(seed).items()}


def param_bytes(config: TrainConfig, in_shape: tuple[int, ...], n_classes: int) -> int:
    """Bytes of the net's parameters, counted on the ``meta`` device (nothing allocated).

    Methods with their own layer types (WAGE) are estimated by the standard architecture of
    the same name and width; an allocation failure while building is still caught.
    """
    with torch.device("meta"):
        net = build_model(config.arch, in_shape, n_classes, config.width, config.mode)
    return sum(p.numel() * p.element_size() for p in net.parameters())


def check_model_size(config: TrainConfig, in_shape: tuple[int, ...], n_classes: int) -> None:
    """``ValueError`` naming ``width`` when the parameters exceed :data:`MAX_PARAM_BYTES`
    (a layer too large even to describe, whose size overflows torch's storage arithmetic, too)."""
    try:
        need = param_bytes(config, in_shape, n_classes)
    except (RuntimeError, TypeError, OverflowError) as exc:  # what torch raises for sizes past int64
        if "overflow" not in str(exc).lower():
            raise
        raise ValueError(f"width {config.width:g}: {config.arch} on {config.dataset} would need more parameter "
                         f"memory than torch can even count, far above the cap of {MAX_PARAM_BYTES / 2**30:g} GiB "
                         f"(models.training.MAX_PARAM_BYTES); choose a smaller width") from None
    if need > MAX_PARAM_BYTES:
        raise ValueError(f"width {config.width:g}: {config.arch} on {config.dataset} would need "
                         f"{need / 2**30:.1f} GiB of parameters (training: about 4x), above the cap of "
                         f"{MAX_PARAM_BYTES / 2**30:g} GiB (models.training.MAX_PARAM_BYTES); choose a smaller width")


def _out_of_memory(config: TrainConfig, exc: RuntimeError) -> ValueError:
    """The one-line error for an allocation failure while building the net (torch raises
    ``RuntimeError``: ``torch.OutOfMemoryError`` on CUDA, "DefaultCPUAllocator: can't allocate
    memory" on the CPU); other ``RuntimeError``s are re-raised by the caller."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ValueError(f"width {config.width:g}: out of memory building {config.arch} on {config.device} "
                      f"({first}); choose a smaller width")


def build_session(config: TrainConfig, data: Dataset | None = None) -> Session:
    """Model, method, optimiser and generators for a resolved ``config`` (epoch 0)."""
    device = torch.device(config.device)
    data = data or load_dataset(config.dataset, config.data_dir, seed=config.seed,
                                limit_train=config.limit_train, limit_test=config.limit_test)
    gens = make_generators(config.seed, device)
    spec = method_spec(config.method)
    check_model_size(config, data.in_shape, data.n_classes)
    try:
        if spec.build_model is not None:  # methods with their own layer types (WAGE)
            net = spec.build_model(config.arch, data.in_shape, data.n_classes, config.width,
                                   resolve_options(config.method, config.method_options), gens["init"]).to(device)
        else:
            net = build_model(config.arch, data.in_shape, data.n_classes, config.width, config.mode,
                              generator=gens["init"]).to(device)
    except RuntimeError as exc:
        if "memory" not in str(exc).lower():
            raise
        raise _out_of_memory(config, exc) from None
    injector = FaultInjector(build_fault_model(config.faults), gens["faults"], gradient=config.gradient, enabled=False)
    attach_faults(net, injector)
    context = MethodContext(net, config.epochs, n_batches(len(data.train_y), config.batch_size), device)
    method = build_method(config.method, context, config.method_options)
    if config.bet_reg is not None:
        method = BetRegularized(method, net, config.bet_reg, config.bet_lambda)
    optimizer = scheduler = None
    if not method.owns_step:
        params = [p for p in net.parameters() if p.requires_grad]
        if config.optimizer == "sgd":
            optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=True)
        else:
            optimizer = torch.optim.Adam(params, lr=config.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, config.lr_decay_every, config.lr_decay)
    return Session(config, data, net, method, optimizer, scheduler, gens, injector)


def train_epoch(s: Session, on_batch: Callable[[int, int], None] | None = None) -> dict:
    """One epoch of training; returns the epoch's training metrics."""
    cfg, net, device = s.config, s.net, torch.device(s.config.device)
    net.train()
    total_loss, correct, seen = 0.0, 0, 0
    n = n_batches(len(s.data.train_y), cfg.batch_size)
    for b, (x, y) in enumerate(iterate_batches(s.data.train_x, s.data.train_y, cfg.batch_size, s.generators["shuffle"])):
        stop_signals.check()  # a stop whose exception Python dropped is raised here
        x, y = x.to(device), y.to(device)
        if s.data.augment:
            x = augment(x, s.generators["augment"])
        rates = s.method.before_batch(s.generators["method"])
        s.injector.enabled = rates is not None
        s.injector.rates = rates or {}
        logits = net(x)
        loss = s.method.loss(logits, y)
        net.zero_grad(set_to_none=True)
        loss.backward()
        if s.method.owns_step:
            s.method.step(net, s.epoch)
        else:
            s.optimizer.step()
        clip_latent_weights(net)
        value = float(loss.detach())
        s.method.after_batch(value)
        total_loss += value * len(y)
        correct += int((logits.argmax(-1) == y).sum())
        seen += len(y)
        if on_batch is not None:
            on_batch(b + 1, n)
    s.injector.enabled = False
    return {"train_loss": total_loss / seen, "train_acc": correct / seen}


def evaluate_epoch(s: Session) -> dict:
    """Fault-free test accuracy and, for methods with eps, the mean over ``eval_draws`` draws."""
    x, y = s.data.test_x, s.data.test_y
    out = {"test_acc": accuracy(s.net, x, y)}
    eps = s.method.eps()
    if eps:
        r = mc_accuracy(s.net, x, y, eps, s.generators["eval"], s.injector.model,
                        target=0.0, min_reps=max(2, s.config.eval_draws), max_reps=max(2, s.config.eval_draws),
                        draws_per_pass=max(2, s.config.eval_draws))
        out["test_acc_faulty"], out["test_acc_faulty_ci"] = r.mean, r.half_width
    return out


def train(config: TrainConfig, out: str | Path, resume: bool = False, data: Dataset | None = None,
          on_batch: Callable[[int, int], None] | None = None,
          on_epoch: Callable[[dict], None] | None = None) -> Session:
    """Train into run directory ``out`` (see docs/RUN_DIRECTORY.md); ``resume`` continues it.

    A fresh run refuses an ``out`` that already holds a run. Interrupting (Ctrl-C) leaves the
    last completed epoch's checkpoint, from which ``resume=True`` continues bit-exactly.
    """
    run = RunDir(out)
    if resume:
        config = TrainConfig.from_dict(run.read_config())
        s = build_session(config, data)
        remove_strays(run.path)
        run.complete_files(derive_seeds(config.seed), layer_memory(s.net), layer_labels(s.net))
        state = run.load_checkpoint(map_location=config.device)
        if state is not None:
            s.load_state_dict(state)
        run.truncate_metrics(s.epoch)
    else:
        config = config.resolved()
        if (run.path / CONFIG).exists():  # before building: a used directory is refused at once
            raise RunDirError(f"{run.path} already holds a run ({CONFIG}); resume it or choose another --out")
        s = build_session(config, data)
        run.create(config.to_dict(), derive_seeds(config.seed), layer_memory(s.net), layer_labels(s.net))
    while s.epoch < config.epochs:
        start = time.perf_counter()
        record = {"epoch": s.epoch + 1}
        if s.optimizer is not None:
            record["lr"] = s.optimizer.param_groups[0]["lr"]
        record.update(train_epoch(s, on_batch))
        record.update(s.method.end_epoch(s.epoch))
        record["train_seconds"] = time.perf_counter() - start  # training alone (overhead benchmarks)
        if s.scheduler is not None:
            s.scheduler.step()
        eps = s.method.eps()
        if eps is not None:
            record["eps"] = dict(eps)
        record.update(evaluate_epoch(s))
        record["seconds"] = time.perf_counter() - start
        s.epoch += 1
        run.append_metrics(record)  # before the checkpoint: resume truncates to the checkpoint
        run.save_checkpoint(s.epoch, s.state_dict(), keep=config.keep_checkpoints)
        if on_epoch is not None:
            on_epoch(record)
    run.finish(s.method.eps())
    return s


def load_run(run_dir: str | Path, epoch: int | None = None, device: str = "cpu"):
    """``(model, config, extra)`` of a run: the net (eval mode) at its last (or ``epoch``'s)
    checkpoint, the resolved :class:`TrainConfig`, and ``extra`` with ``eps`` (final per-layer
    eps, or the method's eps at that epoch; ``None`` for methods without eps), ``epoch``,
    ``metrics``, ``layers``, ``complete``, ``path``, ``data`` (the data set it was trained on)
    and ``method`` (the restored method). Raises :class:`RunDirError` naming the file.
    """
    run = RunDir(run_dir)
    raw = run.read_config()
    try:
        config = TrainConfig.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise RunDirError(f"{run.path / CONFIG}: {exc}") from None
    config.device = device
    state = run.load_checkpoint(epoch, map_location=device)
    if state is None:
        raise RunDirError(f"{run.path / CHECKPOINTS}: no checkpoint yet (the run has not finished an epoch)")
    session = build_session(config)
    session.epoch = state["epoch"]
    session.net.load_state_dict(state["model"])
    session.method.load_state_dict(state["method"])
    session.net.eval()
    status = run.status()
    eps = session.method.eps()
    return session.net, config, {
        "eps": None if eps is None else dict(eps), "epoch": state["epoch"], "metrics": run.read_metrics(),
        "layers": run.read_layers(), "complete": status["complete"], "path": run.path,
        "data": session.data, "method": session.method,
    }
