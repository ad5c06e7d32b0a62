"""firmware/PROTOCOL.md is a contract: the limits and rules it states, read from the document
itself, hold against the host firmware at the limit and one past it (payload size, PATTERN's
report limit, MODEL_CHUNK size, partial frames, refused requests that change nothing,
boot_id)."""

import re
import struct
import time

import numpy as np
import pytest
from cobs import cobs

from drivers.board import MSG, MSG_BOOT, MSG_ERROR, REPLY, Board
from drivers.firmware_process import FIRMWARE_DIR, start_host
from drivers.framing import encode_frame, pack_payload
from models import reference
from tests.firmware_nets import random_inputs, random_net

DOC = (FIRMWARE_DIR / "PROTOCOL.md").read_text()
ERROR_NAMES = dict(re.findall(r"^\| (\d+) \| ([A-Z_]+) \|", DOC, flags=re.M))
FRAMING_SEQ = 0xFFFF


def stated(pattern: str) -> int:
    """The one number the document states where ``pattern`` (a regex with one group) matches."""
    found = re.findall(pattern, DOC, flags=re.S)
    assert len(set(found)) == 1, f"PROTOCOL.md: {pattern!r} matched {found}"
    return int(found[0])


MAX_PAYLOAD = stated(r"The largest payload is `max_payload` from HELLO\s+\((\d+) bytes")
MAX_ENCODED = stated(r"more than (\d+) bytes \(the longest encoding")
MAX_REPORT = stated(r"u16 max_report \(<=(\d+)\)")
MAX_CHUNK = stated(r"u8 data\[<=(\d+)\]")
CHUNK_DETAIL = stated(r"more than \d+ data bytes\s+BAD_LENGTH \(detail (\d+)")


@pytest.fixture(scope="module")
def fw():
    with start_host(["--mem-words", "8192"]) as proc:
        yield proc


@pytest.fixture(scope="module")
def board(fw):
    with Board(fw.url, timeout=2.0) as b:
        yield b


def reply(board, msg_id: int, seq: int, fields: bytes = b"", wait: float = 2.0):
    frames = board.exchange_raw(encode_frame(pack_payload(msg_id, seq, fields)), wait=wait)
    assert len(frames) == 1, frames
    return frames[0]


def error(frame: bytes) -> tuple[str, int, int]:
    """(code name, seq, detail) of an ERROR reply."""
    assert frame[0] == MSG_ERROR, frame.hex()
    seq, code, _, _, detail = struct.unpack_from("<HHBBI", frame, 1)
    return ERROR_NAMES[str(code)], seq, detail


def test_the_document_states_its_limits():
    assert (MAX_PAYLOAD, MAX_REPORT, MAX_CHUNK, CHUNK_DETAIL) == (1040, 255, 1024, 1032)
    assert MAX_ENCODED == len(cobs.encode(b"\x01" * (MAX_PAYLOAD + 2)))  # the longest encoding
    assert 3 + 16 + 4 * MAX_REPORT <= MAX_PAYLOAD  # a full PATTERN reply fits


@pytest.mark.parametrize("fill", [0x5A, 0x00])
def test_payload_limit(board, fill):
    assert board.info.max_payload == MAX_PAYLOAD
    for n in range(MAX_PAYLOAD - 2, MAX_PAYLOAD + 8):
        payload = bytes([0x55, 0x34, 0x12]) + bytes([fill]) * (n - 3)  # an unknown id: decoded, then refused
        (frame,) = board.exchange_raw(encode_frame(payload))
        if n <= MAX_PAYLOAD:
            assert error(frame) == ("UNKNOWN_CMD", 0x1234, 0x55), n
        else:
            assert error(frame) == ("OVERSIZE", FRAMING_SEQ, MAX_PAYLOAD), n
    (frame,) = board.exchange_raw(b"\x01" * (MAX_ENCODED + 1) + b"\x00")
    assert error(frame) == ("OVERSIZE", FRAMING_SEQ, MAX_PAYLOAD)


def test_pattern_reports_at_most_max_report(board):
    board.pattern("ones", 100, 20)
    board.load(100, np.zeros(20, np.uint32))  # 640 cells read back wrong
    res = board.pattern("ones", 100, 20, write=False, max_report=MAX_REPORT)
    assert len(res.bit_addresses) == MAX_REPORT and res.truncated and res.flips_1to0 == 640
    fields = struct.pack("<BBHIII", 1, 0, MAX_REPORT + 1, 100, 20, 0)
    assert error(reply(board, MSG["PATTERN"], 77, fields)) == ("BAD_ARG", 77, MAX_REPORT)


def expected_for_fragment(raw: bytes) -> str | None:
    """What PROTOCOL.md "Framing" says a fragment followed by 0x00 gets (None: no reply)."""
    try:
        decoded = cobs.decode(raw)
    except cobs.DecodeError:
        return None  # the last block announces more bytes than arrived
    if len(decoded) < 5:
        return None
    return "BAD_CRC"


def test_partial_frames_and_resynchronisation(board):
    """Every prefix of a frame (several COBS blocks: the fields hold zeros), then 0x00."""
    payload = pack_payload(MSG["READ"], 0x0300, struct.pack("<IH", 0x000100, 2))
    wire = encode_frame(payload)[:-1]
    assert wire.count(1) + wire.count(2) > 2  # short blocks: some prefixes end on a block boundary
    outcomes = set()
    for cut in range(1, len(wire)):
        want = expected_for_fragment(wire[:cut])
        frames = board.exchange_raw(wire[:cut] + b"\x00", wait=0.3 if want is None else 2.0)
        if want is None:
            assert frames == [], (cut, frames)
        else:
            assert len(frames) == 1 and error(frames[0])[:2] == (want, FRAMING_SEQ), cut
        outcomes.add(want)
    assert outcomes == {None, "BAD_CRC"}
    (frame,) = board.exchange_raw(wire[:4] + b"\x00" + wire + b"\x00")  # fragment, resync, request
    assert frame[0] == MSG["READ"] | REPLY and struct.unpack_from("<H", frame, 1)[0] == 0x0300


def test_model_chunk_limit(board):
    data = struct.pack("<II", 4000, 0)
    assert reply(board, MSG["MODEL_CHUNK"], 80, data + b"\x01" * MAX_CHUNK)[0] == MSG["MODEL_CHUNK"] | REPLY
    assert error(reply(board, MSG["MODEL_CHUNK"], 81, data + b"\x01" * (MAX_CHUNK + 1))) == \
        ("BAD_LENGTH", 81, CHUNK_DETAIL)


@pytest.fixture
def deployed(board):
    rng = np.random.default_rng(31)
    blob, words = random_net("mlp", rng)
    board.deploy(blob.to_bytes(), words)
    x = random_inputs(blob, 1, rng)[0]
    return blob, words, x


def test_model_commit_with_the_wrong_total_keeps_the_committed_model(board, deployed):
    blob, words, x = deployed
    want = reference.scores(blob, words, x[None])[0]
    total = len(blob.to_bytes())
    for bad_total in (total + 1, total - 1, 0):
        assert error(reply(board, MSG["MODEL_COMMIT"], 90, struct.pack("<I", bad_total)))[0] == "BAD_STATE"
        np.testing.assert_array_equal(board.infer(x).scores, want)
    # a chunk that starts a new blob but is refused (data past its total) drops nothing either
    assert error(reply(board, MSG["MODEL_CHUNK"], 91, struct.pack("<II", 4, 0) + b"12345"))[0] == "OUT_OF_RANGE"
    np.testing.assert_array_equal(board.infer(x).scores, want)


def test_refused_requests_change_nothing(board, deployed):
    blob, words, x = deployed
    board.step_input(x)
    assert board.step().layer == 0
    board._request("INPUT", struct.pack("<I", 0) + x.tobytes())  # a complete staged input
    image = board.read(0, len(words))
    refused = [("LOAD", struct.pack("<IHH", 8190, 4, 0) + bytes(16), "OUT_OF_RANGE"),
               ("LOAD", struct.pack("<IHH", 0, 2, 0) + bytes(4), "BAD_LENGTH"),
               ("PATTERN", struct.pack("<BBHIII", 7, 1, 0, 0, 8, 0), "BAD_ARG"),
               ("PATTERN", struct.pack("<BBHIII", 1, 1, 0, 8190, 8, 0), "OUT_OF_RANGE"),
               ("MODEL_CHUNK", struct.pack("<II", 100, 40) + b"x", "BAD_STATE"),
               ("MODEL_CHUNK", struct.pack("<II", 1 << 30, 0) + b"x", "OUT_OF_RANGE"),
               ("MODEL_COMMIT", struct.pack("<I", 3), "BAD_STATE"),
               ("INFER", struct.pack("<I", 0) + x.tobytes(), "BAD_ARG"),
               ("INFER", struct.pack("<I", 1) + x[:-1].tobytes(), "BAD_LENGTH"),
               ("STEP_INPUT", x[:-1].tobytes(), "BAD_LENGTH"),
               ("STEP", struct.pack("<I", 0), "BAD_ARG"),
               ("INPUT", struct.pack("<I", 7) + b"zz", "BAD_STATE"),
               ("IDLE", struct.pack("<I", 0), "BAD_ARG"),
               ("RESET", b"\x00", "BAD_LENGTH")]
    for i, (name, fields, code) in enumerate(refused):
        assert error(reply(board, MSG[name], 200 + i, fields))[:2] == (code, 200 + i), name
    np.testing.assert_array_equal(board.read(0, len(words)), image)
    steps = [board.step() for _ in blob.layers[1:]]  # the step position is where it was
    assert [s.layer for s in steps] == list(range(1, len(blob.layers)))
    want = reference.scores(blob, words, x[None])[0]
    np.testing.assert_array_equal(steps[-1].scores, want)
    scores = np.frombuffer(board._request("INFER", struct.pack("<I", 1)), "<i4", blob.n_scores, offset=16)
    np.testing.assert_array_equal(scores, want)  # the staged input is intact


def test_boot_id_is_kept_by_reset_and_derived_from_pid_and_time():
    t0 = int(time.time())
    with start_host() as fw, Board(fw.url) as b:
        t1 = int(time.time())
        boot_id = b.info.boot_id
        assert boot_id in {(fw.proc.pid * 2654435761 ^ t) & 0xFFFFFFFF for t in range(t0, t1 + 1)}
        b._ser.write(encode_frame(pack_payload(MSG["RESET"], 5)))
        frames = [b.exchange_raw(b"", wait=2.0)[0] for _ in range(2)]  # RESET's reply, then BOOT
        assert frames[0][0] == MSG["RESET"] | REPLY and frames[1][0] == MSG_BOOT
        assert struct.unpack_from("<I", frames[1], 3 + 8)[0] == boot_id
        assert b.hello().boot_id == boot_id
