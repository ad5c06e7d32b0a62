"""Which fault models exist: a run's ``faults`` description -> the fault model.

A description is ``{"kind": KIND, **fields}`` (``TrainConfig.faults``, default the BSC); every
fault model's ``describe()`` returns one, so a run rebuilds its fault model from its config.
The built-in kinds are listed here explicitly; :func:`register_fault_model` adds another.
"""

from __future__ import annotations

from typing import Callable, Mapping

from models.faults import Asymmetric, BinarySymmetric, Compose, FaultModel
from models.profile.faults import profile_fault_model
from models.replay import ReplayFaults

#: ``kind`` -> constructor taking the remaining description fields.
FAULT_MODELS: dict[str, Callable[..., FaultModel]] = {
    "bsc": lambda eps=None, bit_rates=None, sparse_below=0.25: BinarySymmetric(eps, bit_rates, sparse_below),
    "asymmetric": lambda p01, p10: Asymmetric(p01, p10),
    "profile": profile_fault_model,
    "replay": lambda paths, mode="stuck", operating_point=None, reads=None:
        ReplayFaults.from_files(paths, mode, operating_point),
    # independent sources on the same read (e.g. a recorded map plus transient noise): masks XOR
    "compose": lambda models: Compose(*(build_fault_model(m) for m in models)),
}


def register_fault_model(kind: str, factory: Callable[..., FaultModel]) -> None:
    FAULT_MODELS[kind] = factory


def build_fault_model(description: Mapping | None) -> FaultModel:
    """Fault model from a config description ``{"kind": ..., **fields}`` (default: BSC)."""
    desc = dict(description or {"kind": "bsc"})
    kind = desc.pop("kind", "bsc")
    if kind not in FAULT_MODELS:
        raise ValueError(f"fault model kind {kind!r}: expected one of {', '.join(FAULT_MODELS)}")
    try:
        return FAULT_MODELS[kind](**desc)
    except TypeError as exc:
        raise ValueError(f"fault model {kind!r}: bad fields {sorted(desc)} ({exc})") from None
