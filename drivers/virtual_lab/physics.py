"""Ground-truth physics of the virtual chip, in Python (the C twin is ``firmware/ports/host/vchip.c``).

The two must agree bit-exactly on which cells are faulty (tested through the board's READ), so
both use the same integer hash and the same IEEE double formulas, in the same order.

Model [HARDWARE 2; ALGORITHMS 2 "persistent" and 3]:

* energy per bit access at rail voltage ``V``: ``E(V) = c * V**2 + l * V`` (dynamic
  ``C V^2`` plus a leakage term proportional to ``V`` over one access);
* fault probability at that energy: ``p(V) = min(p_max, exp(-(E(V) - E0) / beta))``, the
  exponential energy-reliability model [ALGORITHMS 3; seed 1 eq. 1];
* SRAM: cell ``a`` (global bit address, ``drivers/memory_layout.py``) has ``u_a`` uniform in
  [0, 1) and a stuck value ``s_a`` (1 with probability ``p_stuck_one``) from the chip seed; it
  is faulty iff ``u_a < p(V_read)`` (persistent, nested as ``V`` falls) and then reads ``s_a``;
  plus transient flips, fresh per read, at rate ``transient_ratio * p(V)``;
* RRAM: a write at programming voltage ``V`` fails for bit ``a`` with probability ``p(V)``
  computed with the *write* energy; a failed bit stores the complement of its target and stays
  so until the word is written again (persistent after the write). The draw is
  ``hash(seed, a, generation)`` where ``generation`` counts earlier writes of that word;
* the rail's static current besides the accesses [HARDWARE 7]: retention leakage of every bit,
  ``I_leak(V) = bits * leak_per_bit_a * exp(leak_dibl_per_v (V - nominal_v))
  * 2^((T - 25 C) / leak_doubling_c) * f_chip`` (``f_chip`` lognormal with ``leak_spread``,
  drawn from the seed: chip-to-chip variation), plus with ``core_on_rail`` the MCU core's
  ``core_current_a * V / nominal_v``. The supply simulator integrates it; the bench removes it
  with baseline windows;
* the host <-> board link: each request reaches the board ``link_latency_s`` plus a uniform
  ``[0, link_jitter_s)`` later (host firmware, drawn from the seed).

``Chip.ideal()`` is the same chip without static current and link latency: the exact physics
for tests that need exact numbers.

Per-cell draws: ``drivers/cell_hash.py`` (shared with the profile fault model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, asdict, fields, replace
from pathlib import Path

import numpy as np
import yaml

from drivers.board import MAX_CHIP_ID
from drivers.cell_hash import STREAM_STUCK, STREAM_THRESHOLD, STREAM_WRITE, uniforms

GENERATION_SHIFT = 40  # RRAM draw: bit address + (generation << 40)
TECHNOLOGIES = ("sram", "rram")
LEAK_REFERENCE_C = 25.0   # the temperature at which leak_per_bit_a is stated
LEAK_STREAM = 0x1EAC      # numpy stream of the chip's leakage factor: default_rng((seed, LEAK_STREAM))
MAX_CHIP_FILE_BYTES = 64 * 1024  # a chip file is a few hundred bytes


@dataclass(frozen=True)
class Chip:
    """A chip file's contents (``drivers/virtual_lab/chips/*.yaml``); all energies per bit."""

    chip_id: str
    technology: str = "sram"
    seed: int = 1
    mem_words: int = 4096
    c_read: float = 1.0e-15   # J/V^2 per bit read
    l_read: float = 0.0       # J/V per bit read (leakage over one access)
    c_write: float = 1.2e-15  # J/V^2 per bit written
    l_write: float = 0.0
    e0: float = 7.3e-17       # J, offset of the energy-reliability model
    beta: float = 4.53e-17    # J, its slope
    p_max: float = 0.5
    p_stuck_one: float = 0.5  # SRAM: P(s_a = 1); != 0.5 gives asymmetric flips
    transient_ratio: float = 0.0
    nominal_v: float = 1.1    # V: the rail's power-on setting in the lab (not a fault parameter)
    # rail and link physics besides the accesses (module docstring; HARDWARE 7)
    leak_per_bit_a: float = 1.1e-12  # A per bit at nominal_v, 25 C: nRF54L retention, 9.4 nA per KB (datasheet)
    leak_dibl_per_v: float = 2.6     # 1/V [choice: DIBL eta 0.1 / (n 1.5 * kT/q 25.7 mV); no fitted figure found]
    temperature_c: float | None = None  # die temperature (C); None: the 25 C reference
    leak_doubling_c: float = 10.0    # C per doubling of the leakage [choice: subthreshold rule of thumb]
    leak_spread: float = 0.2         # lognormal sigma of the chip's leakage factor [choice]
    core_on_rail: bool = False       # the MCU core shares the memory rail
    core_current_a: float = 0.0      # A at nominal_v while the core runs (with core_on_rail)
    link_latency_s: float = 5.0e-4   # one-way host -> board [estimate: USB full-speed frames of 1 ms]
    link_jitter_s: float = 1.0e-3    # uniform extra latency [estimate, same source]
    abs_max_v: float | None = None  # V: absolute maximum rating of the rail (a vmax above it is refused)

    def __post_init__(self):
        where = f"chip {self.chip_id!r}"
        if not (0 < len(self.chip_id) <= MAX_CHIP_ID and self.chip_id.isascii() and self.chip_id.isprintable()):
            raise ValueError(f"{where}: chip_id must be 1..{MAX_CHIP_ID} printable ASCII characters (the board "
                             f"answers it to IDENT)")
        if not isinstance(self.core_on_rail, bool):
            raise ValueError(f"{where}: core_on_rail must be true or false")
        numbers = {f.name: getattr(self, f.name) for f in fields(self)
                   if f.name not in ("chip_id", "technology", "core_on_rail")}
        bad = sorted(k for k, v in numbers.items() if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                                                         or not math.isfinite(v)))
        if bad:
            raise ValueError(f"{where}: {', '.join(bad)} must be finite numbers")
        if self.abs_max_v is not None and not 0 < self.nominal_v <= self.abs_max_v:
            raise ValueError(f"{where}: abs_max_v {self.abs_max_v} V must be at least nominal_v {self.nominal_v} V")
        if self.technology not in TECHNOLOGIES:
            raise ValueError(f"{where}: technology must be one of {TECHNOLOGIES}, got {self.technology!r}")
        if not (0 < self.p_max <= 1 and 0 <= self.p_stuck_one <= 1 and 0 <= self.transient_ratio <= 1):
            raise ValueError(f"{where}: p_max in (0,1], p_stuck_one and transient_ratio in [0,1]")
        if self.beta <= 0 or self.mem_words <= 0 or not 0 <= self.seed < 2**63:
            raise ValueError(f"{where}: beta > 0, mem_words > 0 and 0 <= seed < 2**63 required")
        if min(self.leak_per_bit_a, self.leak_spread, self.core_current_a, self.link_latency_s, self.link_jitter_s) < 0 \
                or self.leak_doubling_c <= 0:
            raise ValueError(f"{where}: leak_per_bit_a, leak_spread, core_current_a, link_latency_s and link_jitter_s "
                             f"must be >= 0, leak_doubling_c > 0")

    @classmethod
    def load(cls, path: str | Path) -> "Chip":
        path = Path(path)
        try:
            if not path.is_file():  # a folder, a device, a pipe: never read endlessly
                raise OSError("not a regular file" if path.exists() else "no such file")
            if path.stat().st_size > MAX_CHIP_FILE_BYTES:
                raise OSError(f"{path.stat().st_size} bytes, above the {MAX_CHIP_FILE_BYTES} of a chip file")
            raw = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
            raise ValueError(f"chip file {path}: cannot read: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
        if not isinstance(raw, dict):
            raise ValueError(f"chip file {path}: expected a mapping of fields")
        known = {f.name for f in fields(cls)}
        unknown = sorted(map(str, set(raw) - known))
        if unknown:
            raise ValueError(f"chip file {path}: unknown field(s) {unknown}; known: {sorted(known)}")
        if "chip_id" not in raw:
            raise ValueError(f"chip file {path}: field 'chip_id' is required")
        try:
            return cls(**raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"chip file {path}: {exc}") from exc

    def to_dict(self) -> dict:
        return asdict(self)

    def ideal(self) -> "Chip":
        """This chip without static current and link latency (exact energies, instant link)."""
        return replace(self, leak_per_bit_a=0.0, core_on_rail=False, core_current_a=0.0, link_latency_s=0.0,
                       link_jitter_s=0.0)

    # --- the rail's static current (module docstring) -------------------------------------

    def leakage_factor(self) -> float:
        """This chip's draw of the chip-to-chip leakage variation (lognormal, median 1)."""
        if self.leak_spread == 0:
            return 1.0
        return float(np.random.default_rng((self.seed, LEAK_STREAM)).lognormal(0.0, self.leak_spread))

    def static_current(self, volts: float) -> float:
        """A drawn by the rail at ``volts`` besides the accesses (0 when unpowered)."""
        if volts <= 0:
            return 0.0
        temp = LEAK_REFERENCE_C if self.temperature_c is None else self.temperature_c
        leak = (32 * self.mem_words * self.leak_per_bit_a * math.exp(self.leak_dibl_per_v * (volts - self.nominal_v))
                * 2.0 ** ((temp - LEAK_REFERENCE_C) / self.leak_doubling_c) * self.leakage_factor())
        core = self.core_current_a * volts / self.nominal_v if self.core_on_rail else 0.0
        return leak + core

    # --- energy and fault probability (scalar, same operation order as vchip.c) ---------

    def read_energy(self, volts: float) -> float:
        """J per bit read: ``c V^2 + l V`` [HARDWARE 2]."""
        return self.c_read * volts * volts + self.l_read * volts

    def write_energy(self, volts: float) -> float:
        return self.c_write * volts * volts + self.l_write * volts

    def access_energy(self, words_read: int, words_written: int, volts: float) -> float:
        """J drawn by that many 32-bit word reads and writes at rail voltage ``volts``."""
        return 32 * (words_read * self.read_energy(volts) + words_written * self.write_energy(volts))

    def fault_probability(self, energy: float) -> float:
        """``min(p_max, exp(-(E - E0) / beta))`` [ALGORITHMS 3; seed 1 eq. 1]."""
        x = (energy - self.e0) / self.beta
        return min(self.p_max, math.exp(-x))

    def p_read(self, volts: float) -> float:
        """Persistent SRAM fault probability at read voltage ``volts`` (0 for RRAM)."""
        return self.fault_probability(self.read_energy(volts)) if self.technology == "sram" else 0.0

    def p_write(self, volts: float) -> float:
        """RRAM write-failure probability at programming voltage ``volts`` (0 for SRAM)."""
        return self.fault_probability(self.write_energy(volts)) if self.technology == "rram" else 0.0

    # --- which cells are faulty (arrays over words) ---------------------------------------

    def _bit_index(self, word_addr: np.ndarray) -> np.ndarray:
        words = np.asarray(word_addr, dtype=np.uint64)
        return words[:, None] * np.uint64(32) + np.arange(32, dtype=np.uint64)[None, :]

    @staticmethod
    def _pack(bits: np.ndarray) -> np.ndarray:
        weights = np.uint64(1) << np.arange(32, dtype=np.uint64)
        return (bits.astype(np.uint64) * weights).sum(axis=1).astype(np.uint32)

    def fault_mask(self, word_addr: np.ndarray, volts: float) -> np.ndarray:
        """SRAM: uint32 mask per word of the persistently faulty cells at ``volts``."""
        p = self.p_read(volts)
        return self._pack(uniforms(self.seed, STREAM_THRESHOLD, self._bit_index(word_addr)) < p)

    def stuck_values(self, word_addr: np.ndarray) -> np.ndarray:
        """SRAM: uint32 per word of the values the faulty cells read (bit set iff ``s_a = 1``)."""
        return self._pack(uniforms(self.seed, STREAM_STUCK, self._bit_index(word_addr)) < self.p_stuck_one)

    def sram_read(self, word_addr: np.ndarray, stored: np.ndarray, volts: float) -> np.ndarray:
        """What a read at ``volts`` returns for ``stored`` words, without the transient part."""
        mask = self.fault_mask(word_addr, volts)
        return (np.asarray(stored, dtype=np.uint32) & ~mask) | (self.stuck_values(word_addr) & mask)

    def rram_write(self, word_addr: np.ndarray, target: np.ndarray, volts: float, generation: int = 0) -> np.ndarray:
        """What the RRAM stores after writing ``target`` at ``volts`` (``generation``-th write)."""
        index = self._bit_index(word_addr) + (np.uint64(generation) << np.uint64(GENERATION_SHIFT))
        failed = self._pack(uniforms(self.seed, STREAM_WRITE, index) < self.p_write(volts))
        return np.asarray(target, dtype=np.uint32) ^ failed

    def expected_ber(self, volts: float, ones_fraction: float = 0.5) -> dict:
        """Expected read BER of a pattern with ``ones_fraction`` ones (SRAM, read at ``volts``).

        A faulty cell shows an error only when the stored bit differs from ``s_a``; transient
        flips (rate ``q = t p``) hit every cell and undo a visible stuck error:
        ``P(0->1 | stored 0) = p P1 (1-q) + (1 - p P1) q`` and symmetrically for 1->0.
        """
        p = self.p_read(volts)
        q = self.transient_ratio * p
        p01 = p * self.p_stuck_one * (1 - q) + (1 - p * self.p_stuck_one) * q
        p10 = p * (1 - self.p_stuck_one) * (1 - q) + (1 - p * (1 - self.p_stuck_one)) * q
        return {"p": p, "p01": p01, "p10": p10, "ber": (1 - ones_fraction) * p01 + ones_fraction * p10}

    def host_options(self) -> list[str]:
        """Command-line options of the host firmware's virtual chip (vchip.c) for this chip."""
        opts = {"--chip-tech": self.technology, "--chip-seed": str(self.seed), "--mem-words": str(self.mem_words),
                "--chip-c-read": repr(self.c_read), "--chip-l-read": repr(self.l_read),
                "--chip-c-write": repr(self.c_write), "--chip-l-write": repr(self.l_write),
                "--chip-e0": repr(self.e0), "--chip-beta": repr(self.beta), "--chip-pmax": repr(self.p_max),
                "--chip-p1": repr(self.p_stuck_one), "--chip-transient": repr(self.transient_ratio),
                "--chip-id": self.chip_id, "--link-latency": repr(self.link_latency_s),
                "--link-jitter": repr(self.link_jitter_s), "--link-seed": str(self.seed)}
        return [x for kv in opts.items() for x in kv]


CHIPS_DIR = Path(__file__).with_name("chips")
DEFAULT_CHIP = CHIPS_DIR / "sram_demo.yaml"
