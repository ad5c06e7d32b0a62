"""``bench energy`` and ``bench analyze`` end to end on tiny runs."""

import json

import pytest

from bench.cli import main
from models.training import TrainConfig, train

TINY = dict(arch="mlp", width=0.0625, dataset="digits", epochs=2, batch_size=64, seed=0, limit_train=400)


@pytest.fixture(scope="module")
def lanmax_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "lanmax"
    train(TrainConfig(method="lanmax", method_options={"lambda": 50.0, "t_stop": 2}, **TINY), out)
    return out


def test_energy_command_table_and_json(lanmax_run, capsys):
    assert main(["energy", str(lanmax_run)]) == 0
    text = capsys.readouterr().out
    assert "fc1 (2)" in text and "fc3 (8)" in text  # layer labels, not bare module indices
    assert "| fc2 (5) |" in (lanmax_run / "energy.md").read_text()
    assert "eps_ref = 1e-12" in text and "beta = 1 fJ" in text and "x reliable" in text
    assert main(["energy", str(lanmax_run), "--json", "--eps-ref", "1e-9"]) == 0
    report = json.loads(capsys.readouterr().out)
    final = json.loads((lanmax_run / "final_eps.json").read_text())["eps"]
    assert {r["name"]: r["eps"] for r in report["layers"]} == pytest.approx(final)
    assert report["model"]["eps_ref"] == 1e-9
    assert sum(r["share"] for r in report["layers"]) == pytest.approx(1.0)
    assert report["ratio_to_reliable"] < 1.0  # every layer is noisier than eps_ref


def test_energy_command_errors_name_the_problem(tmp_path, capsys):
    assert main(["energy", str(tmp_path / "missing")]) == 2
    assert "missing/config.yaml" in capsys.readouterr().err
    assert main(["energy", str(tmp_path), "--beta", "0"]) == 2
    assert "beta" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["bet", "bet-correlation", "eps-matrix", "sensitivity"])
def test_every_analysis_has_a_subcommand(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", name, "-h"])
    assert exc.value.code == 0 and f"bench analyze {name}" in capsys.readouterr().out


def test_sensitivity_randomising_any_layer_costs_accuracy(lanmax_run, tmp_path, capsys):
    out = tmp_path / "sens"
    assert main(["analyze", "sensitivity", str(lanmax_run), "--out", str(out), "--max-reps", "16",
                 "--others", "reliable"]) == 0
    for ext in ("csv", "md", "json", "png"):
        assert (out / f"sensitivity.{ext}").stat().st_size > 0
    table = json.loads((out / "sensitivity.json").read_text())
    rows = {r[0]: r for r in table["rows"]}
    assert set(rows) == {"none", "fc1 (2)", "fc2 (5)", "fc3 (8)"}  # human labels, memory-map keys in brackets
    assert table["layer_labels"] == {"2": "fc1 (2)", "5": "fc2 (5)", "8": "fc3 (8)"}
    baseline = float(rows["none"][2].split()[0])
    for layer in ("fc1 (2)", "fc2 (5)", "fc3 (8)"):
        assert float(rows[layer][2].split()[0]) < baseline - 20  # a random layer wrecks a tiny BNN MLP
    assert "randomised layer" in capsys.readouterr().out


def test_eps_matrix_trains_reuses_and_writes(tmp_path, capsys):
    out = tmp_path / "m"
    args = ["analyze", "eps-matrix", "--out", str(out), "--width", "0.0625", "--epochs", "1",
            "--limit-train", "300", "--train-eps", "0,0.05", "--test-eps", "0,0.5", "--max-reps", "10"]
    assert main(args) == 0
    table = json.loads((out / "eps_matrix.json").read_text())
    assert table["header"][1:] == ["0", "0.5"] and [r[0] for r in table["rows"]] == ["0", "0.05"]
    for row in table["rows"]:
        clean, random = (float(c.split()[0]) for c in row[1:])
        assert random < clean and random < 30  # eps 0.5 = random weights: near chance (10%)
    assert (out / "eps_matrix.png").stat().st_size > 0
    ckpt = out / "runs" / "train_eps_0.05" / "checkpoints" / "epoch_0001.pt"
    stamp = ckpt.stat().st_mtime_ns
    assert main(args) == 0  # second call reuses the trained runs
    assert ckpt.stat().st_mtime_ns == stamp
    assert main(args[:-8] + ["--limit-train", "200", "--train-eps", "0", "--test-eps", "0"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_eps_matrix_rejects_bad_rates(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "eps-matrix", "--train-eps", "0,2"])
    assert "rates must lie in [0, 1]" in capsys.readouterr().err
