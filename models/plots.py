"""PNG plots of a run (matplotlib, Agg backend): training curves and eps per layer."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from drivers import atomic  # noqa: E402

#: average glyph width of matplotlib's default font (DejaVu Sans) in em [measured: 0.55-0.6]
GLYPH_EM = 0.6

TRAINING_CURVES = "training_curves.png"


def fit_title(fig, text: str, fontsize: float = 9, share: float = 1.0) -> str:
    """``text`` wrapped to lines that fit ``share`` of the figure's width at ``fontsize``
    (``GLYPH_EM * fontsize`` points per character, 72 points per inch)."""
    chars = max(20, int(share * fig.get_figwidth() * 72 / (GLYPH_EM * fontsize)))
    return textwrap.fill(text, chars)


def png_bytes(fig, dpi: int = 120) -> bytes:
    """``tight_layout``, then render as PNG with ``bbox_inches="tight"`` (nothing drawn is
    clipped), and close the figure."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """:func:`png_bytes` written atomically to ``path`` (folders created)."""
    return atomic.write_bytes(path, png_bytes(fig, dpi))


EPS_PER_LAYER = "eps_per_layer.png"


def plot_run(metrics: Sequence[dict], folder: Path, labels: Mapping[str, str] | None = None) -> list[Path]:
    """Write the run's plots into ``folder``; ``labels`` name the layers in the legend
    (``{name: label}``, default the names); returns the files written."""
    labels = labels or {}
    if not metrics:
        return []
    epochs = [r["epoch"] for r in metrics]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in metrics], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    for key, label in (("train_acc", "train (training faults)"), ("test_acc", "test, fault-free"),
                       ("test_acc_faulty", "test at the method's eps")):
        if all(key in r for r in metrics):
            ax_acc.plot(epochs, [100 * r[key] for r in metrics], marker="o", label=label)
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    ax_acc.legend()
    written = [save_figure(fig, folder / TRAINING_CURVES, dpi=100)]
    with_eps = [r for r in metrics if r.get("eps")]
    if with_eps:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name in with_eps[0]["eps"]:
            ax.plot([r["epoch"] for r in with_eps], [r["eps"][name] for r in with_eps], marker=".", label=labels.get(name, name))
        ax.set(xlabel="epoch", ylabel="eps (bit-error rate)", yscale="log", title="eps per layer")
        ax.legend(fontsize="small", ncol=2)
        written.append(save_figure(fig, folder / EPS_PER_LAYER, dpi=100))
    return written
