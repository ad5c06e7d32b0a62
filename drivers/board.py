"""Serial client of the faultbench board firmware (protocol: firmware/PROTOCOL.md).

``Board(url)`` opens any pyserial URL (``/dev/ttyACM0``, ``socket://127.0.0.1:PORT``,
``loop://`` in unit tests), performs the ``HELLO`` handshake and refuses a firmware with an
incompatible protocol version. One method per firmware command; readbacks and scores come
back as numpy arrays.

Robustness (PROTOCOL.md "Client rules"):

* every read has a deadline (``timeout`` seconds per attempt); no call blocks longer than
  ``timeout * (retries + 1)``;
* every request carries a sequence number; the firmware answers a repeated ``(id, seq)``
  from its reply cache without applying it again, so *all* requests are retried after a
  timeout, a corrupt reply or a framing error report (a lone 0x00 is sent first to
  resynchronise the receiver);
* LOAD chunks are pipelined where the link holds the bytes the firmware has not read yet
  (host build, QEMU): up to ``load_window`` in flight, replies matched by seq, the unanswered
  ones resent with their seqs (a LOAD that runs twice writes the same words); a board's
  polled UART gets one at a time;
* an unsolicited ``BOOT`` banner means the board restarted: the client runs the handshake
  again and raises :class:`BoardResetError` (the committed model and step state are gone;
  recover by deploying again);
* every frame sent and received is logged at DEBUG level on the ``drivers.board`` logger.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import serial

from drivers.framing import HEADER, FrameError, FrameReader, encode_frame, pack_payload, unpack_payload

log = logging.getLogger("drivers.board")

# The protocol's constants: firmware/include/fb_protocol.h (and model.h, fb_port.h) hold the
# same values; tests/firmware/test_protocol_constants.py checks that the two agree.
PROTOCOL_VERSION = 2
MSG = {"HELLO": 0x01, "LOAD": 0x02, "READ": 0x03, "PATTERN": 0x04, "MODEL_CHUNK": 0x05,
       "MODEL_COMMIT": 0x06, "INFER": 0x07, "STEP_INPUT": 0x08, "STEP": 0x09, "RESET": 0x0A, "INPUT": 0x0B,
       "IDLE": 0x0C, "IDENT": 0x0D}
MSG_BOOT, MSG_ERROR, REPLY = 0x7E, 0x7F, 0x80
MSG_NAMES = {v: k for k, v in MSG.items()} | {MSG_BOOT: "BOOT", MSG_ERROR: "ERROR"}
FRAMING_SEQ = 0xFFFF  # seq of error replies to frames the firmware could not decode

ERRORS = {1: "BAD_CRC", 2: "BAD_FRAME", 3: "OVERSIZE", 4: "UNKNOWN_CMD", 5: "BAD_LENGTH",
          6: "OUT_OF_RANGE", 7: "NO_MODEL", 8: "BAD_MODEL", 9: "BAD_STATE", 10: "BAD_ARG"}
MODEL_ERRORS = {1: "magic", 2: "version", 3: "crc", 4: "truncated", 5: "layer", 6: "shape",
                7: "memory", 8: "scratch", 9: "too big"}
PATTERNS = {"zeros": 0, "ones": 1, "checkerboard": 2, "random": 3}
TARGETS = {1: "host", 2: "mps2-an386", 3: "nucleo-f411", 4: "netduinoplus2"}
COUNT_UNITS = {0: "ns", 1: "instructions", 2: "cycles"}
CAPABILITIES = {"model": 1, "step": 2, "pattern": 4, "ternary": 8, "lab": 16}
MAX_MODEL_CHUNK = 1024           # MODEL_CHUNK data bytes per frame
PATTERN_MAX_REPORT = 255         # bit addresses one PATTERN reply holds
MAX_REPEAT = 65535               # STEP / INFER repeat count
MAX_IDLE_COUNT = 0xFFFFFFFF      # IDLE count, in count_unit
MAX_CHIP_ID = 63                 # IDENT: characters of the chip id
#: LOAD requests in flight at once where the link holds the bytes the firmware has not read yet
#: (the host build's socket, QEMU's chardev) [choice: 8 frames, about 8 KiB, covers the round
#: trip many times over]; a real board's UART is polled and drops bytes sent while the firmware
#: handles a request, so boards get 1
LOAD_WINDOW = 8
BUFFERED_LINK_TARGETS = frozenset({"host", "mps2-an386", "netduinoplus2"})

HELLO_REPLY = struct.Struct("<IHHIIBBHIII")
BOOT_FIELDS = struct.Struct("<IHBBI")
ERROR_FIELDS = struct.Struct("<HBBI")
INFER_REPLY = struct.Struct("<HBBIQ")   # n_scores, n_layers, count_unit, repeat, total_count
STEP_REPLY = struct.Struct("<BBBxIIQ")  # layer, done, count_unit, count, repeat, total_count
IDLE_REPLY = struct.Struct("<BxxxQ")    # count_unit, count
IDENT_REPLY = struct.Struct("<Bxxx")     # length of the chip id that follows


class BoardError(Exception):
    """Any failure talking to the board; the message says what and where."""


class BoardTimeout(BoardError):
    """No valid reply within the deadline after all retries."""


class BoardResetError(BoardError):
    """The board restarted mid-session (unsolicited BOOT banner)."""


class IncompatibleFirmware(BoardError):
    """The firmware speaks another protocol version."""


class ProtocolError(BoardError):
    """The firmware answered a request with an error code."""

    def __init__(self, request: str, code: int, detail: int, url: str):
        self.request, self.code, self.detail = request, code, detail
        self.code_name = ERRORS.get(code, f"code {code}")
        extra = ""
        if self.code_name == "BAD_MODEL":
            extra = f" ({MODEL_ERRORS.get(detail & 0xFF, 'unknown')} check failed, layer {detail >> 8})"
        super().__init__(f"board {url}: {request} rejected with {self.code_name} (detail {detail}){extra}")


def version_string(v: int) -> str:
    return f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"


@dataclass(frozen=True)
class HelloInfo:
    fw_version: str
    protocol_version: int
    max_payload: int
    mem_words: int
    capabilities: frozenset
    target: str
    count_unit: str
    max_io_words: int
    boot_id: int
    model_bytes: int
    scratch_words: int


@dataclass(frozen=True)
class PatternResult:
    """Result of a PATTERN request: flip counts and the flipped bits' global bit addresses."""

    n_words: int
    flips_0to1: int
    flips_1to0: int
    bit_addresses: np.ndarray
    truncated: bool

    @property
    def flips(self) -> int:
        return self.flips_0to1 + self.flips_1to0


@dataclass(frozen=True)
class ModelInfo:
    n_layers: int
    input_len: int
    n_scores: int
    weight_words: int


@dataclass(frozen=True)
class InferResult:
    """INFER: the whole network run ``repeat`` times back to back (PROTOCOL.md)."""

    scores: np.ndarray  # int32 [n_scores], of the last repeat
    counts: np.ndarray  # uint32 [n_layers]: each layer's count per repeat (sum over repeats // repeat)
    count_unit: str
    repeat: int = 1
    total_count: int = 0  # all repeats together, input staging included


@dataclass(frozen=True)
class StepResult:
    """STEP: one layer run ``repeat`` times back to back (PROTOCOL.md)."""

    layer: int
    done: bool
    count: int  # per repeat: total_count // repeat
    count_unit: str
    scores: np.ndarray | None = field(default=None)  # after the last layer, of the last repeat
    repeat: int = 1
    total_count: int = 0  # all repeats together


@dataclass(frozen=True)
class IdleResult:
    """IDLE: the count the board actually busy-waited (at least the one asked)."""

    count: int
    count_unit: str


def pattern_words(kind: str, base_word: int, n_words: int, seed: int = 0) -> np.ndarray:
    """The words the firmware writes for a PATTERN request (PROTOCOL.md "Patterns")."""
    if kind not in PATTERNS:
        raise ValueError(f"unknown pattern {kind!r}; expected one of {sorted(PATTERNS)}")
    if kind == "zeros":
        return np.zeros(n_words, np.uint32)
    if kind == "ones":
        return np.full(n_words, 0xFFFFFFFF, np.uint32)
    if kind == "checkerboard":
        addr = np.arange(base_word, base_word + n_words)
        return np.where(addr & 1, 0xAAAAAAAA, 0x55555555).astype(np.uint32)
    s = (seed & 0xFFFFFFFF) or 0x9E3779B9
    out = np.empty(n_words, np.uint32)
    for i in range(n_words):  # xorshift32
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out[i] = s
    return out


class Board:
    """A board running the faultbench firmware, reached over a serial URL."""

    def __init__(self, url: str, timeout: float = 2.0, retries: int = 2, baudrate: int = 115200,
                 connect_timeout: float = 2.0, wait_boot: float = 0.0):
        self.url, self.timeout, self.retries = url, float(timeout), int(retries)
        self._reader = FrameReader(max_frame=8192)
        self._seq = 0
        self._ser = self._open(url, baudrate, connect_timeout)
        self.info: HelloInfo | None = None
        self.model: ModelInfo | None = None
        try:
            if wait_boot > 0:
                self.wait_boot(wait_boot)
            self.resync()  # drop whatever partial frame the firmware may hold
            self.info = self.hello()
        except BaseException:
            self._ser.close()
            raise

    # --- connection -----------------------------------------------------------------------

    @staticmethod
    def _open(url: str, baudrate: int, connect_timeout: float) -> serial.SerialBase:
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                return serial.serial_for_url(url, baudrate=baudrate, timeout=0.05, write_timeout=5.0)
            except (serial.SerialException, OSError, ValueError) as exc:
                if time.monotonic() >= deadline or not url.startswith("socket://"):
                    raise BoardError(f"cannot open board at {url}: {exc}") from None
                time.sleep(0.02)  # QEMU/host firmware still starting to listen

    def close(self) -> None:
        if self._ser.is_open:
            self._ser.close()

    def __enter__(self) -> "Board":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        i = self.info
        return f"Board({self.url!r}, {i.target} fw {i.fw_version})" if i else f"Board({self.url!r})"

    # --- frames ---------------------------------------------------------------------------

    def _send(self, payload: bytes) -> None:
        msg_id, seq, fields = unpack_payload(payload)
        log.debug("-> %s seq=%d %d bytes %s", MSG_NAMES.get(msg_id, hex(msg_id)), seq, len(fields), fields[:32].hex())
        try:
            self._ser.write(encode_frame(payload))
        except (serial.SerialException, OSError) as exc:
            raise BoardError(f"board {self.url}: write failed: {exc}") from None

    def _frames(self, deadline: float | Callable[[], float]):
        """Yields received payloads or FrameErrors until the deadline (a time, or a callable
        giving the current one)."""
        while True:
            remaining = (deadline() if callable(deadline) else deadline) - time.monotonic()
            if remaining <= 0:
                return
            try:
                self._ser.timeout = min(0.05, remaining)
                data = self._ser.read(max(1, self._ser.in_waiting))
            except (serial.SerialException, OSError) as exc:
                raise BoardError(f"board {self.url}: connection lost: {exc}") from None
            for item in self._reader.feed(data):
                if isinstance(item, FrameError):
                    log.debug("<- corrupt frame: %s", item)
                else:
                    msg_id, seq, fields = unpack_payload(item)
                    log.debug("<- %s seq=%d %d bytes %s", MSG_NAMES.get(msg_id & 0x7F if msg_id & REPLY else msg_id, hex(msg_id)),
                              seq, len(fields), fields[:32].hex())
                yield item

    def resync(self) -> None:
        """Lone delimiter: the firmware drops any partial frame it holds."""
        self._ser.write(b"\x00")
        self._reader.reset()

    def exchange_raw(self, data: bytes, wait: float = 1.0) -> list:
        """Writes raw bytes (tests, diagnostics) and returns the frames (payloads or
        FrameErrors) received until the first one arrives or ``wait`` passes."""
        self._ser.write(data)
        for item in self._frames(time.monotonic() + wait):
            return [item]
        return []

    def wait_boot(self, timeout: float) -> dict:
        """Waits for the BOOT banner (after power-up or RESET)."""
        for item in self._frames(time.monotonic() + timeout):
            if not isinstance(item, FrameError) and item[0] == MSG_BOOT:
                fw, proto, target, _, boot_id = BOOT_FIELDS.unpack_from(item, 3)
                return {"fw_version": version_string(fw), "protocol_version": proto,
                        "target": TARGETS.get(target, str(target)), "boot_id": boot_id}
        raise BoardTimeout(f"board {self.url}: no BOOT banner within {timeout:g} s")

    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFE + 1  # 1..0xFFFE; 0xFFFF marks framing errors
        return self._seq

    def _request(self, name: str, fields: bytes = b"", during_handshake: bool = False,
                 timeout: float | None = None) -> bytes:
        """One request, resent (same seq) until a reply; ``timeout`` overrides the per-attempt
        deadline for long-running commands (INFER of a large net under QEMU, big PATTERNs)."""
        return self._exchange(name, [fields], 1, timeout, during_handshake)[0]

    def _exchange(self, name: str, requests: Iterable[bytes], window: int = 1, timeout: float | None = None,
                  during_handshake: bool = False) -> list[bytes]:
        """Requests of one command with up to ``window`` in flight, each with its own seq; the
        replies' fields in request order. Replies are matched by seq; ERROR with a request's
        seq raises :class:`ProtocolError`; other frames are stale and ignored. After
        ``timeout`` (default :attr:`timeout`) without a reply, a corrupt reply or a framing
        error report, every request still unanswered is resent with its seq after a lone 0x00,
        up to ``retries`` times in a row. A window above 1 is for idempotent requests (LOAD):
        the firmware handles requests in the order they arrive and caches only the last reply,
        so a resent request may run again; a duplicate reply that comes later is stale."""
        timeout = self.timeout if timeout is None else float(timeout)
        msg_id, todo, in_flight, replies = MSG[name], deque(enumerate(requests)), {}, {}
        progress, attempt, why = time.monotonic(), 0, "no reply"

        def refill() -> None:
            while todo and len(in_flight) < window:
                index, fields = todo.popleft()
                seq = self._next_seq()
                in_flight[seq] = index, pack_payload(msg_id, seq, fields)
                self._send(in_flight[seq][1])

        refill()
        while in_flight:
            for item in self._frames(lambda: progress + timeout):
                if isinstance(item, FrameError):
                    why = f"corrupt reply: {item}"
                    break
                rid, rseq, rfields = unpack_payload(item)
                if rid == MSG_BOOT:
                    if during_handshake:
                        continue
                    self._after_reset(name)
                if rid == MSG_ERROR:
                    if len(rfields) < ERROR_FIELDS.size:
                        raise BoardError(f"board {self.url}: malformed ERROR reply to {name}: {item.hex()}")
                    code, _, _, detail = ERROR_FIELDS.unpack_from(rfields)
                    if rseq == FRAMING_SEQ:
                        why = f"firmware saw a corrupt frame ({ERRORS.get(code, code)})"
                        break
                    if rseq in in_flight:
                        raise ProtocolError(name, code, detail, self.url)
                elif rid == msg_id | REPLY and rseq in in_flight:
                    replies[in_flight.pop(rseq)[0]] = rfields
                    progress, attempt = time.monotonic(), 0
                    refill()
                    if not in_flight:
                        break
                    continue
                log.debug("ignoring stale frame id=%#x seq=%d", rid, rseq)
            else:
                why = f"no reply within {timeout:g} s"
            if not in_flight:
                break
            attempt += 1
            if attempt > self.retries:
                unanswered = f" ({len(in_flight)} requests unanswered)" if window > 1 else ""
                raise BoardTimeout(f"board {self.url}: {name} failed after {self.retries + 1} attempts: {why}"
                                   + unanswered)
            log.debug("retry %d of %d %s request(s) (%s)", attempt, len(in_flight), name, why)
            self.resync()
            for _, payload in in_flight.values():
                self._send(payload)
            progress = time.monotonic()
        return [replies[i] for i in range(len(replies))]

    def _after_reset(self, during: str) -> None:
        self.model = None
        self._reader.reset()
        old = self.info.boot_id if self.info else None
        self.info = self.hello()
        raise BoardResetError(
            f"board {self.url} restarted during {during} (boot id {old} -> {self.info.boot_id}); the "
            "committed model and step state are lost and memory contents may be too: deploy again")

    # --- commands -------------------------------------------------------------------------

    def hello(self) -> HelloInfo:
        """Handshake: version check; clears the firmware's retry cache (a new session)."""
        f = self._request("HELLO", during_handshake=True)
        fw, proto = struct.unpack_from("<IH", f)
        if proto != PROTOCOL_VERSION:
            raise IncompatibleFirmware(
                f"board {self.url}: firmware {version_string(fw)} speaks protocol v{proto}, this client "
                f"speaks v{PROTOCOL_VERSION}; rebuild and flash the firmware from this checkout "
                f"(bench firmware build --target ...) or use the matching faultbench")
        (fw, proto, max_payload, mem_words, caps, target, unit, max_io, boot_id, model_bytes,
         scratch) = HELLO_REPLY.unpack_from(f)
        return HelloInfo(version_string(fw), proto, max_payload, mem_words,
                         frozenset(n for n, bit in CAPABILITIES.items() if caps & bit),
                         TARGETS.get(target, str(target)), COUNT_UNITS.get(unit, str(unit)), max_io,
                         boot_id, model_bytes, scratch)

    def _check_range(self, base_word: int, n_words: int, what: str) -> None:
        if base_word < 0 or n_words < 0 or base_word + n_words > self.info.mem_words:
            raise BoardError(f"board {self.url}: {what} of words [{base_word}, {base_word + n_words}) is "
                             f"outside the {self.info.mem_words}-word memory")

    @property
    def _io_words(self) -> int:
        return min(self.info.max_io_words, (self.info.max_payload - HEADER.size - 8) // 4)

    @property
    def load_window(self) -> int:
        """LOAD requests in flight at once (:data:`LOAD_WINDOW` where the link holds bytes)."""
        return LOAD_WINDOW if self.info.target in BUFFERED_LINK_TARGETS else 1

    def load(self, base_word: int, words, window: int | None = None) -> None:
        """Writes ``words`` (uint32) into the memory under test from ``base_word``, in LOAD
        chunks with up to ``window`` (default :attr:`load_window`) in flight, so the link
        stays busy; chunks are distinct addresses, and a LOAD written twice writes the same."""
        words = np.ascontiguousarray(words, dtype="<u4").ravel()
        self._check_range(base_word, len(words), "LOAD")
        step = self._io_words
        requests = (struct.pack("<IHH", base_word + i, len(words[i:i + step]), 0) + words[i:i + step].tobytes()
                    for i in range(0, len(words), step))
        self._exchange("LOAD", requests, max(1, self.load_window if window is None else int(window)))

    def read(self, base_word: int, n_words: int) -> np.ndarray:
        """Reads ``n_words`` words back (each read is a fresh read of the cells)."""
        self._check_range(base_word, n_words, "READ")
        out = np.empty(n_words, np.uint32)
        step = self._io_words
        for i in range(0, n_words, step):
            m = min(step, n_words - i)
            f = self._request("READ", struct.pack("<IH", base_word + i, m))
            out[i:i + m] = np.frombuffer(f, "<u4", m, offset=8)
        return out

    def pattern(self, kind: str, base_word: int, n_words: int, seed: int = 0, write: bool = True,
                max_report: int = PATTERN_MAX_REPORT, timeout: float | None = None) -> PatternResult:
        """Writes a pattern (unless ``write=False``), reads it back, reports flipped bits (the
        first ``max_report`` of them, at most :data:`PATTERN_MAX_REPORT`; counts are complete)."""
        if kind not in PATTERNS:
            raise BoardError(f"unknown pattern {kind!r}; expected one of {sorted(PATTERNS)}")
        self._check_range(base_word, n_words, "PATTERN")
        f = self._request("PATTERN", struct.pack("<BBHIII", PATTERNS[kind], int(write), max_report,
                                                 base_word, n_words, seed & 0xFFFFFFFF), timeout=timeout)
        n, f01, f10, n_rep, trunc = struct.unpack_from("<IIIHB", f)
        return PatternResult(n, f01, f10, np.frombuffer(f, "<u4", n_rep, offset=16).copy(), bool(trunc))

    def load_model(self, blob: bytes) -> ModelInfo:
        """Sends a model blob (FORMAT.md part B) in chunks and commits it."""
        blob = bytes(blob)
        if len(blob) > self.info.model_bytes:
            raise BoardError(f"board {self.url}: blob of {len(blob)} bytes exceeds the firmware's "
                             f"{self.info.model_bytes}-byte model buffer")
        step = min(MAX_MODEL_CHUNK, self.info.max_payload - HEADER.size - 8)
        self.model = None
        for off in range(0, len(blob), step):
            self._request("MODEL_CHUNK", struct.pack("<II", len(blob), off) + blob[off:off + step])
        self.model = ModelInfo(*struct.unpack("<IIII", self._request("MODEL_COMMIT", struct.pack("<I", len(blob)))))
        return self.model

    def deploy(self, blob: bytes, weights, base_word: int = 0) -> ModelInfo:
        """Writes the weight image (FORMAT.md B.7) from ``base_word``, then loads the blob."""
        self.load(base_word, weights)
        return self.load_model(blob)

    def _input(self, x) -> bytes:
        x = np.asarray(x)
        if x.dtype != np.int8:
            if x.size and (x.min() < -128 or x.max() > 127 or not np.all(x == np.round(x))):
                raise BoardError("inference input must be int8 codes (FORMAT.md B.5 quantize_input)")
            x = x.astype(np.int8)
        if self.model is not None and x.size != self.model.input_len:
            raise BoardError(f"input has {x.size} values; the model expects {self.model.input_len}")
        data = x.ravel().tobytes()
        step = self.info.max_payload - HEADER.size - 4  # INPUT's offset, INFER's repeat: 4 bytes
        if len(data) <= step:
            return data
        for off in range(0, len(data), step):  # larger than one frame: stage it with INPUT
            self._request("INPUT", struct.pack("<I", off) + data[off:off + step])
        return b""

    @staticmethod
    def _repeat(repeat: int) -> bytes:
        if not 1 <= int(repeat) <= MAX_REPEAT:
            raise BoardError(f"repeat must be 1..{MAX_REPEAT}, got {repeat}")
        return struct.pack("<I", int(repeat))

    def infer(self, x, repeat: int = 1, timeout: float | None = None) -> InferResult:
        """Whole network on int8 input (torch order c, h, w), run ``repeat`` times back to back
        (weights read from the memory at every repeat): the last repeat's scores, each layer's
        count per repeat and the count of all repeats together. A long run needs ``timeout``."""
        data = self._input(x)
        f = self._request("INFER", self._repeat(repeat) + data, timeout=timeout)
        n, n_layers, unit, rep, total = INFER_REPLY.unpack_from(f)
        off = INFER_REPLY.size
        scores = np.frombuffer(f, "<i4", n, offset=off).astype(np.int32)
        counts = np.frombuffer(f, "<u4", n_layers, offset=off + 4 * n).astype(np.uint32)
        return InferResult(scores, counts, COUNT_UNITS.get(unit, str(unit)), rep, total)

    def step_input(self, x) -> int:
        """Step mode: stores the input; returns the number of layers to step."""
        return struct.unpack("<I", self._request("STEP_INPUT", self._input(x)))[0]

    def step(self, repeat: int = 1, timeout: float | None = None) -> StepResult:
        """Runs the next layer ``repeat`` times back to back on the same input (weights read
        from the memory at every repeat), then moves to the following layer once; the host may
        bracket this call for energy measurement. A long run needs ``timeout``."""
        f = self._request("STEP", self._repeat(repeat), timeout=timeout)
        layer, done, unit, count, rep, total = STEP_REPLY.unpack_from(f)
        scores = None
        if done:
            (n,) = struct.unpack_from("<H", f, STEP_REPLY.size)
            scores = np.frombuffer(f, "<i4", n, offset=STEP_REPLY.size + 4).astype(np.int32)
        return StepResult(layer, bool(done), count, COUNT_UNITS.get(unit, str(unit)), scores, rep, total)

    def idle(self, count: int, timeout: float | None = None) -> IdleResult:
        """The board busy-waits ``count`` units of its count unit (``info.count_unit``) without
        touching the memory under test: a baseline window with the core running. Returns the
        count actually spent (at least ``count``). ``timeout`` defaults to the per-attempt
        deadline plus the wait itself when the unit is ns."""
        if not 1 <= int(count) <= MAX_IDLE_COUNT:
            raise BoardError(f"idle count must be 1..{MAX_IDLE_COUNT}, got {count}")
        if timeout is None:
            timeout = self.timeout + (count * 1e-9 if self.info.count_unit == "ns" else 0.0)
        unit, spent = IDLE_REPLY.unpack(self._request("IDLE", struct.pack("<I", int(count)), timeout=timeout))
        return IdleResult(spent, COUNT_UNITS.get(unit, str(unit)))

    def chip_id(self) -> str | None:
        """IDENT: the identity of the memory under test as the board knows it (the virtual
        chip's id on the host build), None when the board cannot tell (an empty id, or firmware
        without IDENT, which answers UNKNOWN_CMD)."""
        try:
            f = self._request("IDENT")
        except ProtocolError as exc:
            if exc.code_name == "UNKNOWN_CMD":
                return None
            raise
        (n,) = IDENT_REPLY.unpack_from(f)
        return f[IDENT_REPLY.size:IDENT_REPLY.size + n].decode("ascii", "replace") or None

    def reset(self, timeout: float = 5.0) -> HelloInfo:
        """Soft reset: the firmware acknowledges, drops model and step state, sends BOOT."""
        self._request("RESET")
        self.model = None
        self.wait_boot(timeout)
        self.info = self.hello()
        return self.info
