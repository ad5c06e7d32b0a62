"""``bench analyze bet runs/NAME``: bit-error tolerance per layer and for the network (seed 2 sec. III).

The metric of ``models.bet`` over a data split (default: the test set): for every sign
neuron the flips it tolerates (minimum over positions), averaged over neurons and inputs.
No faults are injected. Written as ``RUN/analyses/bet.{csv,md,json,png}``.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from bench.analyses.output import rich_table, write_table
from bench.errors import BenchError
from bench.runs import load_run
from models.bet import CONVENTIONS, BetReport, bit_error_tolerance

BATCH = 256  # inputs per forward pass


def register(subparsers) -> None:
    p = subparsers.add_parser("bet", help="bit-error tolerance metric of a run, per layer and network (seed 2)",
                              description=__doc__.splitlines()[0])
    p.add_argument("run", help="run directory written by bench train")
    p.add_argument("--out", help="output folder (default RUN/analyses)")
    add_metric_options(p)
    p.set_defaults(func=run)


def add_metric_options(p) -> None:
    p.add_argument("--split", choices=("test", "train"), default="test", help="data the metric runs over (default test)")
    p.add_argument("--convention", choices=CONVENTIONS, default="sign0",
                   help="sign0: exact count for sign(0)=+1 (default); paper: seed 2 eq. 2 as printed")


def run_metric(net, data, split: str, convention: str, run: str) -> BetReport:
    x = data.test_x if split == "test" else data.train_x
    try:
        return bit_error_tolerance(net, (x[i:i + BATCH] for i in range(0, len(x), BATCH)), convention)
    except ValueError as exc:
        raise BenchError(f"{run}: {exc}") from None


def plot(report: BetReport, title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from models.plots import fit_title, save_figure

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


def run(args) -> int:
    net, config, extra = load_run(args.run)
    report = run_metric(net, extra["data"], args.split, args.convention, args.run)
    header = ["layer", "sign neurons", "mean tolerance (flips)"]
    rows = [[n, report.neurons[n], f"{v:.3f}"] for n, v in report.layers.items()]
    rows.append(["network", sum(report.neurons.values()), f"{report.network:.3f}"])
    title = f"bit-error tolerance of {args.run} ({config.arch} on {config.dataset}, {args.split} split)"
    out = Path(args.out) if args.out else Path(args.run) / "analyses"
    write_table(out, "bet", header, rows, title, {"run": str(args.run), **report.to_dict()})
    plot(report, title, out / "bet.png")
    console = Console()
    console.print(rich_table(title, header, rows))
    console.print(f"written: {out}/bet.{{csv,md,json,png}}")
    return 0
