"""The report's title, the context of the run (profile, network, settings, board, when, which
faultbench, seeds, energy model) and the verdict box (``bench.report.findings``)."""

from __future__ import annotations

from bench.report.findings import findings
from bench.report.text import energy

TITLE = "faultbench run report"
VERDICT = "Verdict"


def title(results: dict) -> str:
    """``faultbench run report: lanmax on digits under sram_lowvoltage (quick)``."""
    cfg = results.get("config") or {}
    train = cfg.get("train", {})
    profile = results["operating_points"]["profile"]["name"]
    what = f"{results['train']['method']} on {train.get('dataset', '?')} under {profile}"
    return f"{TITLE}: {what}" + (" (quick)" if cfg.get("quick") else "")


def figures(results: dict) -> dict[str, bytes]:
    return {}


def energy_model_text(em: dict | None) -> str:
    """The energy model in words, with E0 explained (a fit intercept, not an energy one pays)."""
    if not em:
        return "none: each operating point's measured energy per bit"
    return (f"E(eps) = E0 + beta ln(1/eps) per bit, E0 = {energy(em['E0'])} per bit, beta = {energy(em['beta'])} per "
            f"bit and unit of ln(1/eps), eps_ref = {em['eps_ref']:.3g}. E0 is the fit's intercept at eps = 1: it may "
            f"be negative and is no energy by itself; only E(eps) at the operating points' eps is")


def context_rows(results: dict) -> list[tuple[str, str]]:
    cfg, prov = results.get("config") or {}, results.get("provenance") or {}
    train, ops = cfg.get("train", {}), results["operating_points"]
    profile = ops["profile"]
    options = results["train"].get("options", {})
    method = results["train"]["method"] + (f" (lambda {options['lambda']:g})" if "lambda" in options else "")
    width = train.get("width")
    commit = prov.get("git_commit") or "not a git checkout"
    return [
        ("profile", f"{profile['name']} (`{cfg.get('profile_path', '?')}`; {profile.get('technology', '?')}, "
                    f"provenance {profile.get('provenance') or 'n/a'})"),
        ("data set", str(train.get("dataset", "n/a"))),
        ("network", f"{train.get('arch', '?')}, width {width:g}" if width is not None else "n/a"),
        ("training", f"{train.get('epochs', '?')} epochs, batch {train.get('batch_size', '?')}; main method {method}"),
        ("settings", "quick (`--quick`: small settings for a first try)" if cfg.get("quick") else "full"),
        ("board", str(results["board"].get("board", "n/a"))),
        ("date", prov.get("created", "n/a")),
        ("faultbench", f"{prov.get('faultbench_version', 'n/a')}, commit `{commit}`"),
        ("seeds", ", ".join(f"{k} {v}" for k, v in results["seeds"].items()) + f" (`{results['sources']['seeds']}`)"),
        ("energy model", energy_model_text(ops.get("energy_model"))),
    ]


def markdown(results: dict, image_src) -> list[str]:
    s = results["sources"]
    return [f"# {title(results)}", "",
            "| context | |", "|---|---|", *(f"| {k} | {v} |" for k, v in context_rows(results)), "",
            f"Every number below comes from `report/results.json`, which names the file each part comes from; "
            f"resolved configuration in `{s['config']}`.", "",
            f"## {VERDICT}", *(f.markdown() for f in findings(results)), ""]
