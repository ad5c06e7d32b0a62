"""Protocol robustness against the host firmware over its real socket: each malformed,
oversized, out-of-range or out-of-order request gets its error reply, and the next valid
request succeeds."""

import struct

import numpy as np
import pytest

from drivers.board import ERRORS, MSG, MSG_ERROR, Board, BoardError, ProtocolError, pattern_words
from drivers.framing import crc16, encode_frame, pack_payload
from drivers.firmware_process import start_host
from cobs import cobs

MEM_WORDS = 4096


@pytest.fixture(scope="module")
def fw():
    with start_host(["--mem-words", str(MEM_WORDS)]) as proc:
        yield proc


@pytest.fixture(scope="module")
def board(fw):  # one session for the module: pyserial's socket close sleeps 0.3 s
    with Board(fw.url, timeout=1.0) as b:
        yield b


def error_of(frames) -> tuple[str, int, int]:
    assert len(frames) == 1, frames
    payload = frames[0]
    assert payload[0] == MSG_ERROR, payload
    seq, = struct.unpack_from("<H", payload, 1)
    code, req_id = struct.unpack_from("<HB", payload, 3)
    return ERRORS[code], seq, req_id


def still_serving(board):
    data = np.arange(7, dtype=np.uint32) * 0x01010101
    board.load(100, data)
    np.testing.assert_array_equal(board.read(100, 7), data)


def test_corrupted_crc(board):
    raw = bytearray(cobs.encode(pack_payload(MSG["HELLO"], 9) + struct.pack("<H", crc16(pack_payload(MSG["HELLO"], 9)) ^ 1)))
    assert error_of(board.exchange_raw(bytes(raw) + b"\x00")) == ("BAD_CRC", 0xFFFF, 0)
    still_serving(board)


@pytest.mark.parametrize("raw, code", [(b"\x10" + bytes(range(1, 16)) + b"\x00", "BAD_CRC"),  # decodable garbage
                                       (b"\x07" * 5000 + b"\x00", "OVERSIZE")])
def test_malformed_frames(board, raw, code):
    assert error_of(board.exchange_raw(raw)) == (code, 0xFFFF, 0)
    still_serving(board)


@pytest.mark.parametrize("raw", [b"\x02\x01\x00",                    # decodes to 1 byte: shorter than id+seq+CRC
                                 b"\x05\x11\x00",                    # last block announces more bytes than came
                                 bytes(range(1, 200)) + b"\x00"])      # garbage ending inside a block
def test_partial_frames_get_no_reply(board, raw):
    assert board.exchange_raw(raw, wait=0.3) == []
    still_serving(board)


def test_lone_delimiter_only_resynchronises(board):
    assert board.exchange_raw(b"\x00\x00\x00", wait=0.2) == []
    still_serving(board)


@pytest.mark.parametrize("msg_id, fields, code", [
    (0x55, b"", "UNKNOWN_CMD"),
    (0x81, b"", "UNKNOWN_CMD"),
    (MSG["READ"], b"\x00\x00\x00", "BAD_LENGTH"),
    (MSG["HELLO"], b"\x00", "BAD_LENGTH"),
    (MSG["READ"], struct.pack("<IH", MEM_WORDS - 1, 2), "OUT_OF_RANGE"),
    (MSG["LOAD"], struct.pack("<IHH", MEM_WORDS, 1, 0) + b"\x01\x02\x03\x04", "OUT_OF_RANGE"),  # LOAD past the end
    (MSG["LOAD"], struct.pack("<IHH", 0xFFFFFFFF, 1, 0) + b"\x01\x02\x03\x04", "OUT_OF_RANGE"),
    (MSG["LOAD"], struct.pack("<IHH", 0, 2, 0) + b"\x01\x02\x03\x04", "BAD_LENGTH"),
    (MSG["READ"], struct.pack("<IH", 0, 0), "BAD_ARG"),
    (MSG["READ"], struct.pack("<IH", 0, 300), "BAD_ARG"),
    (MSG["PATTERN"], struct.pack("<BBHIII", 9, 1, 0, 0, 8, 0), "BAD_ARG"),
    (MSG["PATTERN"], struct.pack("<BBHIII", 0, 1, 0, MEM_WORDS - 4, 8, 0), "OUT_OF_RANGE"),
    (MSG["MODEL_CHUNK"], struct.pack("<II", 100, 50) + b"x" * 10, "BAD_STATE"),  # out of order
    (MSG["MODEL_CHUNK"], struct.pack("<II", 1 << 30, 0) + b"x", "OUT_OF_RANGE"),
    (MSG["MODEL_COMMIT"], struct.pack("<I", 77), "BAD_STATE"),
    (MSG["STEP"], b"", "NO_MODEL"),
    (MSG["STEP"], struct.pack("<I", 3), "NO_MODEL"),
    (MSG["STEP"], b"\x01\x00", "BAD_LENGTH"),
    (MSG["STEP"], struct.pack("<I", 0), "BAD_ARG"),
    (MSG["STEP"], struct.pack("<I", 65536), "BAD_ARG"),
    (MSG["INPUT"], struct.pack("<I", 5) + b"abc", "BAD_STATE"),  # INPUT chunk out of order
    (MSG["INPUT"], b"\x00", "BAD_LENGTH"),
    (MSG["INFER"], b"", "BAD_LENGTH"),  # no repeat
    (MSG["INFER"], struct.pack("<I", 1), "NO_MODEL"),
    (MSG["INFER"], struct.pack("<I", 0) + b"\x01\x02", "BAD_ARG"),
    (MSG["IDLE"], struct.pack("<I", 0), "BAD_ARG"),
    (MSG["IDLE"], b"\x01\x00", "BAD_LENGTH"),
])
def test_bad_requests_get_their_error_code(board, msg_id, fields, code):
    frames = board.exchange_raw(encode_frame(pack_payload(msg_id, 4242, fields)))
    assert error_of(frames) == (code, 4242, msg_id)
    still_serving(board)


def test_infer_before_model_and_client_side_checks(board):
    board.reset()
    with pytest.raises(ProtocolError, match="NO_MODEL"):
        board.infer(np.zeros(10, np.int8))
    with pytest.raises(BoardError, match="outside the 4096-word memory"):
        board.load(MEM_WORDS - 1, np.zeros(2, np.uint32))
    with pytest.raises(BoardError, match="int8 codes"):
        board.infer(np.full(10, 0.5))
    still_serving(board)


@pytest.mark.parametrize("base, n, seed", [(37, 300, 99), (0, 1, 0), (1, 257, 0xFFFFFFFF), (2000, 1500, 0x9E3779B9),
                                           (MEM_WORDS - 1, 1, 12345), (512, 64, 2**32 + 7)])
@pytest.mark.parametrize("kind", ["zeros", "ones", "checkerboard", "random"])
def test_pattern_writes_what_python_reproduces(board, kind, base, n, seed):
    """The firmware's PATTERN (memtest.c) and drivers.board.pattern_words are one generator."""
    board.load(base, np.full(n, 0x12345678, np.uint32))  # not the pattern: PATTERN must write it
    res = board.pattern(kind, base, n, seed=seed)
    assert res.flips == 0 and res.n_words == n and not res.truncated
    np.testing.assert_array_equal(board.read(base, n), pattern_words(kind, base, n, seed=seed))


def test_pattern_reports_injected_flips(board):
    board.pattern("checkerboard", 0, 64)
    words = pattern_words("checkerboard", 0, 64)
    words[5] ^= 0x3  # bits 0,1 of word 5: 0x55555555 has bit0 = 1, bit1 = 0
    board.load(5, words[5:6])
    res = board.pattern("checkerboard", 0, 64, write=False)
    assert (res.flips_1to0, res.flips_0to1) == (1, 1)
    assert sorted(res.bit_addresses.tolist()) == [160, 161]
    res = board.pattern("checkerboard", 0, 64, write=False, max_report=1)
    assert res.truncated and len(res.bit_addresses) == 1 and res.flips == 2


def test_large_load_read_round_trip(board):
    data = np.random.default_rng(0).integers(0, 2 ** 32, 3000, dtype=np.uint64).astype(np.uint32)
    board.load(500, data)
    np.testing.assert_array_equal(board.read(500, 3000), data)


def test_every_frame_is_logged_at_debug_level(board, caplog):
    with caplog.at_level("DEBUG", logger="drivers.board"):
        board.read(0, 2)
    lines = [r.getMessage() for r in caplog.records]
    assert any(l.startswith("-> READ seq=") for l in lines) and any(l.startswith("<- READ seq=") for l in lines)
