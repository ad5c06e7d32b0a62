"""Replay of recorded fault maps (``drivers/faultmap.py``) on the fault-model interface. [ALGORITHMS 2]

A recorded *read* says, per global bit address of the weight memory, whether the cell read
back wrong and what it returned. Applied through ``FaultSite.addresses`` (the layout the
exporter and firmware use), it corrupts exactly the weights the board corrupted.

* ``mode="stuck"`` (default): a cell that read wrong returns the value it read, whatever is
  stored (exact for persistent stuck-at faults and any weights; record ``zeros`` and ``ones``,
  or the deployed ``weights``, to see every stuck cell);
* ``mode="xor"``: the recorded flips are applied as they are.

Maps at one operating point with the same repeat index are merged into one read (e.g. the
``zeros`` and ``ones`` patterns, or several regions). Deterministic: ``draws=K`` returns reads
``c, c+1, ..., c+K-1`` (mod the number of reads) where ``c`` is a per-layer cursor that then
advances by ``K`` (by 1 without ``draws``), so Monte-Carlo evaluation cycles through the
recorded reads and every layer sees the same read in the same draw. ``rate`` and the
generator are ignored: the recording fixes the faults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from drivers.faultmap import FaultMap, list_faultmaps, read_faultmap
from drivers.memory_layout import LayerRegion
from models.evaluation import accuracies_with_masks, sample_masks
from models.faults import FaultModel, FaultSite, bits_to_mask, stored_bits
from models.layers import ensure_memory_map, stored_layers

REPLAY_MODES = ("stuck", "xor")


@dataclass
class RecordedRead:
    """One read over ``[first_bit, first_bit + n)``: which cells read wrong and what they returned."""

    label: str
    first_bit: int
    wrong: np.ndarray   # bool [n]
    value: np.ndarray   # uint8 [n], the value read (meaningful where ``wrong``)

    @property
    def end_bit(self) -> int:
        return self.first_bit + len(self.wrong)


def operating_point_name(fmap: FaultMap) -> str:
    return str(fmap.operating_point["name"])


def recorded_reads(maps: Sequence[FaultMap]) -> list[RecordedRead]:
    """Merge maps of one operating point by repeat index (patterns, regions) into reads."""
    ops = {operating_point_name(m) for m in maps}
    if len(ops) != 1:
        raise ValueError(f"fault maps of {len(ops)} operating points ({', '.join(sorted(ops))}); replay one at a time")
    (op,) = ops
    first = min(m.first_bit for m in maps)
    end = max(m.first_bit + m.n_bits for m in maps)
    reads = []
    for rep in sorted({r for m in maps for r in m.repeats}):
        wrong = np.zeros(end - first, dtype=bool)
        value = np.zeros(end - first, dtype=np.uint8)
        for m in maps:
            if rep not in m.repeats:
                continue
            i = m.repeats.index(rep)
            sl = slice(m.first_bit - first, m.first_bit - first + m.n_bits)
            xor = m.bit_plane(m.xor[i]).astype(bool)
            got = m.bit_plane(m.read(i))
            wrong[sl] |= xor
            value[sl] = np.where(xor, got, value[sl])
        reads.append(RecordedRead(f"{op} repeat {rep}", first, wrong, value))
    return reads


class ReplayFaults(FaultModel):
    """Applies recorded reads (see the module docstring); ``sources``: files they came from."""

    def __init__(self, reads: Sequence[RecordedRead], mode: str = "stuck", sources: Sequence[str] = ()):
        if mode not in REPLAY_MODES:
            raise ValueError(f"replay mode {mode!r}: expected one of {REPLAY_MODES}")
        if not reads:
            raise ValueError("no recorded reads to replay")
        self.reads, self.mode, self.sources = list(reads), mode, list(sources)
        self._cursor: dict[str, int] = {}
        self._planes: dict[LayerRegion, tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def from_files(cls, paths: Sequence[str | os.PathLike], mode: str = "stuck",
                   operating_point: str | None = None) -> "ReplayFaults":
        """Maps from files or folders (recursively), optionally only one operating point's."""
        files = [f for p in paths for f in (list_faultmaps(p) if Path(p).is_dir() else [Path(p)])]
        maps = [read_faultmap(f) for f in files]
        if operating_point is not None:
            keep = [i for i, m in enumerate(maps) if operating_point_name(m) == operating_point]
            if not keep:
                have = sorted({operating_point_name(m) for m in maps})
                raise ValueError(f"no fault map at operating point {operating_point!r} (have: {', '.join(have)})")
            maps, files = [maps[i] for i in keep], [files[i] for i in keep]
        return cls(recorded_reads(maps), mode, [str(f) for f in files])

    @property
    def n_reads(self) -> int:
        return len(self.reads)

    def reset(self) -> None:
        self._cursor.clear()

    def _layer_planes(self, site: FaultSite) -> tuple[torch.Tensor, torch.Tensor]:
        """``[reads, *weight_shape, bits]`` wrong / value planes for ``site`` (cached)."""
        key = site.region  # frozen, hashable: the planes of one region
        if key not in self._planes:
            addr = site.addresses
            lo, hi = int(addr.min()), int(addr.max()) + 1
            first, end = self.reads[0].first_bit, self.reads[0].end_bit
            if lo < first or hi > end:
                raise ValueError(f"layer {site.name} occupies bits [{lo}, {hi}) (words {lo // 32}..{(hi - 1) // 32}) "
                                 f"but the fault maps cover bits [{first}, {end}) only; "
                                 + record_hint(lo // 32, (hi - 1) // 32 + 1))
            idx = addr - first
            self._planes[key] = (torch.from_numpy(np.stack([r.wrong[idx] for r in self.reads])),
                                 torch.from_numpy(np.stack([r.value[idx] for r in self.reads])))
        return self._planes[key]

    def check_coverage(self, net) -> None:
        """``ValueError`` unless the maps cover every stored layer of ``net``: it says how many
        words the whole model needs and how to record maps that large."""
        lo, hi = weight_words(net)
        regions = stored_layers(net)
        first, end = self.reads[0].first_bit // 32, self.reads[0].end_bit // 32
        if lo < first or hi > end:
            raise ValueError(f"the model's weights occupy words {lo}..{hi - 1} ({hi - lo} words, {len(regions)} "
                             f"layers) but the fault maps cover words {first}..{end - 1} ({end - first} words) only; "
                             + record_hint(lo, hi))

    def read_indices(self, site: FaultSite, draws: int | None) -> list[int]:
        """Reads used by the next call for ``site`` (advances its cursor)."""
        k = draws or 1
        c = self._cursor.get(site.name, 0)
        self._cursor[site.name] = c + k
        return [(c + d) % self.n_reads for d in range(k)]

    def flip_mask(self, site, codes, rate, generator, draws=None):
        wrong, value = self._layer_planes(site)
        sel = torch.tensor(self.read_indices(site, draws))
        wrong, value = wrong[sel], value[sel]
        if self.mode == "stuck":
            stored = stored_bits(codes, site.bits_per_weight).cpu().to(torch.uint8)
            flips = wrong & (value != stored)
        else:
            flips = wrong
        mask = bits_to_mask(flips, codes.dtype).to(codes.device)
        return mask if draws else mask[0]

    def describe(self):
        return {"kind": "replay", "paths": self.sources, "mode": self.mode, "reads": self.n_reads}


def weight_words(net) -> tuple[int, int]:
    """``[first, end)``: the words of weight memory the stored layers of ``net`` occupy."""
    ensure_memory_map(net)
    regions = [m.fault_site.region for _, m in stored_layers(net)]
    return min(r.base_word for r in regions), max(r.end_word for r in regions)


def record_hint(first_word: int, end_word: int) -> str:
    """How to record maps over words ``[first_word, end_word)`` (docs/FAULTMAP_FORMAT.md)."""
    return (f"record maps over at least {end_word - first_word} words from word {first_word}: bench characterize "
            f"--base-word {first_word} --words {end_word - first_word} --patterns zeros,ones ... "
            f"(docs/FAULTMAP_FORMAT.md)")


def replay_accuracies(net, x: torch.Tensor, y: torch.Tensor, model: ReplayFaults) -> list[float]:
    """Accuracy under each recorded read of ``model``, in read order."""
    model.check_coverage(net)
    model.reset()
    masks = sample_masks(net, model, {}, torch.Generator(), model.n_reads)
    return accuracies_with_masks(net, x, y, masks, model.n_reads).tolist()
