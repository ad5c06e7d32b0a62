"""``bench export runs/NAME -o model.fbm``: a trained run as a firmware model blob + weight image.

Writes ``model.fbm`` (structure and thresholds, ``firmware/FORMAT.md`` part B) and
``model.fbw`` (the weight memory image, FORMAT.md B.7), then checks the deployment: the
reference interpreter's integer scores must equal the PyTorch forward pass's on test inputs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from bench.errors import BenchError
from bench.pipeline.atomic import write_bytes
from models import reference
from models.blob import OP_NAMES, TYPE_NAMES, W_NONE
from models.export import ExportError, Exported, export_model, torch_scores
from models.run_dir import RunDirError, load_run

IMAGE_SUFFIX = ".fbw"


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a trained run for the firmware (model blob + weight image)",
                              description="Pack a trained BNN or WAGE run: sign (or ternary) weight bits into the "
                                          "weight image, BatchNorm folded into integer thresholds in the blob "
                                          "(firmware/FORMAT.md). Checks interpreter == PyTorch on test inputs.")
    p.add_argument("run", help="run directory written by bench train")
    p.add_argument("-o", "--out", required=True, help="blob file to write (e.g. model.fbm); the weight image "
                                                        f"goes next to it with suffix {IMAGE_SUFFIX}")
    p.add_argument("--epoch", type=int, default=None, help="checkpoint epoch (default: the last one)")
    p.add_argument("--check", type=int, default=256, metavar="N",
                   help="test inputs on which interpreter and PyTorch scores must agree (default 256; 0 skips)")
    p.set_defaults(func=run)


def layer_table(ex: Exported, title: str) -> Table:
    table = Table(title=title)
    for col in ("#", "layer", "kind", "in", "out", "weights", "region (words)"):
        table.add_column(col, justify="right" if col in ("#", "region (words)") else "left")
    names = iter(ex.layer_names)
    for i, l in enumerate(ex.blob.layers):
        stored = l.w_enc != W_NONE
        table.add_row(str(i), next(names) if stored else "-", OP_NAMES[l.op],
                      f"{TYPE_NAMES[l.in_type]} {'x'.join(map(str, l.in_shape))}",
                      f"{TYPE_NAMES[l.out_type]} {'x'.join(map(str, l.out_shape))}",
                      l.encoding or "-", f"{l.base_word}+{l.n_words}" if stored else "-")
    return table


def check_deployment(ex: Exported, net, x: torch.Tensor, y: torch.Tensor) -> tuple[int, float]:
    """(number of inputs whose scores differ, accuracy of the interpreter's scores)."""
    codes = reference.quantize_input(x.numpy(), ex.blob.input_levels)
    got = reference.scores(ex.blob, ex.image, codes)
    want = torch_scores(net, x)
    return int((got != want).any(axis=1).sum()), float((got.argmax(1) == y.numpy()).mean())


def run(args) -> int:
    out = Path(args.out)
    if out.suffix == IMAGE_SUFFIX:
        raise BenchError(f"-o {out}: the blob must not use the weight image suffix {IMAGE_SUFFIX}")
    try:
        net, config, extra = load_run(args.run, epoch=args.epoch)
    except (RunDirError, ValueError) as exc:
        raise BenchError(f"{args.run}: {exc}") from None
    data = extra["data"]
    try:
        ex = export_model(net, data.in_shape)
    except ExportError as exc:
        raise BenchError(f"{args.run} ({config.arch}, mode {config.mode}, method {config.method}): {exc}") from None
    image_path = out.with_suffix(IMAGE_SUFFIX)
    write_bytes(out, ex.blob_bytes())
    write_bytes(image_path, ex.image_bytes())
    console = Console()
    console.print(layer_table(ex, f"{args.run} epoch {extra['epoch']} -> {out}"))
    console.print(f"blob {out}: {out.stat().st_size} bytes; weight image {image_path}: "
                  f"{ex.blob.weight_words} words ({4 * ex.blob.weight_words} bytes)")
    if args.check > 0:
        n = min(args.check, len(data.test_y))
        bad, acc = check_deployment(ex, net, data.test_x[:n], data.test_y[:n])
        if bad:
            raise BenchError(f"{args.run}: interpreter and PyTorch scores differ on {bad} of {n} test inputs")
        console.print(f"check: interpreter == PyTorch integer scores on {n} test inputs; accuracy {100 * acc:.2f}%")
    return 0
