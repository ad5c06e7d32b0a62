"""Terminal tables fold long names and numbers instead of cutting them with an ellipsis."""

from rich.console import Console

from bench.commands.energy import energy_table
from bench.energy import EnergyTable
from bench.output import rich_table
from models.energy import EnergyModel, LayerMemory, energy_report


def _render(table, width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(table)
    return console.export_text()


def _column(text: str, index: int) -> str:
    """Column ``index`` of the body, its folded pieces joined (rows follow one another)."""
    return "".join(line.split("│")[index + 1].strip() for line in text.splitlines() if line.startswith("│"))


def test_analysis_table_folds_instead_of_truncating():
    names = ["method-lanmax-lambda-0.5-seed-1234567", "method-uniform-eps-0.000123456789"]
    table = rich_table("trials", ["trial", "BER", "accuracy % +- CI"],
                       [[n, "0.000012345678", "93.40 +- 0.52"] for n in names])
    text = _render(table, 40)
    assert "…" not in text
    assert _column(text, 0) == "".join(names) and _column(text, 1) == "0.000012345678" * 2


def test_energy_table_folds_labels():
    layers = [LayerMemory("blocks.0.conv1", 123456789, 1), LayerMemory("fc", 640, 1)]
    report = energy_report(layers, {"blocks.0.conv1": 1.23456e-3, "fc": 1e-12}, EnergyModel())
    table = EnergyTable(report, "final eps", {"blocks.0.conv1": "conv2 (blocks.0.conv1)"})
    text = _render(energy_table(table, "energy"), 50)
    assert "…" not in text
    assert _column(text, 0).startswith("conv2(blocks.0.conv1)fc") and _column(text, 1).startswith("123456789640")
