"""``bench calibrate SWEEP -o PROFILE``: fit E(eps) = E0 + beta ln(1/eps) and write a profile."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.calibration import calibrate
from bench.commands.common import add_seed
from bench.output import format_energy


def configure(p) -> None:
    p.description = ("Weighted least-squares fit of E(eps) = E0 + beta ln(1/eps) [ALGORITHMS 3] to a sweep of bench "
                     "characterize (sweeps/NAME) or a CSV voltage,ber,energy_per_bit[,bits,ber_0to1,ber_1to0]; writes "
                     "a valid profile with the measured operating points and the fit, a PNG of data and fit "
                     "(PROFILE_fit.png) and the residuals (PROFILE_fit.csv). See bench/calibration.py.")
    p.add_argument("source", type=Path, help="sweep directory (sweep.csv, sweep.json, faultmaps/) or CSV file")
    p.add_argument("-o", "--out", type=Path, required=True, help="profile to write, e.g. profiles/mychip.yaml")
    p.add_argument("--name", help="profile name (default: the output file's stem)")
    p.add_argument("--technology", choices=["sram", "rram", "dram", "mram", "flash", "fpga-bram", "other"],
                   help="memory technology (default: from the sweep, else sram)")
    p.add_argument("--chip-id", help="chip id for a CSV input (default: the CSV's stem)")
    p.add_argument("--ci", choices=["auto", "bootstrap", "analytic"], default="auto",
                   help="confidence intervals: bootstrap over cells and reads (default with fault maps) or analytic "
                        "(delta method; default for CSVs)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--n-boot", type=int, default=400, help="bootstrap replicates (default 400)")
    add_seed(p, 0, "bootstrap seed")
    p.add_argument("--max-ber", type=float, default=0.2,
                   help="exclude points above this BER from the fit (saturation; default 0.2)")
    p.add_argument("--min-flips", type=float, default=3, help="exclude points with fewer flips (default 3)")
    p.add_argument("--energy-stat", choices=["median", "mean"], default="mean",
                   help="energy per bit of a voltage over its capture pairs (or reads of an older sweep); default "
                        "mean, the capture method's estimate")
    p.add_argument("--persistent-fraction", type=float,
                   help="override the persistent fraction (default: measured from the sweep's repeats, else 1.0)")
    p.add_argument("--min-r2", type=float, default=0.98, help="R^2 below this flags a bad fit (default 0.98)")
    p.add_argument("--max-rel-rms", type=float, default=0.05,
                   help="RMS relative energy residual above this flags a bad fit (default 0.05)")
    p.set_defaults(func=run)


def run(args) -> int:
    console = Console()
    with console.status(f"fitting ({args.ci} CI)"):
        c = calibrate(args.source, args.out, name=args.name, technology=args.technology, chip_id=args.chip_id,
                      ci=args.ci, confidence=args.confidence, n_boot=args.n_boot, seed=args.seed,
                      max_ber=args.max_ber, min_flips=args.min_flips, energy_stat=args.energy_stat,
                      persistent_fraction=args.persistent_fraction, min_r2=args.min_r2,
                      max_rel_rms=args.max_rel_rms)
    meas, fit = c.meas, c.fit
    table = Table(title=f"calibration of {args.source} ({meas.meta.get('chip_id', '?')})")
    for col in ("V", "eps", "0->1", "1->0", "cells", "energy/bit", "fit", "residual", "used"):
        table.add_column(col, justify="right", overflow="fold")
    for p, used, r, why in zip(meas.points, fit.used, fit.residuals, fit.excluded_why):
        table.add_row(f"{p.voltage:.4g}", f"{p.eps:.3g}", f"{p.ber_0to1:.3g}", f"{p.ber_1to0:.3g}", str(p.n_cells or "-"),
                      format_energy(p.energy_per_bit), format_energy(fit.energy(p.eps)) if p.eps > 0 else "-",
                      f"{100 * r / p.energy_per_bit:+.2f}%" if r is not None else "-", "yes" if used else why)
    console.print(table)
    pct = int(round(100 * fit.confidence))
    console.print(f"E0   = {format_energy(fit.E0)}  [{format_energy(fit.E0_ci[0])}, {format_energy(fit.E0_ci[1])}] "
                  f"({pct}% CI, {fit.ci_method})")
    console.print(f"beta = {format_energy(fit.beta)}  [{format_energy(fit.beta_ci[0])}, {format_energy(fit.beta_ci[1])}]")
    console.print(f"R^2 {fit.r2:.4f}, RMS relative residual {fit.rms_relative_residual:.2%}, reduced chi^2 "
                  f"{fit.reduced_chi2:.3g}, {fit.n_points} of {len(meas.points)} points fitted")
    if fit.warning:
        console.print(f"[yellow]warning: {fit.warning}[/yellow]")
    if meas.meta.get("below_resolution_V"):
        console.print(f"[yellow]left out: the energy at {', '.join(f'{v:g} V' for v in meas.meta['below_resolution_V'])} "
                      f"stayed below the instrument's resolution[/yellow]")
    console.print(f"wrote {c.profile}, {c.plot}, {c.residuals}")
    return 0
