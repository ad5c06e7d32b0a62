"""Bit-error tolerance of a run per layer and for the network (seed 2 sec. III).

The metric of ``models.bet`` over a data split (default: the test set): for every sign
neuron the flips it tolerates (minimum over positions), averaged over neurons and inputs.
No faults are injected. Written as ``RUN/analyses/bet.{csv,md,json,png}``.
"""

from __future__ import annotations

from pathlib import Path

from bench.analyses.common import open_run
from bench.errors import user_errors
from bench.output import TableResult, write_table
from bench.runs import training_run
from models.bet import CONVENTIONS, BetReport, bit_error_tolerance
from models.plots import fit_title, plt, save_figure

BATCH = 256  # inputs per forward pass
__all__ = ["CONVENTIONS", "bet_metric", "run_metric"]


def run_metric(net, data, split: str, convention: str, run: str) -> BetReport:
    x = data.test_x if split == "test" else data.train_x
    with user_errors(ValueError, prefix=f"{run}: "):
        return bit_error_tolerance(net, (x[i:i + BATCH] for i in range(0, len(x), BATCH)), convention)


def plot(report: BetReport, title: str, path: Path) -> None:
    names = list(report.layers)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(names) + 2), 3.6))
    ax.bar(range(len(names)), [report.layers[n] for n in names], color="tab:blue")
    ax.axhline(report.network, color="tab:red", ls="--", label=f"network {report.network:.2f}")
    ax.set_xticks(range(len(names)), names, rotation=45 if len(names) > 6 else 0)
    ax.set_xlabel("layer (network order)")
    ax.set_ylabel("mean neuron tolerance (flips)")
    ax.set_title(fit_title(fig, title, 9), fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def bet_metric(run: str | Path, out: str | Path | None = None, split: str = "test",
               convention: str = "sign0", network: str | None = None) -> TableResult:
    """The metric of ``run``'s last checkpoint (a training run, or a bench run folder's
    ``network``, default its main network); files under ``out`` (default ``RUN/analyses`` of
    the training run used)."""
    used = training_run(run, network)
    run = used.path
    net, config, extra = open_run(run)
    report = run_metric(net, extra["data"], split, convention, str(run))
    header = ["layer", "sign neurons", "mean tolerance (flips)"]
    rows = [[n, report.neurons[n], f"{v:.3f}"] for n, v in report.layers.items()]
    rows.append(["network", sum(report.neurons.values()), f"{report.network:.3f}"])
    title = f"bit-error tolerance of {used.short()} ({config.arch} on {config.dataset}, {split} split)"
    out = Path(out) if out else Path(run) / "analyses"
    files = write_table(out, "bet", header, rows, title, {"run": str(run), **report.to_dict()})
    plot(report, title, out / "bet.png")
    return TableResult(title, header, rows, files + [out / "bet.png"])

