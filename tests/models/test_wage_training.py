"""bench train --method wage: integer training into a standard run directory."""

import json

import pytest
import torch

from bench.cli import main
from models.training import load_run
from models.wage import set_storage, wage_layers
from models.wage_method import eta_at


def test_eta_schedule_scaled_to_epochs():
    assert [eta_at(e, 300) for e in (0, 199, 200, 249, 250, 299)] == [8, 8, 1, 1, 0.125, 0.125]
    assert [eta_at(e, 6) for e in range(6)] == [8, 8, 8, 8, 1, 0.125]
    assert eta_at(0, 6, scale=0.5) == 4


@pytest.fixture(scope="module")
def wage_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("wage") / "run"
    rc = main(["train", "--method", "wage", "--bits", "2-8-8-8", "--arch", "mlp", "--width", "0.05",
               "--epochs", "6", "--limit-train", "400", "--limit-test", "200", "--out", str(out)])
    assert rc == 0
    return out


def test_wage_run_directory_and_integer_weights(wage_run):
    for name in ("config.yaml", "metrics.jsonl", "layers.json", "energy.md", "final_eps.json", "status.json"):
        assert (wage_run / name).is_file()
    layers = json.loads((wage_run / "layers.json").read_text())
    assert layers and all(l["bits"] == 8 for l in layers)  # int8 training storage: b_l = 8
    metrics = [json.loads(l) for l in (wage_run / "metrics.jsonl").read_text().splitlines()]
    assert [m["eta"] for m in metrics] == [8, 8, 8, 8, 1, 0.125]
    assert metrics[-1]["test_acc"] > 0.6  # ten classes: chance is 0.1
    net, config, extra = load_run(wage_run)
    assert config.method_options["bits"] == "2-8-8-8"
    for _, layer in wage_layers(net):
        w = layer.weight.detach()
        assert w.abs().max() <= 0.5  # C(W, 2) after every update
        assert torch.equal(w * 128, (w * 128).round())  # updates are multiples of sigma(8)
    # the deployed ternary net computes the same outputs as the int8-stored one
    x = extra["data"].test_x[:32]
    with torch.no_grad():
        y8 = net(x)
        set_storage(net, "ternary")
        assert torch.equal(net(x), y8)


def test_wage_float_slots_and_bad_bits(tmp_path, capsys):
    out = tmp_path / "ff"
    assert main(["train", "--method", "wage", "--bits", "28ff", "--arch", "mlp", "--width", "0.03",
                 "--epochs", "1", "--limit-train", "300", "--limit-test", "100", "--out", str(out)]) == 0
    assert main(["train", "--method", "wage", "--bits", "2-8-x-8", "--out", str(tmp_path / "bad")]) != 0
    assert "--bits" in capsys.readouterr().err
    assert main(["train", "--method", "wage", "--gradient", "aware", "--out", str(tmp_path / "bad")]) != 0
    assert "binary weights only" in capsys.readouterr().err


def test_wage_with_uniform_faults_on_stored_words(tmp_path):
    out = tmp_path / "noisy"
    assert main(["train", "--method", "wage", "--arch", "mlp", "--width", "0.03", "--epochs", "1",
                 "--limit-train", "300", "--limit-test", "100", "-o", "noise=uniform",
                 "-o", "noise_options=eps=0.01", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert set(metrics["eps"].values()) == {0.01}
    assert "test_acc_faulty" in metrics


def test_wage_with_lanmax_on_ternary_words(tmp_path):
    """LaNMax picks per-layer eps for the deployed ternary words: energy counts b_l = 2 = k_W."""
    out = tmp_path / "lanmax"
    assert main(["train", "--method", "wage", "--arch", "mlp", "--width", "0.03", "--epochs", "2",
                 "--limit-train", "640", "--limit-test", "100", "-o", "noise=lanmax",
                 "-o", "storage=ternary", "--out", str(out)]) == 0
    layers = json.loads((out / "layers.json").read_text())
    assert [l["bits"] for l in layers] == [2, 2, 2]
    final = json.loads((out / "final_eps.json").read_text())["eps"]
    assert set(final) == {l["name"] for l in layers} and all(0 < e < 1 for e in final.values())
