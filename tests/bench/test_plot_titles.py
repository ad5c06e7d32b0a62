"""PNG titles fit their figure: wrapped to its width, saved with a tight bounding box."""

import pytest

from bench.output import layer_bar_figure
from models.plots import fit_title, plt, save_figure

TITLE = ("layer randomisation of a-rather-long-run-directory-name (mlp on fashion-mnist; "
         "other layers at the run's final eps)")


def _inside(fig, artist) -> bool:
    fig.canvas.draw()
    box, frame = artist.get_window_extent(), fig.bbox
    return frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1


@pytest.mark.parametrize("names", [["fc1 (2)", "fc2 (5)", "fc3 (8)"], [f"conv{i} (blocks.{i}.conv1)" for i in range(9)]])
def test_layer_bar_title_and_ticks_inside_the_figure(names):
    fig = layer_bar_figure(names, [50.0] * len(names), TITLE, "accuracy (%)", lines=[(90.0, "g", "--", "baseline")])
    try:
        fig.tight_layout()
        assert _inside(fig, fig.axes[0].title)
        assert all(_inside(fig, t) for t in fig.axes[0].get_xticklabels())
    finally:
        plt.close(fig)


def test_fit_title_wraps_to_narrow_figures_only():
    narrow, wide = plt.figure(figsize=(4, 3)), plt.figure(figsize=(16, 3))
    try:
        assert "\n" in fit_title(narrow, TITLE) and "\n" not in fit_title(wide, TITLE)
    finally:
        plt.close(narrow)
        plt.close(wide)


def test_save_figure_keeps_a_suptitle_wider_than_the_figure(tmp_path):
    from PIL import Image

    fig = plt.figure(figsize=(3, 2))
    fig.suptitle("x" * 80, fontsize=9)
    save_figure(fig, tmp_path / "t.png", dpi=50)
    assert Image.open(tmp_path / "t.png").size[0] > 3 * 50  # the box grew to hold the title
