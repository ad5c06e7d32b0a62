"""The stages of ``bench run`` in order (names are what ``--force`` takes)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.pipeline.framework import Pipeline, Stage
from bench.pipeline.stages import board, compare, deploy, operating_points, report, software_eval, train

PIPELINE = Pipeline([
    Stage("train", "train the profile's method under its fault model", train.train_main,
          config_keys=("train", "profile", "seeds", "data_dir"), resume_partial=True),
    Stage("baselines", "train the comparison: reliable, uniform noise at several points, the method over seeds",
          train.train_baselines, depends=("train",), config_keys=("train", "front", "profile", "seeds", "data_dir"),
          resume_partial=True),
    Stage("operating_points", "per-layer operating points and predicted energy", operating_points.choose,
          depends=("train",), config_keys=("profile",)),
    Stage("software_eval", "Monte-Carlo accuracy under the profile's faults", software_eval.evaluate,
          depends=("train", "baselines", "operating_points"),
          config_keys=("train", "evaluation", "profile", "seeds", "board", "data_dir")),
    Stage("deploy", "export, load over serial, verify by readback", deploy.deploy,
          depends=("train", "operating_points"), config_keys=("hardware",)),
    Stage("board", "layer-by-layer inference at the operating points with energy capture", board.run_board,
          depends=("deploy", "operating_points", "software_eval"), config_keys=("hardware", "board", "seeds", "data_dir")),
    Stage("compare", "measured vs predicted energy, accuracy CIs, fault-map replay", compare.compare,
          depends=("operating_points", "software_eval", "deploy", "board"), config_keys=("train", "seeds", "data_dir")),
    Stage("report", "results.json, report.md, report.html", report.write_report,
          depends=("train", "baselines", "operating_points", "software_eval", "deploy", "board", "compare")),
])


def headline(run_dir: Path) -> dict[str, str]:
    """A few key numbers for the summary table (empty before the report exists)."""
    path = Path(run_dir) / "report" / "results.json"
    if not path.is_file():
        return {}
    r = json.loads(path.read_text())
    e, a = r["compare"]["energy"], r["compare"]["accuracy"]
    return {"report": str(Path(run_dir) / "report" / "report.html"),
            "vs uniform noise at iso-accuracy": r["software_eval"]["verdict"]["text"],
            "energy R^2 (measured vs predicted)": e["r2_note"] if e["r2"] is None else f"{e['r2']:.3f}",
            "operating points hold on the board": "yes" if not r["compare"].get("ber_flagged") else
            "NO for layer(s) " + ", ".join(r["compare"]["ber_flagged"]),
            "board accuracy": f"{a['board']['accuracy']:.3f} [{a['board']['ci_low']:.3f}, {a['board']['ci_high']:.3f}]",
            "software prediction (over chips)": f"{a['software']['accuracy']:.3f} [{a['software']['ci_low']:.3f}, {a['software']['ci_high']:.3f}]"}
