"""The key replay test: a trained net deployed on the virtual lab's board, run at a low
voltage, against pure-software replay of the fault map read back from that board at that voltage.

All-persistent chip: board scores == replayed PyTorch scores == reference interpreter on the
read-back words, input by input. With a transient part: accuracies agree within their CIs.
Real parts only: host firmware over TCP (drivers/board.py), SCPI supply simulator via pyvisa.
"""

import math

import numpy as np
import pytest
import torch
import yaml

from drivers.board import Board
from drivers.faultmap import FaultMap, write_faultmap
from drivers.supplies import open_supply
from drivers.virtual_lab.lab import VirtualLab
from drivers.virtual_lab.physics import DEFAULT_CHIP
from models import reference
from models.evaluation import ci_half_width
from models.export import export_model, torch_scores
from models.faults import FaultInjector
from models.layers import attach_faults
from models.replay import ReplayFaults, replay_accuracies
from models.training import load_run
from models.training import TrainConfig, train

NOMINAL, LOW = 0.9, 0.47
N_TEST = 120


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small BNN on digits (fc32 fc32: rows of 64 and 32 weights, no padding bits)."""
    out = tmp_path_factory.mktemp("run") / "run"
    train(TrainConfig(arch="mlp", dataset="digits", width=1 / 64, epochs=2, seed=0), out)
    net, _, extra = load_run(out)
    return out, net, extra["data"]


def _chip(tmp_path, transient):
    raw = yaml.safe_load(DEFAULT_CHIP.read_text())
    raw["transient_ratio"] = transient
    path = tmp_path / f"chip_t{transient}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _board_session(chip_file, net, x_codes, reads):
    """Deploy at nominal, verify, step down to LOW, infer every input, then read back the weights
    ``reads`` times at LOW. Returns (scores, exported, read-back word arrays)."""
    ex = export_model(net, (1, 8, 8))
    with VirtualLab(chip_file) as lab, Board(lab.board_url) as board, \
            open_supply(lab.supply_resource, backend="@py", channel=1, vmax=1.0, imax=0.1) as supply:
        supply.volts = NOMINAL
        supply.output_enabled = True
        board.deploy(ex.blob_bytes(), ex.image)
        np.testing.assert_array_equal(board.read(0, len(ex.image)), ex.image)  # verified at nominal
        supply.volts = LOW
        scores = np.stack([board.infer(x).scores for x in x_codes])
        readback = [board.read(0, len(ex.image)) for _ in range(reads)]
        chip_id = lab.chip_id
    fmap = FaultMap.from_reads(ex.image, readback, chip_id=chip_id, pattern="weights",
                               operating_point={"name": f"{LOW} V", "voltage_V": LOW})
    return scores, ex, readback, fmap


def test_persistent_chip_board_equals_replay_input_by_input(trained, tmp_path):
    _, net, data = trained
    x = data.test_x[:N_TEST]
    ex0 = export_model(net, (1, 8, 8))
    codes = reference.quantize_input(x.numpy(), ex0.blob.input_levels)
    scores, ex, readback, fmap = _board_session(_chip(tmp_path, 0.0), net, codes, reads=2)
    np.testing.assert_array_equal(readback[0], readback[1])  # all persistent: every read the same
    assert 20 < int(np.unpackbits(fmap.xor[0].view(np.uint8)).sum()) < 0.2 * fmap.n_bits  # faults, not chaos

    path = write_faultmap(tmp_path / "maps" / "board_low.npz", fmap)
    replay = ReplayFaults.from_files([path])
    attach_faults(net, FaultInjector(replay, torch.Generator()))
    try:
        software = torch_scores(net, x)
    finally:
        attach_faults(net, None)
    np.testing.assert_array_equal(software, scores)  # input by input, every score
    np.testing.assert_array_equal(reference.scores(ex.blob, readback[0], codes), scores)
    assert not np.array_equal(torch_scores(net, x), scores)  # the faults did change the scores


def test_transient_chip_accuracies_agree_within_ci(trained, tmp_path):
    _, net, data = trained
    x, y = data.test_x[:N_TEST], data.test_y[:N_TEST]
    codes = reference.quantize_input(x.numpy(), export_model(net, (1, 8, 8)).blob.input_levels)
    scores, _, readback, fmap = _board_session(_chip(tmp_path, 0.3), net, codes, reads=6)
    assert not all(np.array_equal(readback[0], r) for r in readback[1:])  # transient part present
    board_acc = float((torch.from_numpy(scores.argmax(1)) == y).double().mean())
    board_hw = 1.96 * math.sqrt(max(board_acc * (1 - board_acc), 1e-4) / N_TEST)

    path = write_faultmap(tmp_path / "maps" / "board_low.npz", fmap)
    accs = replay_accuracies(net, x, y, ReplayFaults.from_files([path]))
    sw_acc = sum(accs) / len(accs)
    sw_hw = ci_half_width(torch.tensor(accs, dtype=torch.float64))
    assert abs(board_acc - sw_acc) <= board_hw + sw_hw, (board_acc, board_hw, sw_acc, sw_hw, accs)
