"""Training loop: learning under faults, method protocol, bit-exact resume after interruption."""

import json
from dataclasses import dataclass

import pytest
import torch

from models.method_registry import register_method
from models.methods import MethodContext, NoiseMethod
from models.run_dir import RunDir, RunDirError
from models.training import load_run
from models.training import TrainConfig, derive_seeds, train

TINY = dict(arch="mlp", width=1 / 32, dataset="digits", limit_train=400, limit_test=200, batch_size=50)


def test_uniform_training_learns_and_fills_the_run_directory(tmp_path):
    cfg = TrainConfig(**TINY, method="uniform", method_options={"eps": 0.02}, epochs=3, gradient="aware")
    s = train(cfg, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    metrics = run.read_metrics()
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert metrics[-1]["test_acc"] > 0.5 and metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    assert metrics[-1]["eps"] == {n: 0.02 for n in metrics[-1]["eps"]} and "test_acc_faulty" in metrics[-1]
    assert run.final_eps() == metrics[-1]["eps"] and run.status() == {"epochs_done": 3, "complete": True}
    assert len(run.checkpoints()) == 3
    assert not (tmp_path / "run" / "plots").exists()  # drawn outside the training loop, on request
    assert [p.name for p in run.plot()] == ["training_curves.png", "eps_per_layer.png"]
    for name in ("config.yaml", "seeds.yaml", "eps_trajectory.csv", "energy.md", "plots/training_curves.png",
                 "plots/eps_per_layer.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0, name
    assert max(float(m.weight.detach().abs().max()) for m in s.net.modules() if hasattr(m, "fault_site")) <= 1.0
    net, config, extra = load_run(tmp_path / "run")
    assert config.method_options == {"eps": 0.02} and extra["eps"] == metrics[-1]["eps"] and extra["complete"]
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), s.net.state_dict().values()))
    early, _, first = load_run(tmp_path / "run", epoch=1)  # older checkpoints are slim, still loadable
    assert first["epoch"] == 1 and set(run.load_checkpoint(1)) == {"epoch", "model", "method"}
    assert not all(torch.equal(a, b) for a, b in zip(early.state_dict().values(), net.state_dict().values()))
    with pytest.raises(RunDirError, match="already holds a run"):
        train(cfg, tmp_path / "run")


def test_keep_checkpoints(tmp_path):
    train(TrainConfig(**TINY, epochs=3, keep_checkpoints=1), tmp_path / "run")
    assert [p.name for p in RunDir(tmp_path / "run").checkpoints()] == ["epoch_0003.pt"]


class Stop(Exception):
    pass


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    cfg = TrainConfig(**TINY, method="uniform", method_options={"eps": 0.05}, epochs=3, seed=11)
    full = train(cfg, tmp_path / "full")
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if len(calls) == 8 + 3:  # epoch 2, batch 3
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", on_batch=interrupt)
    assert RunDir(tmp_path / "cut").status()["epochs_done"] == 1
    resumed = train(cfg, tmp_path / "cut", resume=True)
    for (k, a), b in zip(full.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.equal(a, b), k
    strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rows]  # noqa: E731
    assert strip(RunDir(tmp_path / "full").read_metrics()) == strip(RunDir(tmp_path / "cut").read_metrics())
    assert full.generators["faults"].get_state().equal(resumed.generators["faults"].get_state())


def test_a_run_killed_while_being_created_resumes(tmp_path):
    """A writer killed between the run's config and its layers (what ``kill -9`` early in
    training did) left ``config.yaml`` alone; resuming completes the files and the run equals an
    uninterrupted one. A half-appended metrics line and a temporary file of a killed atomic
    write are dropped too."""
    cfg = TrainConfig(**TINY, method="uniform", method_options={"eps": 0.05}, epochs=2, seed=3)
    full = train(cfg, tmp_path / "full")
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "config.yaml").write_text((tmp_path / "full" / "config.yaml").read_text())
    (cut / "metrics.jsonl").write_text('{"epoch": 1, "train_lo')           # killed mid-append
    (cut / ".seeds.yaml.k1ll3d.tmp").write_text("half")                    # killed mid-write
    resumed = train(cfg, cut, resume=True)
    for (k, a), b in zip(full.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.equal(a, b), k
    for name in ("layers.json", "seeds.yaml", "final_eps.json"):
        assert (cut / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name
    assert [m["epoch"] for m in RunDir(cut).read_metrics()] == [1, 2]
    assert not list(cut.glob(".*.tmp"))


def test_a_fresh_run_writes_its_config_last(tmp_path, monkeypatch):
    """Killed anywhere while a run is created, a directory with a config holds the rest too."""
    import models.run_dir as run_dir

    written = []
    original = run_dir.write_text
    monkeypatch.setattr(run_dir, "write_text", lambda path, text: written.append(path.name) or original(path, text))
    train(TrainConfig(**TINY, epochs=1), tmp_path / "run")
    assert written.index("config.yaml") > max(written.index(n) for n in ("seeds.yaml", "layers.json", "metrics.jsonl"))


@dataclass
class SignStepOptions:
    step: float = 0.05


class SignStep(NoiseMethod):
    """A method that owns the update (like WAGE): w <- w - step * sign(grad), faults at 1%."""

    name = "test-sign-step"
    owns_step = True

    def __init__(self, context: MethodContext, options: SignStepOptions):
        self.step_size, self.losses, self.epochs = options.step, [], []
        self.rates = {layer.name: 0.01 for layer in context.layers}

    def before_batch(self, generator):
        return self.rates

    def after_batch(self, loss):
        self.losses.append(loss)

    def end_epoch(self, epoch):
        self.epochs.append(epoch)
        return {"mean_loss": sum(self.losses) / len(self.losses)}

    def step(self, model, epoch):
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p -= self.step_size * p.grad.sign()

    def state_dict(self):
        return {"losses": list(self.losses), "epochs": list(self.epochs)}

    def load_state_dict(self, state):
        self.losses, self.epochs = list(state["losses"]), list(state["epochs"])


register_method("test-sign-step", SignStep, SignStepOptions)


def test_method_protocol_and_own_optimiser_step(tmp_path):
    cfg = TrainConfig(**TINY, method="test-sign-step", method_options={"step": "0.1"}, epochs=2)
    s = train(cfg, tmp_path / "run")
    assert s.optimizer is None and s.method.step_size == 0.1
    assert len(s.method.losses) == 2 * 8 and s.method.epochs == [0, 1]
    metrics = RunDir(tmp_path / "run").read_metrics()
    assert "mean_loss" in metrics[0] and "lr" not in metrics[0] and metrics[-1]["test_acc"] > 0.3
    latent = [m.weight for m in s.net.modules() if hasattr(m, "fault_site")]
    assert all(float(w.detach().abs().max()) <= 1.0 for w in latent)  # clipped after the method's update


def test_config_validation_and_seeds():
    with pytest.raises(ValueError, match="optimizer 'rmsprop'"):
        TrainConfig(optimizer="rmsprop").resolved()
    with pytest.raises(ValueError, match="method uniform: unknown option 'lambda'"):
        TrainConfig(method="uniform", method_options={"lambda": 1}).resolved()
    with pytest.raises(ValueError, match="unknown config field"):
        TrainConfig.from_dict({"arch": "mlp", "colour": "red"})
    sgd = TrainConfig(optimizer="sgd").resolved()
    assert (sgd.lr, sgd.lr_decay, sgd.lr_decay_every) == (0.1, 0.2, 60)
    seeds = derive_seeds(0)
    assert len(set(seeds.values())) == len(seeds) and seeds == derive_seeds(0) != derive_seeds(1)
    assert json.dumps(seeds)
