"""The Cortex-M4 firmware under QEMU through socket://, for each emulated target: mps2-an386 and
netduinoplus2 (the Nucleo-F411's STM32F4 code on QEMU's STM32F405 machine). Handshake,
LOAD/READ, PATTERN, INFER bit-exact with the reference interpreter, instruction counts per layer,
repeats and IDLE in instructions, boot_id. ``bench firmware test --target T`` runs this module
for one target."""

import shutil

import numpy as np
import pytest

from drivers.board import Board, ProtocolError, pattern_words
from drivers.firmware_process import QEMU_MACHINES, start_qemu
from models import reference
from tests.firmware_nets import random_inputs, random_net

pytestmark = [pytest.mark.qemu,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and gcc-arm-none-eabi")]

KINDS = ["mlp", "cnn", "wage", "large_input"]  # large_input: 3072 bytes, staged in INPUT chunks


@pytest.fixture(scope="module", params=sorted(QEMU_MACHINES))
def target(request):
    return request.param


@pytest.fixture(scope="module")
def board(target):
    with start_qemu(target) as fw, Board(fw.url, timeout=5.0, wait_boot=10.0) as b:
        yield b
    assert not fw.running


def test_hello_reports_the_target(board, target):
    assert board.info.target == target and board.info.count_unit == "instructions"
    assert board.info.protocol_version == 2 and board.info.mem_words >= 2048 + 1600
    assert board.info.boot_id == 1  # QEMU starts at 1 (PROTOCOL.md "boot_id")
    assert board.chip_id() is None   # IDENT: the RAM HAL has no identity to give


def test_load_read_pattern(board):
    data = np.random.default_rng(7).integers(0, 2 ** 32, 600, dtype=np.uint64).astype(np.uint32)
    board.load(1000, data)
    np.testing.assert_array_equal(board.read(1000, 600), data)
    res = board.pattern("random", 0, 2048, seed=5)
    assert res.flips == 0 and res.n_words == 2048  # QEMU memory is nominal
    np.testing.assert_array_equal(board.read(0, 2048), pattern_words("random", 0, 2048, seed=5))


def deploy_and_infer(board, kind):
    """Deploy the seed-11 random ``kind`` net; (firmware INFER results, reference scores) on 2 inputs."""
    rng = np.random.default_rng(11)
    blob, words = random_net(kind, rng)
    board.deploy(blob.to_bytes(), words)
    x = random_inputs(blob, 2, rng)
    return [board.infer(xi) for xi in x], reference.scores(blob, words, x), x


@pytest.mark.parametrize("kind", KINDS)
def test_infer_bit_exact_with_instruction_counts(board, kind):
    got, want, x = deploy_and_infer(board, kind)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.scores, w)
        assert g.count_unit == "instructions" and np.all(g.counts > 0)
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


def test_both_machines_count_the_same_instructions():
    """The same kernels on both machines: per-layer counts agree within mps2's 40-instruction
    SysTick resolution plus the two ports' counter read-out code, which checks the
    netduinoplus2 port's tick-to-instruction scale (168 MHz core clock, HARDWARE 9)."""
    counts = {}
    for target in sorted(QEMU_MACHINES):
        with start_qemu(target) as fw, Board(fw.url, timeout=5.0, wait_boot=10.0) as b:
            counts[target] = np.concatenate([deploy_and_infer(b, kind)[0][0].counts for kind in ("cnn", "wage")])
    a, b = (counts[t].astype(np.int64) for t in sorted(QEMU_MACHINES))
    assert np.all(np.abs(a - b) <= 40 + 100), (a, b)
    assert a.max() > 50_000  # layers long enough that a wrong clock scale would show
