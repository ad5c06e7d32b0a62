"""The report from a real run's results.json (tests/data/report): context, verdict, contents,
captions, honest intervals, units, layer labels and the plots' fixes."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from bench.front import Point, verdict
from bench.report import board, energy, findings, header, operating_points, render
from bench.report.text import energy_unit, to_html

RESULTS = Path(__file__).parents[1] / "data" / "report" / "results_sram_quick.json"


@pytest.fixture
def results() -> dict:
    return json.loads(RESULTS.read_text())


def md(results) -> str:
    return render.markdown(results, lambda name: f"figures/{name}.png")


def answer(results, topic: str) -> findings.Finding:
    return next(f for f in findings.findings(results) if f.topic.startswith(topic))


def test_header_states_the_context(results):
    text = md(results)
    first = text.splitlines()[0]
    assert first.startswith("# faultbench run report") and "sram_lowvoltage" in first and "digits" in first
    assert "(quick)" in first
    cfg, prov = results["config"], results["provenance"]
    rows = dict(header.context_rows(results))
    assert rows["data set"] == "digits" and "mlp" in rows["network"] and "0.03125" in rows["network"]
    assert f"{cfg['train']['epochs']} epochs" in rows["training"] and rows["settings"].startswith("quick")
    assert prov["created"] in rows["date"] and prov["faultbench_version"] in rows["faultbench"]
    assert prov["git_commit"][:12] in rows["faultbench"]
    for name, seed in results["seeds"].items():
        assert f"{name} {seed}" in rows["seeds"]
    assert "E0 is the fit's intercept" in rows["energy model"]
    results["config"]["quick"] = False
    assert "(quick)" not in header.title(results) and dict(header.context_rows(results))["settings"] == "full"


def test_contents_link_every_section(results):
    text = md(results)
    headings = re.findall(r"^## (.+)$", text, re.M)
    toc = text[text.index("## Contents"):].split("\n\n")[0]
    for title in headings[headings.index("Contents") + 1:]:
        assert f"[{title}](#" in toc
    html = to_html(text, "t")
    for anchor in re.findall(r'<a href="#([\w-]+)"', html):
        assert f'id="{anchor}"' in html


def test_every_figure_has_a_caption(results):
    text = md(results)
    lines = text.splitlines()
    images = [i for i, line in enumerate(lines) if line.startswith("![")]
    names = {n for s in render.SECTIONS for n in s.figures(results)}
    assert len(images) == len(names) == 4
    for i in images:
        assert re.fullmatch(r"\*.{40,}\*", lines[i + 1]), lines[i + 1]
    html = to_html(text, "t")
    assert html.count("<figure>") == 4 and html.count("<figcaption>") == 4


def _with_verdict(results, **changes):
    """``results`` with the front's points changed (``{name: {field: value}}``) and the verdict
    recomputed by ``bench.front``, as stage software_eval computes it."""
    out = copy.deepcopy(results)
    points = [Point.from_dict({**p, **changes.get(p["name"], {})}) for p in out["software_eval"]["front"]]
    out["software_eval"]["front"] = [q.to_dict() for q in points]
    out["software_eval"]["verdict"] = verdict(points, floor_J=out["software_eval"]["floor_J"])
    return out


@pytest.mark.parametrize("changes, kind, expected", [
    ({}, "loss", "no"),    # the recorded run: uniform v054 is iso-accurate and cheaper
    ({"lanmax lambda 0.3": {"energy_J": 2.5e-11, "energy_ci": 1e-12}}, "win", "yes"),
    ({"lanmax lambda 0.3": {"energy_J": 2.5e-11, "energy_ci": 1e-12},
      "uniform v056": {"accuracy": 0.877, "accuracy_ci": 0.005, "energy_J": 2.4e-11}}, "undecided", "partly"),
    ({"lanmax lambda 0.3": {"accuracy": 0.85}}, "dominated", "no"),
])
def test_main_method_finding_is_the_front_verdict(results, changes, kind, expected):
    """The report's "beats its baseline" answer is bench.front's verdict, not a second derivation:
    a supported saving is a yes, a saving the intervals do not support a partly, none a no."""
    r = _with_verdict(results, **changes)
    v = r["software_eval"]["verdict"]
    f = answer(r, "Main method")
    assert v["kind"] == kind and f.answer == expected
    assert f.text.startswith(v["text"]) and v["text"] in md(r)
    assert ("1.3x target met" in f.short) == v["meets_target"]
    if not v["meets_target"]:
        assert v["why"] in f.text


def test_operating_points_verdict_explains_itself(results):
    f = answer(results, "Operating points")
    # the recorded run: BER within bounds, board outside the over-chips range, own chip exact
    assert f.answer == "partly"
    assert "software on the run's own chip gives exactly the board's accuracy" in f.text
    assert "fc1 (2)" in f.text and "Wilson 95%" in f.text
    flagged = copy.deepcopy(results)
    b = flagged["compare"]["ber"][2]
    b.update(errors=40.0, within_bounds=False)
    flagged["compare"]["ber_flagged"] = [b["name"]]
    f = answer(flagged, "Operating points")
    assert f.answer == "no" and "fc3 (8)" in f.short and "more errors than the profile predicts" in f.text
    agree = copy.deepcopy(results)
    agree["compare"]["accuracy"]["overlap"] = True
    assert answer(agree, "Operating points").answer == "yes"


def test_deploy_readback_and_replay_verdicts(results):
    assert answer(results, "Deploy").answer == "yes"
    bad = copy.deepcopy(results)
    bad["deploy"].update(readback_bit_errors=5, allowed_bit_errors=2)
    f = answer(bad, "Deploy")
    assert f.answer == "no" and "5 bit error(s)" in f.text
    f = answer(results, "Replay")
    rp = results["compare"]["replay"]
    assert f.answer == "partly" and f"{rp['same_scores']} of {rp['n_inputs']}" in f.text and "transient" in f.text
    exact = copy.deepcopy(results)
    exact["compare"]["replay"]["same_scores"] = rp["n_inputs"]
    assert answer(exact, "Replay").answer == "yes"
    off = copy.deepcopy(results)
    off["compare"]["replay"]["same_prediction"] = rp["n_inputs"] // 2
    assert answer(off, "Replay").answer == "no"


def test_board_table_says_which_inputs_and_has_no_zero_width_interval(results):
    lines = board.markdown(results, lambda n: n)
    n = results["compare"]["accuracy"]["board"]["n_inputs"]
    assert any(f"same {n} test inputs" in line for line in lines)
    fixed = next(line for line in lines if line.startswith("| software, one chip"))
    assert results["software_eval"]["main_board_subset_fixed_chip"]["half_width"] == 0   # what the row used to show
    lo, hi = (float(x) for x in re.search(r"\[([\d.]+), ([\d.]+)\]", fixed).groups())
    assert hi - lo > 0.1   # Wilson over 40 inputs, not [0.9, 0.9]
    first = "\n".join(results and render.SECTIONS[1].markdown(results, lambda n: n))
    assert f"all {results['software_eval']['n_test']} test inputs" in first


def test_layers_are_labelled_as_in_the_cli(results):
    text = md(results)
    for layer in results["operating_points"]["layers"]:
        assert f"| {layer['label']} |" in text
    assert not re.search(r"^\| 2 \|", text, re.M)


def test_energies_say_per_bit_or_per_inference(results):
    text = md(results)
    assert "per inference" in text and "per bit" in text
    assert energy_unit([2.5e-11, 3.7e-12]) == (1e-12, "pJ")
    assert energy_unit([4e-9]) == (1e-9, "nJ")


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures the sections draw, by section module."""
    figs = {}
    for module in (operating_points, energy, board):
        monkeypatch.setattr(module, "png_bytes", lambda fig, dpi, m=module: figs.setdefault(m.__name__, fig) and b"")
    return figs


def test_plot_fixes(results, drawn):
    results["compare"]["ber"][0]["ber"] = 0.0   # a layer that read back without error
    operating_points.figures(results)
    ax = drawn["bench.report.operating_points"].axes[0]
    assert ax.get_xlabel() and ax.get_ylabel()
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "none"]
    assert any(0 in line.get_xdata() for line in hollow)   # the zero is drawn, not dropped
    top = max(max(y for y in line.get_ydata() if y == y) for line in ax.lines)
    assert ax.get_ylim()[1] > 1.5 * top   # the highest marker keeps clear of the frame
    energy.figures(results)
    ax = drawn["bench.report.energy"].axes[0]
    assert "(pJ)" in ax.get_xlabel() and "(pJ)" in ax.get_ylabel()
    board.figures(results)
    ax = drawn["bench.report.board"].axes[0]
    assert any("expected" in t.get_text() for t in ax.get_legend().get_texts())
    assert ax.get_xlabel()
