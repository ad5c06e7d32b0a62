"""Repeated STEP/INFER and IDLE (PROTOCOL.md "Repeats", "IDLE") on the host firmware with its
virtual chip: the chip counts every word read from the memory under test in the lab state file
(docs/VIRTUAL_LAB.md), so the tests see how often the weights were really read."""

import struct

import numpy as np
import pytest

from drivers.board import MAX_IDLE_COUNT, MAX_REPEAT, MSG, MSG_ERROR, Board, BoardError
from drivers.firmware_process import start_host
from drivers.framing import encode_frame, pack_payload
from drivers.virtual_lab.lab_state import LabState
from models import reference
from tests.firmware_nets import random_inputs, random_net

NOMINAL_V = 1.0  # the virtual chip's defaults: fault probability ~1e-9 per bit here


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    state = LabState(tmp_path_factory.mktemp("lab") / "lab_state.bin", create=True)
    state.set_rail(NOMINAL_V, True)
    with start_host(["--lab-state", str(state.path), "--mem-words", "65536"]) as fw, Board(fw.url, timeout=10.0) as b:
        yield b, state
    state.close()


@pytest.fixture(scope="module")
def cnn(lab):
    board, _ = lab
    rng = np.random.default_rng(21)
    blob, words = random_net("cnn", rng)
    board.deploy(blob.to_bytes(), words)
    x = random_inputs(blob, 2, rng)
    return blob, words, x


def reads(state: LabState) -> int:
    return state.activity()[0]


def test_step_repeat_reads_each_layer_n_times_and_advances_once(lab, cnn):
    board, state = lab
    blob, words, x = cnn
    board.deploy(blob.to_bytes(), words)
    board.step_input(x[0])
    for i, layer in enumerate(blob.layers):
        n = 1 + i % 3 * 2  # 1, 3, 5, ...
        before = reads(state)
        res = board.step(repeat=n)
        assert reads(state) - before == n * layer.n_words  # weights read at every repeat (0 for max-pool)
        assert (res.layer, res.repeat, res.done) == (i, n, i == len(blob.layers) - 1)
        assert res.count == res.total_count // n and res.count_unit == "ns"
    np.testing.assert_array_equal(res.scores, reference.scores(blob, words, x[:1])[0])


def test_infer_repeat_reads_the_network_n_times_with_the_scores_of_repeat_1(lab, cnn):
    board, state = lab
    blob, words, x = cnn
    weight_words = sum(layer.n_words for layer in blob.layers)
    for xi, want in zip(x, reference.scores(blob, words, x)):
        once = board.infer(xi)
        before = reads(state)
        res = board.infer(xi, repeat=7)
        assert reads(state) - before == 7 * weight_words
        np.testing.assert_array_equal(once.scores, want)
        np.testing.assert_array_equal(res.scores, want)
        assert res.repeat == 7 and once.repeat == 1 and res.counts.shape == (len(blob.layers),)
        assert int(res.counts.sum()) * 7 <= res.total_count  # per-repeat layer counts inside the window
        assert int(once.counts.sum()) <= once.total_count


def test_idle_touches_no_memory_and_waits_at_least_the_count(lab):
    board, state = lab
    board.read(0, 4)
    before = state.activity()
    res = board.idle(2_000_000)  # 2 ms
    assert state.activity() == before  # no read, no write, no access time stamped
    assert res.count >= 2_000_000 and res.count_unit == "ns"


def test_limits_are_refused_with_bad_arg_and_change_nothing(lab, cnn):
    board, state = lab
    blob, words, x = cnn
    board.deploy(blob.to_bytes(), words)
    board.step_input(x[0])
    before = reads(state)
    for name, fields, limit in [("STEP", struct.pack("<I", 0), MAX_REPEAT),
                                ("STEP", struct.pack("<I", MAX_REPEAT + 1), MAX_REPEAT),
                                ("INFER", struct.pack("<I", MAX_REPEAT + 1) + x[0].tobytes(), MAX_REPEAT),
                                ("IDLE", struct.pack("<I", 0), MAX_IDLE_COUNT)]:
        (frame,) = board.exchange_raw(encode_frame(pack_payload(MSG[name], 0x5151, fields)))
        code, _, _, detail = struct.unpack_from("<HBBI", frame, 3)
        assert (frame[0], code, detail) == (MSG_ERROR, 10, limit), name  # BAD_ARG, detail = the limit
    for bad in (lambda: board.step(repeat=0), lambda: board.infer(x[0], repeat=MAX_REPEAT + 1),
                lambda: board.idle(0), lambda: board.idle(MAX_IDLE_COUNT + 1)):
        with pytest.raises(BoardError, match=r"must be 1\.\."):
            bad()
    assert reads(state) == before
    assert board.step().layer == 0  # the step position did not move


def test_a_retried_repeated_step_is_not_run_again(lab, cnn):
    board, state = lab
    blob, words, x = cnn
    board.deploy(blob.to_bytes(), words)
    board.step_input(x[0])
    frame = encode_frame(pack_payload(MSG["STEP"], 0x6262, struct.pack("<I", 4)))
    before = reads(state)
    first = board.exchange_raw(frame)
    retry = board.exchange_raw(b"\x00" + frame)  # a client's resend after a lost reply
    assert first == retry and first[0][0] == MSG["STEP"] | 0x80
    assert reads(state) - before == 4 * blob.layers[0].n_words
    assert board.step().layer == 1
