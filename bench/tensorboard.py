"""TensorBoard logging of training, beside ``metrics.jsonl`` (optional: ``pip install
'faultbench[tensorboard]'``; docs/RUN_DIRECTORY.md).

One event file per training session under ``RUN/tensorboard/``; the step of every scalar is the
epoch (1-based, as in ``metrics.jsonl``). A resumed run purges events from its first new epoch
on, so an epoch interrupted after logging is not drawn twice. Tags:

| tag | value (from the epoch's metrics record) |
|---|---|
| ``loss/train`` | ``train_loss`` |
| ``accuracy/train``, ``accuracy/test``, ``accuracy/test_at_eps`` | ``train_acc``, ``test_acc``, ``test_acc_faulty`` |
| ``eps/<layer label>`` | the layer's eps (methods with eps), e.g. ``eps/fc1 (2)`` |
| ``energy/ratio_to_reliable`` | ``energy_ratio`` (methods that report it, e.g. LaNMax) |
| ``time/train_seconds`` | ``train_seconds`` |
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from bench.errors import BenchError

FOLDER = "tensorboard"
SCALARS = {"train_loss": "loss/train", "train_acc": "accuracy/train", "test_acc": "accuracy/test",
           "test_acc_faulty": "accuracy/test_at_eps", "energy_ratio": "energy/ratio_to_reliable",
           "train_seconds": "time/train_seconds"}


class TrainingLog:
    """Writes each epoch's metrics record as TensorBoard scalars into ``run/tensorboard``."""

    def __init__(self, run: Path, first_epoch: int):
        try:   # optional dependency: imported only when asked for
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise BenchError("--tensorboard needs the tensorboard package: pip install 'faultbench[tensorboard]' "
                             "(metrics.jsonl is written either way)") from None
        self.folder = Path(run) / FOLDER
        self.writer = SummaryWriter(log_dir=str(self.folder), purge_step=first_epoch)

    def epoch(self, record: Mapping, labels: Mapping[str, str]) -> None:
        """One epoch's ``metrics.jsonl`` record; ``labels``: layer name -> label for the eps tags."""
        step = int(record["epoch"])
        for key, tag in SCALARS.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, float(record[key]), step)
        for name, eps in (record.get("eps") or {}).items():
            self.writer.add_scalar(f"eps/{labels.get(name, name)}", float(eps), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
