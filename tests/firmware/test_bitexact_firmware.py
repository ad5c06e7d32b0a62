"""Bit-exact deployment: firmware scores == reference interpreter == PyTorch integer scores.

Networks exported from PyTorch (random and trained BNNs of several shapes, WAGE nets) go to
the firmware over the real protocol (weight image LOADed into the memory under test, blob
via MODEL_CHUNK/COMMIT): the host build over loopback TCP, and the Cortex-M4 builds under
QEMU (mps2-an386, netduinoplus2) through ``socket://`` for small nets.
"""

import shutil
import zlib

import numpy as np
import pytest
import torch

from drivers.board import Board, ProtocolError
from drivers.firmware_process import QEMU, QEMU_MACHINES, start_host, start_qemu
from drivers.memory_layout import bit_addresses
from models import reference
from models.blob import BlobError, ModelBlob
from models.export import export_model, torch_scores
from models.faults import FaultInjector, FixedMasks, bits_to_mask
from models.layers import assign_memory_map, attach_faults, stored_layers
from models.training import TrainConfig, train
from tests.netzoo import BNN_CASES, ODD_SHAPE, WAGE_CASES, bnn, inputs, odd_bnn, single_layer, wage

N_INPUTS = 6


@pytest.fixture(scope="module")
def board():
    with start_host(["--mem-words", "65536"]) as fw, Board(fw.url) as b:
        yield b


def three_way(board, net, shape, n=N_INPUTS, seed=0):
    """Deploy ``net``; return (firmware, interpreter, torch) scores on ``n`` inputs."""
    ex = export_model(net, shape)
    info = board.deploy(ex.blob_bytes(), ex.image)
    assert (info.n_layers, info.n_scores) == (len(ex.blob.layers), ex.blob.n_scores)
    x = inputs(shape, n, seed)
    codes = reference.quantize_input(x.numpy(), ex.blob.input_levels)
    fw = np.stack([board.infer(c).scores for c in codes])
    return fw, reference.scores(ex.blob, ex.image, codes), torch_scores(net, x, torch.float32)


NETS = [pytest.param(lambda a=a, s=s, w=w: (bnn(a, s, w, seed=31), s), id=f"bnn-{a}-{'x'.join(map(str, s))}")
        for a, s, w in BNN_CASES]
NETS += [pytest.param(lambda a=a, s=s, k=k: (wage(a, s, k, seed=32), s), id=f"wage-{a}") for a, s, k in WAGE_CASES]
NETS += [pytest.param(lambda: (odd_bnn(seed=33), ODD_SHAPE), id="bnn-odd-layers"),
         pytest.param(lambda: (single_layer(seed=34), (37,)), id="bnn-single-layer")]


@pytest.mark.parametrize("make", NETS)
def test_host_firmware_equals_interpreter_equals_torch(board, make):
    net, shape = make()
    fw, ref, pt = three_way(board, net, shape)
    np.testing.assert_array_equal(fw, ref)
    np.testing.assert_array_equal(ref, pt)
    assert len(np.unique(fw)) > 3


def test_trained_net_on_host_firmware(board, tmp_path):
    s = train(TrainConfig(arch="cnn", width=0.1, epochs=1, limit_train=128, limit_test=32, eval_draws=1),
              tmp_path / "run")
    ex = export_model(s.net, s.data.in_shape)
    board.deploy(ex.blob_bytes(), ex.image)
    codes = reference.quantize_input(s.data.test_x[:16].numpy(), ex.blob.input_levels)
    fw = np.stack([board.infer(c).scores for c in codes])
    np.testing.assert_array_equal(fw, reference.scores(ex.blob, ex.image, codes))
    np.testing.assert_array_equal(fw, torch_scores(s.net, s.data.test_x[:16]))


def test_faulty_memory_replays_through_interpreter_and_torch(board):
    """Flip bits in the board's weight memory; the words READ back, run by the interpreter,
    give the firmware's scores, and PyTorch with the same flips as fault masks agrees."""
    shape = (1, 8, 8)
    net = bnn("cnn", shape, 0.05, seed=35)
    ex = export_model(net, shape)
    board.deploy(ex.blob_bytes(), ex.image)
    rng = np.random.default_rng(36)
    assign_memory_map(net)
    flips, masks = np.zeros(32 * len(ex.image), bool), {}
    for name, layer in stored_layers(net):
        addr = bit_addresses(layer.fault_site.region)
        hit = rng.random(addr.shape) < 0.03
        flips[addr[hit]] = True
        masks[name] = bits_to_mask(torch.from_numpy(hit), torch.uint8)
    bad = ex.image ^ np.packbits(flips, bitorder="little").view("<u4")
    board.load(0, bad)
    readback = board.read(0, len(ex.image))
    np.testing.assert_array_equal(readback, bad)
    x = inputs(shape, N_INPUTS, seed=37)
    codes = reference.quantize_input(x.numpy(), 127)
    fw = np.stack([board.infer(c).scores for c in codes])
    np.testing.assert_array_equal(fw, reference.scores(ex.blob, readback, codes))
    attach_faults(net, FaultInjector(FixedMasks(masks), torch.Generator()))
    np.testing.assert_array_equal(fw, torch_scores(net, x, torch.float32))
    assert not np.array_equal(fw, reference.scores(ex.blob, ex.image, codes))


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which(QEMU) is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and gcc-arm-none-eabi (.ci/run installs them)")
@pytest.mark.parametrize("target", sorted(QEMU_MACHINES))
@pytest.mark.parametrize("kind", ["bnn", "wage"])
def test_cortex_m4_under_qemu_equals_interpreter_equals_torch(kind, target):
    shape = (1, 8, 8)
    net = bnn("cnn", shape, 0.05, seed=38) if kind == "bnn" else wage("mlp", shape, {"width": 40}, seed=38)
    with start_qemu(target) as fw, Board(fw.url, timeout=10.0, wait_boot=10.0) as b:
        assert b.url.startswith("socket://")
        got, ref, pt = three_way(b, net, shape, n=4, seed=39)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(ref, pt)


def mutated_blobs(good: bytes, n_layers: int, n: int, rng: np.random.Generator):
    """Single-byte mutations (mostly in header and layer table) with the CRC fixed up."""
    table_end = 32 + 40 * n_layers
    for i in range(n):
        d = bytearray(good)
        pos = int(rng.integers(0, len(d) - 4 if i % 4 == 0 else table_end))
        d[pos] = int(rng.integers(0, 256)) if i % 2 else d[pos] ^ (1 << int(rng.integers(0, 8)))
        d[-4:] = zlib.crc32(bytes(d[:-4])).to_bytes(4, "little")
        yield bytes(d)


def parsed_mutations(board, make, seed: int):
    """Deploy ``make``'s net, then yield ``(export, mutated blob, ModelBlob or the BlobError)``."""
    net, shape = make()
    ex = export_model(net, shape)
    board.load(0, ex.image)
    for data in mutated_blobs(ex.blob_bytes(), len(ex.blob.layers), 300, np.random.default_rng(seed)):
        try:
            yield ex, shape, data, ModelBlob.from_bytes(data)
        except BlobError as exc:
            yield ex, shape, data, exc


CROSS_CHECK_NETS = [NETS[-2], NETS[len(BNN_CASES) + 1]]  # odd BNN layers, WAGE lenet5


@pytest.mark.parametrize("make", CROSS_CHECK_NETS)
def test_firmware_accepts_every_blob_the_python_parser_accepts(board, make):
    """Both parsers of FORMAT.md B.2 on the same mutated blobs: whatever models.blob accepts,
    the firmware accepts too, and runs it as the interpreter does."""
    accepted = 0
    for ex, shape, data, blob in parsed_mutations(board, make, seed=40):
        if isinstance(blob, BlobError):
            continue
        accepted += 1
        board.load_model(data)  # raises ProtocolError if the firmware disagrees
        codes = reference.quantize_input(inputs(shape, 1, seed=accepted).numpy(), blob.input_levels)
        np.testing.assert_array_equal(board.infer(codes[0]).scores, reference.scores(blob, ex.image, codes)[0])
    assert accepted >= 10  # mutations of thresholds, flips and padding-free fields stay valid


@pytest.mark.parametrize("make", CROSS_CHECK_NETS)
def test_firmware_rejects_every_blob_the_python_parser_rejects(board, make):
    """The converse: a blob models.blob rejects is rejected by the firmware too (and the board
    keeps serving). `input_levels` is the one host-only rule (FORMAT.md: how the host quantises)."""
    rejected = 0
    for ex, _, data, blob in parsed_mutations(board, make, seed=41):
        if not isinstance(blob, BlobError) or "input_levels" in str(blob):
            continue
        rejected += 1
        with pytest.raises(ProtocolError):
            board.load_model(data)
    assert rejected >= 50
    board.load_model(ex.blob_bytes())  # still serving
