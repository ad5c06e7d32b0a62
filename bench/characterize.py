"""Voltage sweep of the memory under test: fault maps, BER and energy per bit [HARDWARE 1].

For each voltage, from ``vmax`` down to ``vmin`` (the safe order: start at the nominal, highest
voltage and only step down), after ``settle_s``: for each pattern and repeat, write the pattern
(``LOAD``) and read it back (``READ``); then the voltage's energy per bit, measured with the
repeated, baseline-corrected method (``drivers/energy``, docs/ENERGY_CAPTURES.md) that
``bench run`` uses: reads (``PATTERN`` without writing, over ``energy_words`` words from word 0:
as many bits per request as the memory has [choice]) or, with ``energy_of="write"`` (RRAM),
programmings of the region under test (``LOAD``), ``N`` per capture window against baseline
windows of the same length, pairs of windows until the 95% interval is within
``energy_target``. Records:

* the raw reads as a fault map per (voltage, pattern) (``drivers/faultmap.py``,
  ``sweeps/NAME/faultmaps/*.npz``);
* a row of ``sweeps/NAME/sweep.csv`` per read: ``voltage_V,pattern,repeat,bits,flips_0to1,
  flips_1to0,ber,ber_0to1,ber_1to0,energy_per_bit_J`` (``ber_0to1`` = 0->1 flips over the
  written zeros; ``energy_per_bit_J`` = the voltage's measured energy per bit read, or written
  with ``energy_of="write"``; empty when below the instrument's resolution);
* ``sweep.nc``: the same as labelled arrays over voltage, pattern and repeat, with the energy
  per voltage, with units (``bench/labelled.py``; needs the ``xarray`` extra);
* in ``sweep.json``: identities, settings, seeds, timestamps, the voltage measured at each
  setpoint after settling (``measured_voltage_V``), per (voltage, pattern) the persistent /
  transient split across repeats (a flipped bit is *persistent* when every repeat flipped it,
  *transient* otherwise [ALGORITHMS 2 "persistent"]), and per voltage the energy per bit with
  its interval, floor, repeats and each capture pair's value (``energy``);
* every capture in ``energy_captures.jsonl`` / ``energy_traces.npz``.

An interrupted sweep resumes: (voltage, pattern) points and voltage energies listed as done in
``sweep.json`` (with the same settings) are skipped. The supply is shut down (output off) on
every exit.
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
from bench.instruments import check_specs, describe, energy_meter, lab_ppk2_role, open_rail
from bench.lab import DEFAULT_CHIP, chip_technology, virtual_lab
from bench.labelled import SWEEP_FILE, save_netcdf, sweep_dataset
from bench.rail_limits import RailLimits, check_vmax
from drivers import atomic, stop_signals
from drivers.board import Board, BoardError, pattern_words
from drivers.energy import CaptureLog, CaptureSettings, EnergyCaptureError, HostLoop, IdleBaseline, RepeatedCapture
from drivers.faultmap import FaultMap, write_faultmap
from drivers.supplies import SupplyError
from models.plots import plt, save_figure
from models.profile import ProfileError, load_profile

CSV_COLUMNS = ["voltage_V", "pattern", "repeat", "bits", "flips_0to1", "flips_1to0", "ber", "ber_0to1",
               "ber_1to0", "energy_per_bit_J"]
_INT_COLUMNS = {"repeat", "bits", "flips_0to1", "flips_1to0"}
UNKNOWN_CHIP = "unknown-chip"   # chip_id when neither --chip-id nor the board names the chip
SWEEP_FORMAT = "faultbench-sweep"
SWEEP_VERSION = 2   # 2: per-voltage energy records (the repeated method); 1: energy per read in the rows
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
    energy_of: str = "read"        # "read" (SRAM) or "write" (RRAM: the programming energy per bit)
    energy_target: float = 0.05    # energy per bit: captures until its 95% interval is +- this fraction
    energy_words: int | None = None  # words per energy read request (None: the board's whole memory)

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
        if not 0 < self.energy_target < 1:
            raise SweepError(f"--energy-target {self.energy_target}: must lie in (0, 1)")
        if self.energy_words is not None and self.energy_words < 1:
            raise SweepError(f"--energy-words {self.energy_words}: must be >= 1")

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
    timestamp: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def summary(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "rows"}


def persistent_transient(fmap: FaultMap) -> tuple[int, int]:
    """Bits flipped in every read (persistent) and in some but not all (transient)."""
    planes = fmap.bit_plane(fmap.xor)  # [reads, bits]
    hits = planes.sum(axis=0)
    return int((hits == fmap.n_reads).sum()), int(((hits > 0) & (hits < fmap.n_reads)).sum())


def _rows(fmap: FaultMap, voltage: float, pattern: str) -> list[dict]:
    ones = int(fmap.bit_plane(fmap.written).sum())
    zeros = fmap.n_bits - ones
    rows = []
    for r in range(fmap.n_reads):
        f01, f10 = fmap.flip_counts(r)
        rows.append({"voltage_V": voltage, "pattern": pattern, "repeat": r, "bits": fmap.n_bits,
                     "flips_0to1": f01, "flips_1to0": f10, "ber": (f01 + f10) / fmap.n_bits,
                     "ber_0to1": f01 / zeros if zeros else 0.0, "ber_1to0": f10 / ones if ones else 0.0,
                     "energy_per_bit_J": None})
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
            self.state.setdefault("energy", [])
            self.captures = CaptureLog.load(self.out)
        else:
            self.state = {"format": SWEEP_FORMAT, "format_version": SWEEP_VERSION, **meta,
                          "settings": settings.to_dict(), "seeds": {"random_pattern": settings.pattern_seed},
                          "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "finished": None, "complete": False, "points": [], "energy": []}
            self._rows = []
            self.captures = CaptureLog()
        self._write_csv()
        self._save()

    def done(self, voltage: float, pattern: str) -> bool:
        return any(p["voltage_V"] == voltage and p["pattern"] == pattern for p in self.state["points"])

    def energy_of(self, voltage: float) -> dict | None:
        return next((e for e in self.state["energy"] if e["voltage_V"] == voltage), None)

    def record(self, point: PointResult) -> None:
        """CSV rows first, then the point in sweep.json (both replaced atomically)."""
        energy = self.energy_of(point.voltage_V)
        for row in point.rows:
            row["energy_per_bit_J"] = energy and energy["energy_per_bit_J"]
        self._rows += point.rows
        self._write_csv()
        self.state["points"].append(point.summary())
        self._save()

    def record_energy(self, voltage: float, record: dict) -> None:
        """The voltage's energy per bit: into its rows, sweep.json and the capture files."""
        for row in self._rows:
            if row["voltage_V"] == voltage:
                row["energy_per_bit_J"] = record["energy_per_bit_J"]
        self._write_csv()
        self.captures.save(self.out)
        self.state["energy"].append(record)
        self._save()

    def _write_csv(self) -> None:
        """All rows so far (kept here, not read back from the file at each point)."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, CSV_COLUMNS)
        w.writeheader()
        for row in self._rows:
            w.writerow({k: ("" if v is None else int(v) if k in _INT_COLUMNS else f"{v:.6g}" if isinstance(v, float)
                            else v) for k, v in row.items()})
        atomic.write_text(self.csv_path, buf.getvalue())

    def finish(self) -> None:
        self.state["complete"] = True
        self.state["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._save()

    def _save(self) -> None:
        atomic.write_text(self.json_path, json.dumps(self.state, indent=2))


def read_rows(csv_path: Path) -> list[dict]:
    """The rows of a sweep.csv (an empty energy, below resolution or not measured yet: None)."""
    with open(csv_path, newline="") as f:
        return [{k: (v if k == "pattern" else None if v == "" else float(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


def measure_point(board: Board, settings: SweepSettings, voltage: float, pattern: str, chip_id: str,
                  faultmap_path: Path, on_read=None) -> PointResult:
    """Write/read ``pattern`` ``repeats`` times at the present voltage; save the fault map.
    ``energy_of="write"`` reads the region once per write, so RRAM write errors are drawn anew
    by every repeat; ``read`` writes before every read."""
    written = pattern_words(pattern, settings.base_word, settings.n_words, settings.pattern_seed)
    reads = []
    for _ in range(settings.repeats):
        board.load(settings.base_word, written)
        reads.append(board.read(settings.base_word, settings.n_words))
        if on_read:
            on_read()
    fmap = FaultMap.from_reads(written, reads, chip_id=chip_id,
                               operating_point={"name": f"{voltage:.4f} V", "voltage_V": voltage}, pattern=pattern,
                               base_word=settings.base_word, repeats=list(range(settings.repeats)))
    write_faultmap(faultmap_path, fmap)
    persistent, transient = persistent_transient(fmap)
    return PointResult(voltage, pattern, fmap.n_bits, _rows(fmap, voltage, pattern), persistent, transient,
                       str(faultmap_path.relative_to(faultmap_path.parents[1])))


def measure_energy(board: Board, method: RepeatedCapture, settings: SweepSettings, voltage: float,
                   predicted_per_bit: float | None) -> dict:
    """The energy per bit at ``voltage`` (module docstring); ``predicted_per_bit`` sizes the
    repeats (None: a pilot pair)."""
    if settings.energy_of == "read":
        words = settings.energy_words or board.info.mem_words
        work = HostLoop(partial(board.pattern, PATTERNS[0], 0, words, settings.pattern_seed, write=False,
                                max_report=0))
    else:
        words = settings.n_words
        work = HostLoop(partial(board.load, settings.base_word,
                                pattern_words("random", settings.base_word, words, settings.pattern_seed)))
    bits = 32 * words
    est = method.measure(work, voltage, f"{voltage:.4f} V",
                         predicted_j=None if predicted_per_bit is None else predicted_per_bit * bits)
    d = est.to_dict()
    return {"voltage_V": voltage, "energy_of": settings.energy_of, "bits_per_run": bits,
            "energy_per_bit_J": None if d["energy_J"] is None else d["energy_J"] / bits,
            "ci_per_bit_J": None if d["ci_J"] is None else [c / bits for c in d["ci_J"]],
            "floor_per_bit_J": d["floor_j"] / bits, "pairs_per_bit_J": [x / bits for x in est.per_pair_j], **d}


def run_sweep(board: Board, supply, settings: SweepSettings, out: Path, meta: dict, progress=None) -> Sweep:
    """The sweep loop (resumable). The caller owns ``board`` and ``supply`` (the rail of
    ``bench.instruments.open_rail``; its energies through :func:`~bench.instruments.energy_meter`)
    and their shutdown.

    ``progress(advance_reads, description)`` is called as reads complete.
    """
    sweep = Sweep(out, settings, meta)
    supply.current_limit = settings.imax
    method = RepeatedCapture(energy_meter(supply), IdleBaseline(board), CaptureSettings(target=settings.energy_target),
                             sweep.captures)
    started_output = False
    previous = None   # (voltage, energy per bit) of the last voltage measured: sizes the next one's repeats
    for voltage in settings.voltages():
        todo = [p for p in settings.patterns if not sweep.done(voltage, p)]
        energy = sweep.energy_of(voltage)
        if progress and len(todo) < len(settings.patterns):
            progress((len(settings.patterns) - len(todo)) * settings.repeats, f"{voltage:.3f} V (resumed)")
        if not todo and energy is not None:
            previous = (voltage, energy["energy_per_bit_J"]) if energy["energy_per_bit_J"] else previous
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
            point = measure_point(board, settings, voltage, pattern, sweep.state.get("chip_id", "unknown"), path,
                                  on_read=(lambda: progress(1, f"{voltage:.3f} V {pattern}")) if progress else None)
            sweep.record(point)
        if energy is None:
            if progress:
                progress(0, f"{voltage:.3f} V energy")
            guess = None if previous is None else previous[1] * (voltage / previous[0]) ** 2  # dynamic: ~V^2 [choice]
            energy = measure_energy(board, method, settings, voltage, guess)
            sweep.record_energy(voltage, energy)
        if energy["energy_per_bit_J"]:
            previous = (voltage, energy["energy_per_bit_J"])
    sweep.finish()
    return sweep


def summarize(rows: list[dict], points: list[dict], energy: list[dict]) -> list[dict]:
    """Per voltage: mean BER (all patterns and repeats), its 0->1 / 1->0 split, the energy per
    bit with its interval (``energy``: the sweep's per-voltage records; None if not measured)."""
    out = []
    for v in sorted({r["voltage_V"] for r in rows}, reverse=True):
        sel = [r for r in rows if r["voltage_V"] == v]
        bits = sum(r["bits"] for r in sel)
        pts = [p for p in points if p["voltage_V"] == v]
        out.append({"voltage_V": v, "ber": sum(r["flips_0to1"] + r["flips_1to0"] for r in sel) / bits,
                    "ber_0to1": float(np.mean([r["ber_0to1"] for r in sel])),
                    "ber_1to0": float(np.mean([r["ber_1to0"] for r in sel])),
                    "energy": next((e for e in energy if e["voltage_V"] == v), None),
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


def plot_sweep(rows: list[dict], energy: list[dict], out: Path) -> list[Path]:
    """``ber_vs_voltage.png`` (:func:`ber_figure`) and ``energy_vs_voltage.png`` (with intervals)."""
    paths = [out / "ber_vs_voltage.png"]
    save_figure(ber_figure(rows), paths[-1])

    fig, ax = plt.subplots(figsize=(6, 4))
    done = sorted((e for e in energy if e["energy_per_bit_J"] is not None), key=lambda e: e["voltage_V"])
    below = [e for e in energy if e["energy_per_bit_J"] is None]
    if done:
        ax.errorbar([e["voltage_V"] for e in done], [e["energy_per_bit_J"] * 1e15 for e in done],
                    yerr=[[(e["energy_per_bit_J"] - e["ci_per_bit_J"][0]) * 1e15 for e in done],
                          [(e["ci_per_bit_J"][1] - e["energy_per_bit_J"]) * 1e15 for e in done]],
                    fmt="o-", capsize=3, label="measured (95% interval)")
    if below:
        ax.plot([e["voltage_V"] for e in below], [e["floor_per_bit_J"] * 1e15 for e in below], "v", mfc="none",
                label="below resolution (at the floor)")
    ax.set_xlabel("supply voltage (V)")
    what = "written" if (done or below) and (done or below)[0]["energy_of"] == "write" else "read"
    ax.set_ylabel(f"energy per bit {what} (fJ)")
    ax.set_title("Energy per bit vs voltage (repeated, baseline-corrected captures)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
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
                 energy_target: float = 0.05, energy_words: int | None = None,
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
                                 energy_of=energy_of or ("write" if technology == "rram" else "read"),
                                 energy_target=energy_target, energy_words=energy_words)
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
        if (energy_words or 0) > b.info.mem_words:
            raise BenchError(f"--energy-words {energy_words}: exceeds the board's {b.info.mem_words}-word memory")
        if chip_id is None:
            chip_id_source = "none: the board cannot tell; give --chip-id"
        meta = {"chip_id": chip_id or UNKNOWN_CHIP, "chip_id_source": chip_id_source, "technology": technology,
                "board": {"url": board, "fw_version": b.info.fw_version, "target": b.info.target,
                          "boot_id": b.info.boot_id, "mem_words": b.info.mem_words},
                "supply": {"resource": supply, "channel": channel, **describe(s)}}
        with user_errors(SweepError):
            with user_errors(BoardError, prefix=f"board {board} lost mid-sweep: ",
                             suffix="; supply output switched off; run the same command again to resume"):
                with user_errors(SupplyError, EnergyCaptureError, prefix=f"supply {supply}: ",
                                 suffix="; run the same command again to resume"):
                    sweep = run_sweep(b, s, settings, out, meta, progress=progress)
    rows = read_rows(sweep.csv_path)
    energy = sweep.state["energy"]
    netcdf, _ = save_netcdf(out / SWEEP_FILE, sweep_dataset(rows, sweep.state))
    return Characterization(out, sweep, rows, summarize(rows, sweep.state["points"], energy), meta["chip_id"],
                            plot_sweep(rows, energy, out), netcdf, chip_id_source)


def pattern_list(patterns: str | tuple[str, ...]) -> tuple[str, ...]:
    """``"checkerboard,random"`` -> ``("checkerboard", "random")``."""
    if isinstance(patterns, str):
        return tuple(p.strip() for p in patterns.split(",") if p.strip())
    return tuple(patterns)
