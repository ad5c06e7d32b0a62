"""bench characterize against the virtual lab: BER vs the chip's ground truth, nesting, energy, resume."""

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import pyvisa

from bench.characterize import CSV_COLUMNS, SweepError, SweepSettings, run_sweep
from drivers.board import Board, pattern_words
from drivers.energy import read_captures
from drivers.faultmap import read_faultmap
from drivers.supplies import open_supply
from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip

SETTINGS = dict(vmin=0.5, vmax=0.8, steps=4, patterns=("checkerboard", "random"), repeats=3, n_words=1024,
                settle_s=0.0)


def output_state(resource) -> str:
    rm = pyvisa.ResourceManager("@py")
    r = rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=2000)
    try:
        return r.query("OUTP? (@1)")
    finally:
        r.close()
        rm.close()


def sweep(lab, out, settings, progress=None):
    with Board(lab.board_url) as board, open_supply(lab.supply_resource, vmax=settings.vmax, imax=0.1) as supply:
        return run_sweep(board, supply, settings, out, {"chip_id": lab.chip_id}, progress=progress)


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_matches_ground_truth(virtual_lab, tmp_path):
    chip = Chip.load(DEFAULT_CHIP)
    settings = SweepSettings(**SETTINGS)
    out = tmp_path / "sw"
    sweep(virtual_lab, out, settings)
    assert output_state(virtual_lab.supply_resource) == "0"  # left safe

    with open(out / "sweep.csv", newline="") as f:
        assert next(csv.reader(f)) == CSV_COLUMNS
    rows = rows_of(out / "sweep.csv")
    assert len(rows) == 4 * 2 * 3
    state = json.loads((out / "sweep.json").read_text())
    assert state["complete"] and state["chip_id"] == chip.chip_id and state["seeds"]["random_pattern"] == 1
    assert [p["voltage_V"] for p in state["points"][::2]] == [0.8, 0.7, 0.6, 0.5]  # safe order: down from vmax
    # the N6781A's voltage readback: within its gain and offset, not exact
    assert state["measured_voltage_V"] == pytest.approx({"0.8000": 0.8, "0.7000": 0.7, "0.6000": 0.6, "0.5000": 0.5},
                                                        abs=1e-3)

    for pattern in settings.patterns:
        written = pattern_words(pattern, 0, settings.n_words, settings.pattern_seed)
        ones = np.unpackbits(written.view(np.uint8)).mean()
        for v in settings.voltages():
            sel = [r for r in rows if r["pattern"] == pattern and float(r["voltage_V"]) == v]
            bits = int(sel[0]["bits"])
            flips = np.mean([int(r["flips_0to1"]) + int(r["flips_1to0"]) for r in sel])
            expect = bits * chip.expected_ber(v, ones)["ber"]
            # per-read binomial bound (4 sigma) around the ground truth
            assert abs(flips - expect) <= 4 * math.sqrt(expect) + 2, (pattern, v, flips, expect)
            f01 = np.mean([int(r["flips_0to1"]) for r in sel])
            f10 = np.mean([int(r["flips_1to0"]) for r in sel])
            if v == 0.5:  # P(s=1) = 0.7: more 0->1 than 1->0 flips
                assert f01 > f10

    # energy per bit read: the chip's E(V) within the method's interval (realistic lab: leakage,
    # instrument noise), growing with V; every row of a voltage carries its voltage's energy
    energy = {e["voltage_V"]: e for e in state["energy"]}
    assert sorted(energy) == sorted(settings.voltages())
    covered = 0
    for v, e in energy.items():
        lo, hi = e["ci_per_bit_J"]
        assert abs(e["energy_per_bit_J"] / chip.read_energy(v) - 1) <= 0.05, (v, e)
        covered += lo <= chip.read_energy(v) <= hi
        assert e["method"] == "array" and e["pairs"] >= 3 and len(e["pairs_per_bit_J"]) == e["pairs"]
        assert all(float(r["energy_per_bit_J"]) == pytest.approx(e["energy_per_bit_J"], rel=1e-5)
                   for r in rows if float(r["voltage_V"]) == v)
    assert covered >= 3
    vs = sorted(energy)
    assert all(energy[a]["energy_per_bit_J"] < energy[b]["energy_per_bit_J"] for a, b in zip(vs, vs[1:]))
    assert {c["measurement"] for c in read_captures(out)} >= {f"{v:.4f} V" for v in vs}

    # fault maps nest as V falls: every persistent flip at V is flipped at every lower V
    for pattern in settings.patterns:
        persistent = []
        for v in settings.voltages():
            fmap = read_faultmap(out / "faultmaps" / f"v{v:.4f}_{pattern}.npz")
            assert fmap.operating_point["voltage_V"] == v and fmap.n_reads == 3
            planes = fmap.bit_plane(fmap.xor)
            persistent.append(planes.all(axis=0))
            assert fmap.chip_id == chip.chip_id
        for high, low in zip(persistent, persistent[1:]):
            assert not np.any(high & ~low)
        assert persistent[-1].sum() > persistent[1].sum() > 0
    split = {(p["voltage_V"], p["pattern"]): (p["persistent_bits"], p["transient_bits"]) for p in state["points"]}
    assert split[(0.5, "checkerboard")][0] > 50 and split[(0.5, "checkerboard")][1] > 0  # chip has transients


def test_interrupted_sweep_resumes_and_leaves_supply_off(virtual_lab, tmp_path):
    settings = SweepSettings(**{**SETTINGS, "steps": 3, "repeats": 2, "n_words": 256, "vmax": 0.7})
    out = tmp_path / "sw"
    reads = []

    def interrupt(n, what):
        reads.append(n)
        if sum(reads) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(virtual_lab, out, settings, progress=interrupt)
    assert output_state(virtual_lab.supply_resource) == "0"
    state = json.loads((out / "sweep.json").read_text())
    assert not state["complete"] and len(state["points"]) == 2 and len(state["energy"]) == 1
    assert len(rows_of(out / "sweep.csv")) == 4
    kept = len(read_captures(out))

    sweep(virtual_lab, out, settings)
    state = json.loads((out / "sweep.json").read_text())
    assert state["complete"] and state["resumed"] == 1 and len(state["points"]) == 6 and len(state["energy"]) == 3
    rows = rows_of(out / "sweep.csv")
    keys = [(r["voltage_V"], r["pattern"], r["repeat"]) for r in rows]
    assert len(rows) == 12 and len(set(keys)) == 12 and all(r["energy_per_bit_J"] for r in rows)
    assert len(read_captures(out)) > kept   # the resumed sweep's captures are added to the first ones

    with pytest.raises(SweepError, match="other settings"):
        sweep(virtual_lab, out, SweepSettings(**{**SETTINGS, "steps": 2}))


def test_settings_errors_name_the_option():
    with pytest.raises(SweepError, match="--patterns"):
        SweepSettings(vmin=0.5, vmax=1.0, steps=3, patterns=("stripes",))
    with pytest.raises(SweepError, match="--vmin"):
        SweepSettings(vmin=1.2, vmax=1.0, steps=3)


@pytest.mark.slow
def test_cli_starts_the_virtual_lab_and_writes_everything(tmp_path):
    out = tmp_path / "cli"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "bench.cli", "characterize", "--vmin", "0.55", "--vmax", "0.75", "--steps", "2",
           "--repeats", "2", "--words", "256", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("sweep.csv", "sweep.json", "ber_vs_voltage.png", "energy_vs_voltage.png"):
        assert (out / name).stat().st_size > 0
    assert len(list((out / "faultmaps").glob("*.npz"))) == 4
    assert "energy/bit" in proc.stdout
    bad = subprocess.run(cmd[:-2] + ["--patterns", "stripes", "--out", str(out)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert bad.returncode == 2 and "--patterns" in bad.stderr


def test_running_lab_names_its_chip(virtual_lab, tmp_path):
    """--board/--supply of a lab started elsewhere, no --chip-id: the board answers IDENT with
    the lab's chip id (firmware/PROTOCOL.md), recorded in sweep.json and in every fault map."""
    from bench.characterize import characterize

    with Board(virtual_lab.board_url) as board:
        assert board.chip_id() == virtual_lab.chip_id
    c = characterize(tmp_path / "s", 0.7, 0.75, 2, board=virtual_lab.board_url, supply=virtual_lab.supply_resource,
                     repeats=1, words=64, settle=0.0)
    assert c.chip_id == virtual_lab.chip_id != "unknown-chip" and c.chip_id_source == "the board (IDENT)"
    state = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert state["chip_id"] == virtual_lab.chip_id
    assert {read_faultmap(f).chip_id for f in (tmp_path / "s" / "faultmaps").glob("*.npz")} == {virtual_lab.chip_id}
    named = characterize(tmp_path / "n", 0.7, 0.75, 2, board=virtual_lab.board_url,
                         supply=virtual_lab.supply_resource, chip_id="bench-7", repeats=1, words=64, settle=0.0)
    assert named.chip_id == "bench-7" and named.chip_id_source == "--chip-id"


def test_rram_sweep_of_programming_energy(tmp_path):
    from drivers.virtual_lab.lab import VirtualLab
    from drivers.virtual_lab.physics import CHIPS_DIR

    chip = Chip.load(CHIPS_DIR / "rram_lowpower.yaml")
    settings = SweepSettings(vmin=0.7, vmax=0.9, steps=2, patterns=("random",), repeats=2, n_words=512,
                             settle_s=0.0, energy_of="write")
    with VirtualLab(CHIPS_DIR / "rram_lowpower.yaml") as lab:
        sweep(lab, tmp_path / "rr", settings)
    rows = rows_of(tmp_path / "rr" / "sweep.csv")
    state = json.loads((tmp_path / "rr" / "sweep.json").read_text())
    for v in settings.voltages():
        sel = [r for r in rows if float(r["voltage_V"]) == v]
        flips = np.mean([int(r["flips_0to1"]) + int(r["flips_1to0"]) for r in sel])
        expect = int(sel[0]["bits"]) * chip.p_write(v)  # every failed write reads back wrong
        assert abs(flips - expect) <= 4 * math.sqrt(expect) + 2, (v, flips, expect)
        e = next(e for e in state["energy"] if e["voltage_V"] == v)
        assert e["energy_of"] == "write" and e["bits_per_run"] == 32 * 512
        assert abs(e["energy_per_bit_J"] / chip.write_energy(v) - 1) <= 0.05, e
    assert state["settings"]["energy_of"] == "write"
    # RRAM write errors are drawn again by every write: at 0.7 V almost none repeat across repeats
    low = state["points"][-1]
    assert low["voltage_V"] == 0.7 and low["transient_bits"] > 20 * max(low["persistent_bits"], 1)


def _row(v, pattern, flips, bits=4096):
    return {"voltage_V": v, "pattern": pattern, "repeat": 0, "bits": bits, "flips_0to1": flips, "flips_1to0": 0,
            "ber": flips / bits, "ber_0to1": 2 * flips / bits, "ber_1to0": 0.0, "energy_per_bit_J": 1e-15}


def test_ber_plot_shows_zero_error_voltages_at_their_upper_bound():
    from bench.characterize import ber_figure
    from models.plots import plt

    rows = [_row(v, "ones", f) for v, f in ((1.2, 0), (1.1, 0), (0.9, 3), (0.8, 40))]
    rows += [_row(v, "ones", f) for v, f in ((1.2, 0),)]  # a second repeat: N = 8192 bits at 1.2 V
    fig = ber_figure(rows)
    try:
        ax = fig.axes[0]
        drawn = {tuple(line.get_xdata()): list(line.get_ydata()) for line in ax.get_lines()}
        assert drawn[(0.8, 0.9)] == pytest.approx([40 / 4096, 3 / 4096])
        assert drawn[(1.1, 1.2)] == pytest.approx([3 / 4096, 3 / 8192])  # hollow markers, 3/N
        assert "(V)" in ax.get_xlabel() and "errors per bit read" in ax.get_ylabel()
        assert "0 errors in N bits read" in ax.get_title()
        assert fig._suptitle.get_fontsize() >= 12   # the title reads at report size
    finally:
        plt.close(fig)


def test_sweep_table_says_what_persistent_and_transient_count():
    from rich.console import Console

    from bench.commands.characterize import sweep_table

    summary = [{"voltage_V": 0.7, "ber": 0.01, "ber_0to1": 0.01, "ber_1to0": 0.01, "persistent_bits": 41,
                "transient_bits": 205, "tested_bits": 8192,
                "energy": {"energy_per_bit_J": 2e-15, "ci_per_bit_J": [1.9e-15, 2.1e-15], "repeat": 40, "pairs": 3}},
               {"voltage_V": 0.6, "ber": 0.02, "ber_0to1": 0.02, "ber_1to0": 0.02, "persistent_bits": 82,
                "transient_bits": 300, "tested_bits": 8192,
                "energy": {"energy_per_bit_J": None, "floor_per_bit_J": 3e-15, "repeat": 65535, "pairs": 3}}]
    console = Console(width=120, record=True, file=open("/dev/null", "w"))
    console.print(sweep_table(summary, "sweep"))
    text = console.export_text()
    assert "persistent bits" in text and "41 (0.005)" in text and "205 (0.025)" in text
    assert "2 fJ [1.9, 2.1] (40 x 3)" in text and "below resolution: floor 3 fJ" in text
    assert "bits flipped in every read" in " ".join(text.split())
