"""The stages of ``bench run`` in order (names are what ``--force`` takes)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.pipeline.framework import Pipeline, Stage
from bench.report.findings import findings
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
          depends=("train", "operating_points"), config_keys=("hardware",), uses=("bench",)),
    Stage("board", "layer-by-layer inference at the operating points with energy capture", board.run_board,
          depends=("deploy", "operating_points", "software_eval"), config_keys=("hardware", "board", "seeds", "data_dir"),
          uses=("bench",)),
    Stage("compare", "measured vs predicted energy, accuracy CIs, fault-map replay", compare.compare,
          depends=("operating_points", "software_eval", "deploy", "board"), config_keys=("train", "seeds", "data_dir")),
    Stage("report", "results.json, report.md, report.html", report.write_report,
          depends=("train", "baselines", "operating_points", "software_eval", "deploy", "board", "compare")),
])


def headline(run_dir: Path) -> dict[str, str]:
    """The report's path and its verdict, one line per finding (``bench.report.findings``),
    plus the board accuracy against its software prediction; empty before the report exists."""
    path = Path(run_dir) / "report" / "results.json"
    if not path.is_file():
        return {}
    r = json.loads(path.read_text())
    a = r["compare"]["accuracy"]
    return {"report": str(Path(run_dir) / "report" / "report.html"),
            **{f.topic: f"{f.answer}: {f.short}" for f in findings(r)},
            "board accuracy": f"{a['board']['accuracy']:.3f} [{a['board']['ci_low']:.3f}, {a['board']['ci_high']:.3f}] "
                              f"on {a['board']['n_inputs']} inputs (Wilson 95%)",
            "software prediction (same inputs, over chips)":
                f"{a['software']['accuracy']:.3f} [{a['software']['ci_low']:.3f}, {a['software']['ci_high']:.3f}] "
                f"(Monte-Carlo 95% of the mean)"}
