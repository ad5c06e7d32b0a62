"""INFER and step mode on the host firmware, over the real protocol, equal bit for bit to the
numpy reference interpreter (models/reference.py) on random networks of every kernel family."""

import numpy as np
import pytest

from drivers.board import Board, ProtocolError
from drivers.firmware_process import start_host
from models import reference
from tests.firmware_nets import random_inputs, random_net


@pytest.fixture(scope="module")
def board():
    with start_host(["--mem-words", "65536"]) as fw, Board(fw.url) as b:
        yield b


@pytest.mark.parametrize("kind", ["mlp", "cnn", "wage", "large_input"])
def test_infer_matches_reference(board, kind):
    rng = np.random.default_rng({"mlp": 1, "cnn": 2, "wage": 3, "large_input": 6}[kind])
    blob, words = random_net(kind, rng)
    info = board.deploy(blob.to_bytes(), words)
    assert (info.n_layers, info.n_scores) == (len(blob.layers), blob.n_scores)
    x = random_inputs(blob, 6, rng)
    expected = reference.scores(blob, words, x)
    assert len(np.unique(expected)) > 3  # the network does not collapse to constants
    for xi, want in zip(x, expected):
        got = board.infer(xi)
        np.testing.assert_array_equal(got.scores, want)
        assert got.counts.shape == (len(blob.layers),) and got.count_unit == "ns"


def test_step_mode_equals_infer_and_reads_memory_each_run(board):
    rng = np.random.default_rng(4)
    blob, words = random_net("cnn", rng)
    board.deploy(blob.to_bytes(), words)
    x = random_inputs(blob, 1, rng)[0]
    assert board.step_input(x) == len(blob.layers)
    steps = [board.step() for _ in blob.layers]
    assert [s.layer for s in steps] == list(range(len(blob.layers)))
    assert [s.done for s in steps] == [False] * (len(blob.layers) - 1) + [True]
    np.testing.assert_array_equal(steps[-1].scores, board.infer(x).scores)
    with pytest.raises(ProtocolError, match="BAD_STATE"):
        board.step()  # past the last layer
    # weights are read from the memory at every run: corrupt one layer's region, scores follow
    region = blob.layers[-1]
    bad = words.copy()
    bad[region.base_word:region.base_word + region.n_words] ^= 0xFFFFFFFF
    board.load(region.base_word, bad[region.base_word:region.base_word + region.n_words])
    np.testing.assert_array_equal(board.infer(x).scores, reference.scores(blob, bad, x[None])[0])


def test_commit_rejects_corrupt_blob_and_keeps_serving(board):
    rng = np.random.default_rng(5)
    blob, words = random_net("mlp", rng)
    data = bytearray(blob.to_bytes())
    data[40] ^= 1  # inside the layer table: CRC32 mismatch
    with pytest.raises(ProtocolError, match="BAD_MODEL.*crc"):
        board.load_model(bytes(data))
    with pytest.raises(ProtocolError, match="NO_MODEL"):
        board.infer(np.zeros(60, np.int8))
    assert board.deploy(blob.to_bytes(), words).n_layers == 3


def test_infer_with_empty_payload_needs_a_complete_staged_input(board):
    rng = np.random.default_rng(8)
    blob, words = random_net("mlp", rng)
    board.deploy(blob.to_bytes(), words)
    x = random_inputs(blob, 1, rng)[0]
    board._request("INPUT", b"\x00\x00\x00\x00" + x[:20].tobytes())  # only part of the input
    with pytest.raises(ProtocolError, match="BAD_STATE"):
        board._request("INFER", b"\x01\x00\x00\x00")  # repeat 1, the staged input
    board._request("INPUT", b"\x14\x00\x00\x00" + x[20:].tobytes())
    want = reference.scores(blob, words, x[None])[0]
    scores = np.frombuffer(board._request("INFER", b"\x01\x00\x00\x00"), "<i4", blob.n_scores, offset=16)
    np.testing.assert_array_equal(scores, want)
