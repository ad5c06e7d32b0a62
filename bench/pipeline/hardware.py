"""The board and the supply for stages 4 and 5, opened once per run as a shared resource.

``hardware: virtual`` (or ``{kind: virtual, chip: FILE, supply: MODEL|ppk2, meter: ppk2,
physics: realistic|ideal}``) starts the virtual lab (drivers/virtual_lab; default the realistic
physics and the N6705C model) and stops it when the run ends; ``{kind: board, board: URL,
supply: RESOURCE, channel: N, vmax: V, watchdog_s: S}`` (or ``--hardware FILE`` holding that
mapping) uses real instruments. An energy meter beside the supply: ``meter: ppk2:PORT`` or
``meter: joulescope[:SERIAL]``; a PPK2 powering the rail: ``supply: ppk2:PORT``; in the virtual
lab ``meter: ppk2`` or ``supply: ppk2`` use its simulated PPK2 (``bench/instruments.py``). The
energies are measured through the rail's energy meter with the repeated, baseline-corrected
method (``drivers/energy``). Whatever ends the run (success, error, Ctrl-C, SIGTERM, SIGHUP, a
lost board), the supply's ``close()`` runs (output off, read back, one line saying so) before
the board and the lab are closed; on a supply with an output watchdog (``watchdog_s``, default
``drivers.supplies.base.WATCHDOG_S``) a killed run's output goes off by itself.

Nominal voltage: the profile's (``Profile.nominal_volts``); ``vmax`` defaults to
``VMAX_MARGIN`` x nominal [choice], capped at the absolute maximum that the profile or the
virtual lab's chip file states (``bench.rail_limits``); a ``vmax`` above it is refused before
any training.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from bench.errors import BenchError, user_errors
from bench.instruments import check_specs, energy_meter, lab_ppk2_role, open_rail, supply_model
from bench.rail_limits import RailLimits, check_vmax
from drivers.board import Board
from drivers.energy import CaptureLog, CaptureSettings, IdleBaseline, RepeatedCapture
from drivers.supplies.base import WATCHDOG_S
from drivers.virtual_lab.lab import PHYSICS, VirtualLab
from drivers.virtual_lab.physics import DEFAULT_CHIP, Chip
from models.profile import Profile
from models.profile.units import parse_quantity

VMAX_MARGIN = 1.2
CURRENT_LIMIT_A = 0.5


def hardware_spec(value: Any) -> dict:
    """``virtual`` / a mapping / a YAML file path -> the hardware mapping (errors name the option)."""
    if value in (None, "virtual"):
        return {"kind": "virtual"}
    if isinstance(value, Mapping):
        spec = dict(value)
    else:
        path = Path(str(value))
        if not path.is_file():
            raise BenchError(f"--hardware {value}: expected 'virtual' or a YAML file with board:, supply:, channel:")
        spec = yaml.safe_load(path.read_text()) or {}
        spec.setdefault("kind", "board")
    if spec.get("kind") == "board" and not (spec.get("board") and spec.get("supply")):
        raise BenchError(f"hardware {value}: kind board needs 'board' (serial URL) and 'supply' (VISA resource)")
    if spec.get("kind") not in ("virtual", "board"):
        raise BenchError(f"hardware {value}: kind must be 'virtual' or 'board'")
    if spec.get("physics", "realistic") not in PHYSICS:
        raise BenchError(f"hardware {value}: physics must be one of {', '.join(PHYSICS)}")
    check_specs(spec.get("supply"), spec.get("meter"), spec["kind"] == "virtual", f"hardware {value}")
    return spec


class Bench:
    """One board + one supply channel, with the few operations the pipeline needs."""

    def __init__(self, board, supply, nominal_volts: float, label: str):
        self.board, self.supply, self.nominal_volts, self.label = board, supply, nominal_volts, label
        self.loaded_blob: bytes | None = None
        self._volts: float | None = None
        self._on = False

    def identity(self) -> str:
        i = self.board.info
        return f"{self.label}: firmware {i.fw_version} ({i.target}), {i.mem_words} words"

    def set_volts(self, volts: float) -> None:
        """Rail to ``volts`` (output on); the setpoint is sent only when it changes."""
        if self._volts is None or abs(self._volts - volts) > 1e-9:
            self.supply.volts = volts
            self._volts = volts
        if not self._on:
            self.supply.output_enabled = True
            self._on = True

    def load(self, blob: bytes, words: np.ndarray) -> None:
        if len(words) > self.board.info.mem_words:
            raise BenchError(f"deploy: the model needs {len(words)} words of weight memory, the board has "
                             f"{self.board.info.mem_words}; choose a smaller --width or --arch")
        self.board.deploy(blob, words)
        self.loaded_blob = blob

    def ensure_loaded(self, blob: bytes, words: np.ndarray) -> None:
        """A resumed run talks to a fresh board: load the model again if this session did not."""
        if self.loaded_blob != blob:
            self.load(blob, words)

    def read(self, base_word: int, n_words: int) -> np.ndarray:
        return self.board.read(base_word, n_words)

    def start(self, x) -> None:
        self.board.step_input(x)

    def step(self):
        r = self.board.step()
        return r.scores if r.done else None

    def energy_capture(self, settings: CaptureSettings, log: CaptureLog) -> RepeatedCapture:
        """The repeated, baseline-corrected energy method (drivers/energy) on this rail's energy
        meter (the supply's own measurement, or the meter beside it) and board."""
        return RepeatedCapture(energy_meter(self.supply), IdleBaseline(self.board), settings, log)


def lab_chip(spec: Mapping[str, Any]) -> Chip:
    """The chip the virtual lab of ``spec`` emulates; a file that is no chip file is one line."""
    with user_errors(ValueError, prefix="experiment.hardware.chip: "):
        return Chip.load(spec.get("chip") or DEFAULT_CHIP)


def known_memory_words(spec: Mapping[str, Any]) -> int | None:
    """Size of the memory under test when it is known before connecting: the virtual lab's
    chip file states it (like a board's datasheet); a real board tells it in HELLO."""
    if spec["kind"] != "virtual":
        return None
    return lab_chip(spec).mem_words


def virtual_chip(spec: Mapping[str, Any], profile: Profile) -> dict | None:
    """For ``kind: virtual``: the chip the lab emulates and whether it is the profile's chip,
    i.e. the chip file the profile links (``experiment.hardware.chip``) or the chip the profile
    was calibrated on (``provenance.chip_id``). Another chip (a user profile without a link
    gets the lab's default SRAM demo chip) makes predictions and measurements incomparable.
    ``None`` for real instruments: the bench cannot know their chip."""
    if spec["kind"] != "virtual":
        return None
    path = Path(spec.get("chip") or DEFAULT_CHIP)
    chip = lab_chip(spec)
    linked = (profile.experiment.get("hardware") or {}).get("chip")
    same_file = linked is not None and Path(linked).resolve() == path.resolve()
    calibrated_on = profile.data.get("provenance", {}).get("chip_id") == chip.chip_id
    return {"chip_id": chip.chip_id, "chip_file": str(path), "technology": chip.technology,
            "matches_profile": bool(same_file or calibrated_on),
            "why": ("linked by the profile" if same_file else "the profile was calibrated on it" if calibrated_on
                    else f"the profile {profile.data['name']!r} does not link it (experiment.hardware.chip) "
                         f"and was not calibrated on it")}


def rail_vmax(spec: Mapping[str, Any], profile: Profile) -> float:
    """The run's ``vmax``: the hardware's, else ``VMAX_MARGIN`` x nominal capped at the stated
    absolute maximum; refused above that maximum (profile and, on the virtual lab, chip file)."""
    limits = RailLimits.of_profile(profile)
    if spec["kind"] == "virtual":
        limits = limits.tightest(RailLimits.of_chip(spec.get("chip") or DEFAULT_CHIP))
    if spec.get("vmax") is not None:
        with user_errors(ValueError, prefix="hardware vmax: "):
            vmax = parse_quantity(spec["vmax"], "voltage")
    else:
        vmax = VMAX_MARGIN * profile.nominal_volts
        vmax = vmax if limits.abs_max is None else min(vmax, limits.abs_max)
    check_vmax(vmax, limits, "hardware vmax")
    return vmax


def check_memory(need_words: int, config: Mapping[str, Any]) -> None:
    """Fail before training when the network does not fit the board's memory (when known)."""
    available = known_memory_words(hardware_spec(config["hardware"]))
    if available is not None and need_words > available:
        t = config["train"]
        raise BenchError(f"--width {t['width']:g}: {t['arch']} needs {need_words} words of weight memory, the virtual "
                         f"chip has {available}; choose a smaller --width (or --arch)")


def open_bench(ctx) -> Bench:
    """The run's board + supply (opened on first use; closed when the run ends)."""
    return ctx.resources.get("bench", lambda stack: _open(stack, ctx.config, ctx.profile))


def _open(stack: contextlib.ExitStack, config: Mapping[str, Any], profile: Profile) -> Bench:
    spec = hardware_spec(config["hardware"])
    v_nom = profile.nominal_volts
    vmax = rail_vmax(spec, profile)
    lab = None
    if spec["kind"] == "virtual":
        lab = stack.enter_context(VirtualLab(spec.get("chip"), supply=supply_model(spec.get("supply")),
                                             physics=spec.get("physics", "realistic"),
                                             ppk2=lab_ppk2_role(spec.get("supply"), spec.get("meter"))))
        board_url, channel, label = lab.board_url, 1, f"virtual lab ({lab.chip_id})"
    else:
        board_url, channel, label = spec["board"], int(spec.get("channel", 1)), spec["board"]
    # errors name the instrument; bench run turns them into one resumable error line. Leaving
    # the stack closes the rail: output off, read back, one line saying so; then released.
    supply = stack.enter_context(open_rail(spec.get("supply"), spec.get("meter"), lab=lab, channel=channel,
                                           vmax=vmax, imax=CURRENT_LIMIT_A,
                                           watchdog_s=float(spec.get("watchdog_s", WATCHDOG_S))))
    board = stack.enter_context(Board(board_url))
    return Bench(board, supply, v_nom, label)
