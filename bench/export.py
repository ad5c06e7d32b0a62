"""A trained run as a firmware model blob + weight image (``bench export``).

Writes ``model.fbm`` (structure and thresholds, ``firmware/FORMAT.md`` part B) and
``model.fbw`` (the weight memory image, FORMAT.md B.7), then checks the deployment: the
reference interpreter's integer scores must equal the PyTorch forward pass's on test inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.errors import BenchError, user_errors
from bench.runs import training_run
from drivers.atomic import write_bytes
from models import reference
from models.blob import OP_NAMES, TYPE_NAMES, W_NONE
from models.export import ExportError, Exported, export_model, torch_scores
from models.run_dir import RunDirError
from models.training import load_run

IMAGE_SUFFIX = ".fbw"


@dataclass
class ExportResult:
    blob_path: Path
    image_path: Path
    epoch: int
    exported: Exported
    checked: int = 0           # test inputs on which interpreter == PyTorch (0: not checked)
    accuracy: float | None = None  # the interpreter's accuracy on them
    network: str = ""              # which network was exported, in words (bench.runs.Network)

    def layer_rows(self) -> list[list[str]]:
        """Per blob layer: index, stored layer name, kind, in, out, weights, region (words)."""
        ex, rows = self.exported, []
        names = iter(ex.layer_names)
        for i, l in enumerate(ex.blob.layers):
            stored = l.w_enc != W_NONE
            rows.append([str(i), next(names) if stored else "-", OP_NAMES[l.op],
                         f"{TYPE_NAMES[l.in_type]} {'x'.join(map(str, l.in_shape))}",
                         f"{TYPE_NAMES[l.out_type]} {'x'.join(map(str, l.out_shape))}",
                         l.encoding or "-", f"{l.base_word}+{l.n_words}" if stored else "-"])
        return rows


def check_deployment(ex: Exported, net, x: torch.Tensor, y: torch.Tensor) -> tuple[int, float]:
    """(number of inputs whose scores differ, accuracy of the interpreter's scores)."""
    codes = reference.quantize_input(x.numpy(), ex.blob.input_levels)
    got = reference.scores(ex.blob, ex.image, codes)
    want = torch_scores(net, x)
    return int((got != want).any(axis=1).sum()), float((got.argmax(1) == y.numpy()).mean())


def export_run(run: str | Path, out: str | Path, epoch: int | None = None, check: int = 256,
               network: str | None = None) -> ExportResult:
    """Export ``run`` (a training run, or a bench run folder's ``network``, default its main
    network) to blob ``out`` and image ``out`` with suffix ``.fbw``; ``check`` test inputs must
    give the same integer scores in the interpreter and in PyTorch (0 skips)."""
    used = training_run(run, network)
    run = used.path
    out = Path(out)
    if out.suffix == IMAGE_SUFFIX:
        raise BenchError(f"-o {out}: the blob must not use the weight image suffix {IMAGE_SUFFIX}")
    with user_errors(RunDirError, ValueError, prefix=f"{run}: "):
        net, config, extra = load_run(run, epoch=epoch)
    data = extra["data"]
    with user_errors(ExportError, prefix=f"{run} ({config.arch}, mode {config.mode}, method {config.method}): "):
        ex = export_model(net, data.in_shape)
    image_path = out.with_suffix(IMAGE_SUFFIX)
    write_bytes(out, ex.blob_bytes())
    write_bytes(image_path, ex.image_bytes())
    result = ExportResult(out, image_path, extra["epoch"], ex, network=used.describe())
    if check > 0:
        n = min(check, len(data.test_y))
        bad, acc = check_deployment(ex, net, data.test_x[:n], data.test_y[:n])
        if bad:
            raise BenchError(f"{run}: interpreter and PyTorch scores differ on {bad} of {n} test inputs")
        result.checked, result.accuracy = n, acc
    return result
