"""The mps2-an386 (Cortex-M4) firmware under QEMU through socket://: handshake, LOAD/READ,
PATTERN, INFER bit-exact with the reference interpreter, instruction counts per layer, repeats
and IDLE in instructions, boot_id."""

import shutil

import numpy as np
import pytest

from drivers.board import Board, ProtocolError
from drivers.firmware_process import start_qemu
from models import reference
from tests.firmware_nets import random_inputs, random_net

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs qemu-system-arm and gcc-arm-none-eabi")


@pytest.fixture(scope="module")
def board():
    with start_qemu() as fw, Board(fw.url, timeout=5.0, wait_boot=10.0) as b:
        yield b
    assert not fw.running


def test_hello_reports_the_m4_target(board):
    assert board.info.target == "mps2-an386" and board.info.count_unit == "instructions"
    assert board.info.protocol_version == 2 and board.info.mem_words > 0
    assert board.info.boot_id == 1  # QEMU starts at 1 (PROTOCOL.md "boot_id")


def test_load_read_pattern(board):
    data = np.random.default_rng(7).integers(0, 2 ** 32, 600, dtype=np.uint64).astype(np.uint32)
    board.load(1000, data)
    np.testing.assert_array_equal(board.read(1000, 600), data)
    res = board.pattern("random", 0, 2048, seed=5)
    assert res.flips == 0 and res.n_words == 2048  # QEMU memory is nominal


@pytest.mark.parametrize("kind", ["mlp", "cnn", "wage"])
def test_infer_bit_exact_with_instruction_counts(board, kind):
    rng = np.random.default_rng(11)
    blob, words = random_net(kind, rng)
    board.deploy(blob.to_bytes(), words)
    x = random_inputs(blob, 2, rng)
    for xi, want in zip(x, reference.scores(blob, words, x)):
        got = board.infer(xi)
        np.testing.assert_array_equal(got.scores, want)
        assert got.count_unit == "instructions" and np.all(got.counts > 0)
    # deterministic under -icount: the same input costs the same instructions (+- one tick)
    a, b = board.infer(x[0]).counts.astype(np.int64), board.infer(x[0]).counts.astype(np.int64)
    assert np.all(np.abs(a - b) <= 80)


def test_repeats_and_idle_count_instructions(board):
    rng = np.random.default_rng(12)
    blob, words = random_net("mlp", rng)
    board.deploy(blob.to_bytes(), words)
    x = random_inputs(blob, 1, rng)[0]
    want = reference.scores(blob, words, x[None])[0]
    once, five = board.infer(x), board.infer(x, repeat=5)
    np.testing.assert_array_equal(five.scores, want)
    # deterministic under -icount: five repeats cost five single runs (+- one 40-instruction tick each)
    assert np.all(np.abs(five.counts.astype(np.int64) - once.counts) <= 80)
    assert abs(five.total_count - 5 * once.total_count) <= 5 * 80
    board.step_input(x)
    one = board.step()
    board.step_input(x)
    three = board.step(repeat=3)
    assert three.layer == 0 and abs(three.total_count - 3 * one.total_count) <= 3 * 80
    idle = board.idle(100_000)
    assert idle.count_unit == "instructions" and 100_000 <= idle.count <= 100_000 + 200


def test_errors_keep_the_m4_serving(board):
    with pytest.raises(ProtocolError, match="BAD_STATE"):
        board._request("MODEL_COMMIT", b"\x05\x00\x00\x00")
    assert board.reset().boot_id == 1  # a soft RESET keeps the boot id
    with pytest.raises(ProtocolError, match="NO_MODEL"):
        board.step()
    assert board.read(0, 4).shape == (4,)
