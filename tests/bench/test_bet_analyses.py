"""bench analyze bet / bet-correlation on small real runs."""

import json

import pytest

from bench.cli import main
from models.training import TrainConfig, train


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bet_runs")
    paths = []
    for name, reg in (("plain", None), ("regularised", 30.0)):
        cfg = TrainConfig(arch="mlp", width=0.03, epochs=2, limit_train=400, limit_test=150,
                          bet_reg=reg, bet_lambda=0.5, seed=1)
        train(cfg, root / name)
        paths.append(root / name)
    return paths


def test_bet_analysis_per_layer_and_network(two_runs, tmp_path, capsys):
    assert main(["analyze", "bet", str(two_runs[0]), "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "bet.json").read_text())
    assert [r[0] for r in data["rows"]] == ["2", "5", "network"]
    layers = data["layers"]
    n = data["neurons"]
    assert data["network"] == pytest.approx(sum(layers[k] * n[k] for k in layers) / sum(n.values()), rel=1e-5)
    assert (tmp_path / "bet.png").stat().st_size > 0
    assert "network" in capsys.readouterr().out


def test_regulariser_raises_the_metric(two_runs, tmp_path):
    values = []
    for run in two_runs:
        assert main(["analyze", "bet", str(run), "--out", str(tmp_path / run.name)]) == 0
        values.append(json.loads((tmp_path / run.name / "bet.json").read_text())["network"])
    assert values[1] > values[0]


def test_bet_correlation_table_png_and_coefficient(two_runs, tmp_path):
    rc = main(["analyze", "bet-correlation", *map(str, two_runs), "--rates", "0,0.05",
               "--max-reps", "4", "--out", str(tmp_path)])
    assert rc == 0
    data = json.loads((tmp_path / "bet_correlation.json").read_text())
    assert len(data["bet"]) == 2 and len(data["pearson_r"]) == 2
    assert all(abs(r) <= 1 for r in data["pearson_r"])  # two distinct runs: r = +-1
    assert (tmp_path / "bet_correlation.png").stat().st_size > 0


def test_bet_correlation_errors(two_runs, tmp_path, capsys):
    assert main(["analyze", "bet-correlation", str(two_runs[0])]) != 0
    assert "two or more runs" in capsys.readouterr().err
    assert main(["analyze", "bet-correlation", *map(str, two_runs), "--rates", "0,2"]) != 0
    assert "--rates" in capsys.readouterr().err
    assert main(["analyze", "bet", str(tmp_path / "missing")]) != 0
    assert "config.yaml" in capsys.readouterr().err


def test_bet_regulariser_refuses_nets_without_sign_neurons(tmp_path, capsys):
    assert main(["train", "--method", "wage", "--bet-reg", "3", "--out", str(tmp_path / "w")]) != 0
    assert "--bet-reg needs binary neurons" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
