"""The report's title and the context of the run."""

from __future__ import annotations

from bench.report.text import energy

TITLE = "bench run report"


def figures(results: dict) -> dict[str, bytes]:
    return {}


def markdown(results: dict, image_src) -> list[str]:
    s = results["sources"]
    em = results["operating_points"]["energy_model"]
    return [f"# {TITLE}", "",
            f"Method **{results['train']['method']}**; seeds in `{s['seeds']}`, resolved config in `{s['config']}`.",
            "Energy model: " + (f"E(eps) = E0 + beta ln(1/eps), E0 = {energy(em['E0'])}, beta = {energy(em['beta'])}, "
                                f"eps_ref = {em['eps_ref']:.3g}" if em else "none (operating points' measured energy per bit)"),
            ""]
