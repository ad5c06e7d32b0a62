"""``bench export runs/NAME -o model.fbm``: a trained run as a firmware model blob + weight image."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bench.commands.common import add_epoch, add_run
from bench.export import IMAGE_SUFFIX, export_run


def configure(p) -> None:
    p.description = ("Pack a trained BNN or WAGE run: sign (or ternary) weight bits into the weight image, BatchNorm "
                     "folded into integer thresholds in the blob (firmware/FORMAT.md). Checks interpreter == PyTorch "
                     "on test inputs.")
    add_run(p)
    p.add_argument("-o", "--out", required=True, help="blob file to write (e.g. model.fbm); the weight image "
                                                        f"goes next to it with suffix {IMAGE_SUFFIX}")
    add_epoch(p)
    p.add_argument("--check", type=int, default=256, metavar="N",
                   help="test inputs on which interpreter and PyTorch scores must agree (default 256; 0 skips)")
    p.set_defaults(func=run)


def run(args) -> int:
    r = export_run(args.run, args.out, args.epoch, args.check, network=args.network)
    table = Table(title=f"{args.run} epoch {r.epoch} -> {r.blob_path}")
    for col in ("#", "layer", "kind", "in", "out", "weights", "region (words)"):
        table.add_column(col, justify="right" if col in ("#", "region (words)") else "left", overflow="fold")
    for row in r.layer_rows():
        table.add_row(*row)
    console = Console()
    console.print(f"exported {r.network}")
    console.print(table)
    words = r.exported.blob.weight_words
    console.print(f"blob {r.blob_path}: {r.blob_path.stat().st_size} bytes; weight image {r.image_path}: "
                  f"{words} words ({4 * words} bytes)")
    if r.checked:
        console.print(f"check: interpreter == PyTorch integer scores on {r.checked} test inputs; "
                      f"accuracy {100 * r.accuracy:.2f}%")
    return 0
