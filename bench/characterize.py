"""Voltage sweep of the memory under test: fault maps, BER and energy per bit read [HARDWARE 1].

For each voltage, from ``vmax`` down to ``vmin`` (the safe order: start at the nominal, highest
voltage and only step down), after ``settle_s``: for each pattern and repeat, write the pattern
(``LOAD``), read it back (``READ``) inside the supply's energy capture, and record

* the raw reads as a fault map per (voltage, pattern) (``drivers/faultmap.py``,
  ``sweeps/NAME/faultmaps/*.npz``);
* a row of ``sweeps/NAME/sweep.csv`` per read: ``voltage_V,pattern,repeat,bits,flips_0to1,
  flips_1to0,ber,ber_0to1,ber_1to0,energy_per_bit_J`` (``ber_0to1`` = 0->1 flips over the
  written zeros, ``energy_per_bit_J`` = the read's energy over the bits read; with
  ``energy_of="write"``, for RRAM, the write's (programming) energy over the bits written);
* ``sweep.nc``: the same as labelled arrays over voltage, pattern and repeat, with units
  (``bench/labelled.py``; needs the ``xarray`` extra);
* in ``sweep.json``: identities, settings, seeds, timestamps, the voltage measured at each
  setpoint after settling (``measured_voltage_V``), and per (voltage, pattern) the
  persistent / transient split across repeats: a flipped bit is *persistent* when every repeat
  flipped it, *transient* otherwise [ALGORITHMS 2 "persistent"].

An interrupted sweep resumes: (voltage, pattern) points listed as done in ``sweep.json`` (with
the same settings) are skipped. The supply is shut down (output off) on every exit.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from bench.errors import BenchError, user_errors
from bench.instruments import check_specs, describe, lab_ppk2_role, open_rail
from bench.lab import DEFAULT_CHIP, chip_technology, virtual_lab
from bench.labelled import SWEEP_FILE, save_netcdf, sweep_dataset
from bench.rail_limits import RailLimits, check_vmax
from drivers import atomic, stop_signals
from drivers.board import Board, BoardError, pattern_words
from drivers.faultmap import FaultMap, write_faultmap
from drivers.supplies import EnergyWindowError, ScpiSupply, SupplyError
from models.plots import plt, save_figure
from models.profile import ProfileError, load_profile

CSV_COLUMNS = ["voltage_V", "pattern", "repeat", "bits", "flips_0to1", "flips_1to0", "ber", "ber_0to1",
               "ber_1to0", "energy_per_bit_J"]
_INT_COLUMNS = {"repeat", "bits", "flips_0to1", "flips_1to0"}
UNKNOWN_CHIP = "unknown-chip"   # chip_id when neither --chip-id nor the board names the chip
SWEEP_FORMAT = "faultbench-sweep"
SWEEP_VERSION = 1
PATTERNS = ("checkerboard", "random", "zeros", "ones")


class SweepError(ValueError):
    """Bad settings or an output directory that belongs to another sweep (names the field/file)."""


@dataclass(frozen=True)
class SweepSettings:
    """What a sweep measures; the defaults are our choices (documented in ``bench characterize -h``)."""

    vmin: float
    vmax: float
    steps: int
    channel: int = 1
    patterns: tuple[str, ...] = ("checkerboard", "random")
    repeats: int = 5
    base_word: int = 0
    n_words: int = 1024          # 4 KiB under test
    settle_s: float = 0.05       # after each voltage change
    imax: float = 0.1            # A, current limit
    pattern_seed: int = 1        # seed of the ``random`` pattern (firmware xorshift32)
    energy_window_s: float = 0.1   # initial capture length (s); doubled when a read outlasts it
    energy_of: str = "read"        # "read" (SRAM) or "write" (RRAM: the programming energy per bit)

    def __post_init__(self):
        if not 0 < self.vmin <= self.vmax:
            raise SweepError(f"--vmin {self.vmin} / --vmax {self.vmax}: need 0 < vmin <= vmax")
        if self.steps < 1 or (self.steps == 1 and self.vmin != self.vmax):
            raise SweepError(f"--steps {self.steps}: need >= 1 (and vmin == vmax for one step)")
        bad = [p for p in self.patterns if p not in PATTERNS]
        if bad or not self.patterns:
            raise SweepError(f"--patterns {','.join(self.patterns)}: unknown {bad}; choose from {', '.join(PATTERNS)}")
        if self.energy_of not in ("read", "write"):
            raise SweepError(f"--energy-of {self.energy_of!r}: choose read or write")
        if self.repeats < 1 or self.n_words < 1:
            raise SweepError("--repeats and --words must be >= 1")

    def voltages(self) -> list[float]:
        """Descending from vmax (safe order), rounded to 0.1 mV."""
        return [round(float(v), 4) for v in np.linspace(self.vmax, self.vmin, self.steps)]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["patterns"] = list(self.patterns)
        return d


@dataclass
class PointResult:
    voltage_V: float
    pattern: str
    bits: int
    rows: list[dict]
    persistent_bits: int
    transient_bits: int
    faultmap: str
    energy_method: str
    timestamp: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "rows"}


def persistent_transient(fmap: FaultMap) -> tuple[int, int]:
    """Bits flipped in every read (persistent) and in some but not all (transient)."""
    planes = fmap.bit_plane(fmap.xor)  # [reads, bits]
    hits = planes.sum(axis=0)
    return int((hits == fmap.n_reads).sum()), int(((hits > 0) & (hits < fmap.n_reads)).sum())


def _rows(fmap: FaultMap, voltage: float, pattern: str, energies: list[float]) -> list[dict]:
    ones = int(fmap.bit_plane(fmap.written).sum())
    zeros = fmap.n_bits - ones
    rows = []
    for r in range(fmap.n_reads):
        f01, f10 = fmap.flip_counts(r)
        rows.append({"voltage_V": voltage, "pattern": pattern, "repeat": r, "bits": fmap.n_bits,
                     "flips_0to1": f01, "flips_1to0": f10, "ber": (f01 + f10) / fmap.n_bits,
                     "ber_0to1": f01 / zeros if zeros else 0.0, "ber_1to0": f10 / ones if ones else 0.0,
                     "energy_per_bit_J": energies[r] / fmap.n_bits})
    return rows


class Sweep:
    """One sweep directory: resumable state in ``sweep.json``, rows in ``sweep.csv``."""

    def __init__(self, out: Path, settings: SweepSettings, meta: dict):
        self.out, self.settings = Path(out), settings
        self.json_path, self.csv_path = self.out / "sweep.json", self.out / "sweep.csv"
        (self.out / "faultmaps").mkdir(parents=True, exist_ok=True)
        if self.json_path.exists():
            try:
                self.state = json.loads(self.json_path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise SweepError(f"{self.json_path}: cannot read the sweep state ({exc}); choose another --out") from None
            if self.state.get("settings") != settings.to_dict():
                raise SweepError(f"{self.json_path}: this directory holds a sweep with other settings "
                                 f"({self.state.get('settings')}); choose another --out or repeat those settings")
            self.state.update({k: v for k, v in meta.items() if k not in self.state})
            self.state["resumed"] = self.state.get("resumed", 0) + 1
            # rows of a point whose sweep.json entry was not saved are measured again
            self._rows = [r for r in read_rows(self.csv_path) if self.done(r["voltage_V"], r["pattern"])]
        else:
            self.state = {"format": SWEEP_FORMAT, "format_version": SWEEP_VERSION, **meta,
                          "settings": settings.to_dict(), "seeds": {"random_pattern": settings.pattern_seed},
                          "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "finished": None, "complete": False, "points": []}
            self._rows = []
        self._write_csv()
        self._save()

    def done(self, voltage: float, pattern: str) -> bool:
        return any(p["voltage_V"] == voltage and p["pattern"] == pattern for p in self.state["points"])

    def record(self, point: PointResult) -> None:
        """CSV rows first, then the point in sweep.json (both replaced atomically)."""
        self._rows += point.rows
        self._write_csv()
        self.state["points"].append(point.summary())
        self._save()

    def _write_csv(self) -> None:
        """All rows so far (kept here, not read back from the file at each point)."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, CSV_COLUMNS)
        w.writeheader()
        for row in self._rows:
            w.writerow({k: (int(v) if k in _INT_COLUMNS else f"{v:.6g}" if isinstance(v, float) else v)
                        for k, v in row.items()})
        atomic.write_text(self.csv_path, buf.getvalue())

    def finish(self) -> None:
        self.state["complete"] = True
        self.state["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._save()

    def _save(self) -> None:
        atomic.write_text(self.json_path, json.dumps(self.state, indent=2))


def read_rows(csv_path: Path) -> list[dict]:
    with open(csv_path, newline="") as f:
        return [{k: (v if k == "pattern" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]


def measure_point(board: Board, supply: ScpiSupply, settings: SweepSettings, voltage: float, pattern: str,
                  chip_id: str, faultmap_path: Path, on_read=None) -> PointResult:
    """Write/read ``pattern`` ``repeats`` times at the present voltage; save the fault map."""
    written = pattern_words(pattern, settings.base_word, settings.n_words, settings.pattern_seed)
    reads, energies, method = [], [], ""
    window = settings.energy_window_s
    load = partial(board.load, settings.base_word, written)
    read = partial(board.read, settings.base_word, settings.n_words)
    for _ in range(settings.repeats):
        if settings.energy_of == "read":
            load()
        for _attempt in range(4):
            try:
                with supply.energy(window) as e:
                    data = read() if settings.energy_of == "read" else load()
                break
            except EnergyWindowError:  # documented recovery: longer capture, do it again
                window *= 2
        else:
            raise EnergyWindowError(f"a {settings.n_words}-word {settings.energy_of} outlasted a {window:.2f} s "
                                    "capture 4 times")
        if settings.energy_of == "write":
            data = read()
        reads.append(data)
        energies.append(e.joules)
        method = e.method
        if on_read:
            on_read()
    fmap = FaultMap.from_reads(written, reads, chip_id=chip_id,
                               operating_point={"name": f"{voltage:.4f} V", "voltage_V": voltage}, pattern=pattern,
                               base_word=settings.base_word, repeats=list(range(settings.repeats)),
                               extra={"energy_J": energies, "energy_method": method})
    write_faultmap(faultmap_path, fmap)
    persistent, transient = persistent_transient(fmap)
    return PointResult(voltage, pattern, fmap.n_bits, _rows(fmap, voltage, pattern, energies), persistent, transient,
                       str(faultmap_path.relative_to(faultmap_path.parents[1])), method)


def run_sweep(board: Board, supply: ScpiSupply, settings: SweepSettings, out: Path, meta: dict,
              progress=None) -> Sweep:
    """The sweep loop (resumable). The caller owns ``board`` and ``supply`` (and their shutdown).

    ``progress(advance_reads, description)`` is called as reads complete.
    """
    sweep = Sweep(out, settings, meta)
    supply.current_limit = settings.imax
    started_output = False
    for voltage in settings.voltages():
        todo = [p for p in settings.patterns if not sweep.done(voltage, p)]
        if progress and len(todo) < len(settings.patterns):
            progress((len(settings.patterns) - len(todo)) * settings.repeats, f"{voltage:.3f} V (resumed)")
        if not todo:
            continue
        supply.volts = voltage
        if not started_output:
            supply.output_enabled = True
            started_output = True
        time.sleep(settings.settle_s)
        measured = supply.measure_voltage()
        sweep.state.setdefault("measured_voltage_V", {})[f"{voltage:.4f}"] = measured
        for pattern in todo:
            path = out / "faultmaps" / f"v{voltage:.4f}_{pattern}.npz"
            point = measure_point(board, supply, settings, voltage, pattern, sweep.state.get("chip_id", "unknown"),
                                  path, on_read=(lambda: progress(1, f"{voltage:.3f} V {pattern}")) if progress else None)
            sweep.record(point)
    sweep.finish()
    return sweep


def summarize(rows: list[dict], points: list[dict]) -> list[dict]:
    """Per voltage: mean BER (all patterns and repeats), its 0->1 / 1->0 split, energy per bit."""
    out = []
    for v in sorted({r["voltage_V"] for r in rows}, reverse=True):
        sel = [r for r in rows if r["voltage_V"] == v]
        bits = sum(r["bits"] for r in sel)
        pts = [p for p in points if p["voltage_V"] == v]
        out.append({"voltage_V": v, "ber": sum(r["flips_0to1"] + r["flips_1to0"] for r in sel) / bits,
                    "ber_0to1": float(np.mean([r["ber_0to1"] for r in sel])),
                    "ber_1to0": float(np.mean([r["ber_1to0"] for r in sel])),
                    "energy_per_bit_J": float(np.mean([r["energy_per_bit_J"] for r in sel])),
                    "persistent_bits": sum(p["persistent_bits"] for p in pts),
                    "transient_bits": sum(p["transient_bits"] for p in pts),
                    "tested_bits": sum(p["bits"] for p in pts)})  # memory bits under test, all patterns
    return out


#: upper end of the one-sided 95 percent interval of a rate with 0 errors in N trials: 3/N
#: ("rule of three": (1 - p)^N = 0.05 gives p = -ln(0.05)/N ~ 3/N) [Hanley & Lippman-Hand 1983]
ZERO_ERRORS_UPPER = 3.0


def ber_figure(rows: list[dict]):
    """BER vs voltage per pattern on a log axis; a voltage with no error in N bits read is
    drawn as a hollow down-triangle at its 95 percent upper bound 3/N instead of vanishing."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    zero_label = None
    for pattern in sorted({r["pattern"] for r in rows}):
        vs = sorted({r["voltage_V"] for r in rows if r["pattern"] == pattern})
        sel = {v: [r for r in rows if r["pattern"] == pattern and r["voltage_V"] == v] for v in vs}
        errors = {v: sum(r["flips_0to1"] + r["flips_1to0"] for r in sel[v]) for v in vs}
        bits = {v: sum(r["bits"] for r in sel[v]) for v in vs}
        line, = ax.semilogy([v for v in vs if errors[v]], [errors[v] / bits[v] for v in vs if errors[v]], "o-",
                            label=pattern)
        zeros = [v for v in vs if not errors[v]]
        if zeros:
            zero_label = f"0 errors in N bits read: 95% upper bound {ZERO_ERRORS_UPPER:g}/N"
            ax.semilogy(zeros, [ZERO_ERRORS_UPPER / bits[v] for v in zeros], "v", mfc="none", color=line.get_color(),
                        label=f"{pattern}: 0 errors (<= {ZERO_ERRORS_UPPER:g}/N)")
    ax.set_xlabel("supply voltage (V)")
    ax.set_ylabel("bit-error rate (errors per bit read)")
    fig.suptitle("Bit-error rate vs supply voltage", fontsize=12)
    if zero_label:
        ax.set_title(f"hollow: {zero_label}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_sweep(rows: list[dict], out: Path) -> list[Path]:
    """``ber_vs_voltage.png`` (:func:`ber_figure`) and ``energy_vs_voltage.png``."""
    paths = [out / "ber_vs_voltage.png"]
    save_figure(ber_figure(rows), paths[-1])

    fig, ax = plt.subplots(figsize=(6, 4))
    vs = sorted({r["voltage_V"] for r in rows})
    e = [np.mean([r["energy_per_bit_J"] for r in rows if r["voltage_V"] == v]) * 1e15 for v in vs]
    ax.plot(vs, e, "o-")
    ax.set_xlabel("supply voltage (V)")
    ax.set_ylabel("energy per bit read (fJ)")
    ax.set_title("Energy per bit vs voltage")
    ax.grid(True, alpha=0.3)
    paths.append(out / "energy_vs_voltage.png")
    save_figure(fig, paths[-1])
    return paths


@dataclass
class Characterization:
    """A finished sweep: its directory, files, per-voltage summary and the chip it measured."""

    out: Path
    sweep: Sweep
    rows: list[dict]
    summary: list[dict]
    chip_id: str
    plots: list[Path]
    netcdf: Path | None = None   # sweep.nc (bench/labelled.py); None without the xarray extra
    chip_id_source: str = ""   # where chip_id came from: --chip-id, the board (IDENT), or none


def characterize(out: str | Path, vmin: float, vmax: float, steps: int = 13, *, board: str | None = None,
                 supply: str | None = None, meter: str | None = None, visa_backend: str = "@py", chip: str | None = None,
                 chip_id: str | None = None, channel: int = 1, patterns: str | tuple[str, ...] = "checkerboard,random",
                 repeats: int = 5, base_word: int = 0, words: int = 1024, settle: float = 0.05, imax: float = 0.1,
                 seed: int = 1, technology: str | None = None, energy_of: str | None = None,
                 profile: str | Path | None = None, progress: Callable[[int, str], None] | None = None,
                 on_lab: Callable[[str, str], None] | None = None) -> Characterization:
    """The voltage sweep of ``bench characterize`` into ``out`` (resumable); without ``board``
    and ``supply`` the virtual lab is started (``chip``) and ``on_lab(board_url, resource)``
    says where. ``meter``: an energy meter beside the supply (``ppk2:PORT``, ``joulescope[:SERIAL]``);
    ``supply`` ``ppk2:PORT``: a PPK2 source meter powers the rail; in the virtual lab ``ppk2``
    (no port) for either uses its simulated PPK2 (``bench/instruments.py``).
    ``progress(advance_reads, description)`` as reads complete. ``vmax`` is refused above the
    absolute maximum that the chip file (virtual lab) or ``profile`` states (``bench.rail_limits``).
    The supply is left off on every exit, SIGTERM and SIGHUP included (they take the Ctrl-C
    path). The chip's identity: ``chip_id``, else what the board answers to IDENT
    (firmware/PROTOCOL.md; the virtual lab's chip id), else ``unknown-chip``; ``sweep.json``
    records which (``chip_id_source``)."""
    virtual = board is None
    if virtual != (supply is None or str(supply).lower() == "ppk2"):
        raise BenchError("give both --board and --supply, or neither (then the virtual lab is started)")
    check_specs(supply, meter, virtual, "--supply/--meter")
    supply_spec = supply
    if board is not None and chip:
        raise BenchError("--chip only applies to the virtual lab (without --board/--supply)")
    limits = RailLimits() if board is not None else RailLimits.of_chip(chip or DEFAULT_CHIP)
    if profile is not None:
        with user_errors(ProfileError):
            limits = RailLimits.of_profile(load_profile(profile)).tightest(limits)
    check_vmax(vmax, limits, "--vmax")
    technology = technology or (chip_technology(chip) if board is None else "sram")
    with user_errors(SweepError):
        settings = SweepSettings(vmin=vmin, vmax=vmax, steps=steps, channel=channel, patterns=pattern_list(patterns),
                                 repeats=repeats, base_word=base_word, n_words=words, settle_s=settle, imax=imax,
                                 pattern_seed=seed,
                                 energy_of=energy_of or ("write" if technology == "rram" else "read"))
    out = Path(out)
    with contextlib.ExitStack() as stack:
        stack.enter_context(stop_signals.interrupting())
        lab = None
        if virtual:
            lab = stack.enter_context(virtual_lab(chip, ppk2=lab_ppk2_role(supply, meter)))
            board = lab.board_url
            supply = lab.ppk2_port if lab.ppk2 == "source" else lab.supply_resource
            if on_lab:
                on_lab(board, supply)
        with user_errors(BoardError, prefix=f"--board {board}: "):
            b = stack.enter_context(Board(board))
            chip_id, chip_id_source = (chip_id, "--chip-id") if chip_id else (b.chip_id(), "the board (IDENT)")
        with user_errors(SupplyError, prefix=f"--supply {supply}: "):
            s = stack.enter_context(open_rail(supply_spec, meter, lab=lab, channel=channel, vmax=vmax,
                                              imax=imax, backend=visa_backend))
        if base_word + words > b.info.mem_words:
            raise BenchError(f"--base-word/--words: [{base_word}, {base_word + words}) exceeds the "
                             f"board's {b.info.mem_words}-word memory")
        if chip_id is None:
            chip_id_source = "none: the board cannot tell; give --chip-id"
        meta = {"chip_id": chip_id or UNKNOWN_CHIP, "chip_id_source": chip_id_source, "technology": technology,
                "board": {"url": board, "fw_version": b.info.fw_version, "target": b.info.target,
                          "boot_id": b.info.boot_id, "mem_words": b.info.mem_words},
                "supply": {"resource": supply, "channel": channel, **describe(s)}}
        with user_errors(SweepError):
            with user_errors(BoardError, prefix=f"board {board} lost mid-sweep: ",
                             suffix="; supply output switched off; run the same command again to resume"):
                with user_errors(SupplyError, prefix=f"supply {supply}: ",
                                 suffix="; run the same command again to resume"):
                    sweep = run_sweep(b, s, settings, out, meta, progress=progress)
    rows = read_rows(sweep.csv_path)
    netcdf, _ = save_netcdf(out / SWEEP_FILE, sweep_dataset(rows, sweep.state))
    return Characterization(out, sweep, rows, summarize(rows, sweep.state["points"]), meta["chip_id"],
                            plot_sweep(rows, out), netcdf, chip_id_source)


def pattern_list(patterns: str | tuple[str, ...]) -> tuple[str, ...]:
    """``"checkerboard,random"`` -> ``("checkerboard", "random")``."""
    if isinstance(patterns, str):
        return tuple(p.strip() for p in patterns.split(",") if p.strip())
    return tuple(patterns)
