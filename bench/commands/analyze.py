"""``bench analyze <analysis>``: analyses of trained networks (``bench/analyses``), each a table
and a PNG plot."""

from __future__ import annotations

from rich.console import Console

from bench.analyses.bet import CONVENTIONS, bet_metric
from bench.analyses.bet_correlation import DEFAULT_RATES, bet_correlation
from bench.analyses.eps_matrix import DEFAULT_EPS, eps_list, eps_matrix
from bench.analyses.sensitivity import sensitivity
from bench.commands.common import add_network, add_run, add_seed
from bench.output import progress, rich_table


def _metric_options(p) -> None:
    p.add_argument("--split", choices=("test", "train"), default="test", help="data the metric runs over (default test)")
    p.add_argument("--convention", choices=CONVENTIONS, default="sign0",
                   help="sign0: exact count for sign(0)=+1 (default); paper: seed 2 eq. 2 as printed")


def _mc_options(p, max_reps: int, what: str) -> None:
    p.add_argument("--ci", type=float, default=0.01, help="target 95%% CI half-width (fraction; default 0.01)")
    p.add_argument("--max-reps", type=int, default=max_reps, help=f"most fault draws per {what} (default {max_reps})")


def configure(parser) -> None:
    parser.description = "Run one analysis; each writes a table and a PNG plot."
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)

    p = sub.add_parser("bet", help="bit-error tolerance metric of a run, per layer and network (seed 2)")
    add_run(p)
    p.add_argument("--out", help="output folder (default RUN/analyses)")
    _metric_options(p)
    p.set_defaults(func=lambda a: _show(lambda bar: bet_metric(a.run, a.out, a.split, a.convention, network=a.network)))

    p = sub.add_parser("bet-correlation", help="accuracy over bit-error rate vs the BET metric for runs (seed 2 Fig. 1)")
    p.add_argument("runs", nargs="+", help="training runs or bench run folders (two or more)")
    add_network(p)
    p.add_argument("--out", default="analyses", help="output folder (default ./analyses)")
    p.add_argument("--rates", default=DEFAULT_RATES, help=f"comma-separated bit-error rates (default {DEFAULT_RATES})")
    _mc_options(p, 100, "rate")
    add_seed(p, 0, "seed of the fault draws")
    _metric_options(p)
    p.set_defaults(func=lambda a: _show(lambda bar: bet_correlation(
        a.runs, a.out, a.rates, a.ci, a.max_reps, a.seed, a.split, a.convention, progress=bar, network=a.network)))

    p = sub.add_parser("eps-matrix", help="train-eps x test-eps accuracy matrix (seed 1 Fig. 1)")
    p.add_argument("--out", default="runs/analyses/eps_matrix", help="output folder (default runs/analyses/eps_matrix)")
    p.add_argument("--train-eps", type=eps_list, default=eps_list(DEFAULT_EPS), help=f"default {DEFAULT_EPS}")
    p.add_argument("--test-eps", type=eps_list, default=eps_list(DEFAULT_EPS), help=f"default {DEFAULT_EPS}")
    p.add_argument("--arch", default="mlp")
    p.add_argument("--width", type=float, default=0.125, help="width multiplier (default 0.125: quick on a CPU)")
    p.add_argument("--mode", default="bnn")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    add_seed(p, 0)
    p.add_argument("--limit-train", type=int)
    p.add_argument("--limit-test", type=int)
    _mc_options(p, 200, "cell")
    p.set_defaults(func=lambda a: _show(lambda bar: eps_matrix(
        a.out, a.train_eps, a.test_eps, a.arch, a.width, a.mode, a.dataset, a.data_dir, a.epochs, a.batch_size, a.seed,
        a.limit_train, a.limit_test, a.ci, a.max_reps, progress=bar)))

    p = sub.add_parser("sensitivity", help="layer-randomisation sensitivity of a run (seed 1 Fig. 2)")
    add_run(p)
    p.add_argument("--out", help="output folder (default RUN/analyses)")
    p.add_argument("--others", choices=("run", "reliable"), default="run",
                   help="rates of the layers not randomised: the run's final eps (default) or none")
    _mc_options(p, 200, "layer")
    add_seed(p, 0, "seed of the fault draws")
    p.set_defaults(func=lambda a: _show(lambda bar: sensitivity(a.run, a.out, a.others, a.ci, a.max_reps, a.seed,
                                                                progress=bar, network=a.network)))


def _show(work) -> int:
    """Run ``work(progress)`` under a progress display, then print its table and files."""
    console = Console()
    with progress(console) as bar:
        result = work(bar)
    console.print(rich_table(result.title, result.header, result.rows))
    console.print("written: " + ", ".join(str(f) for f in result.files))
    return 0
