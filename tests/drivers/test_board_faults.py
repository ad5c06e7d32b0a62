"""Serial faults tried on purpose: a flipped byte, a dropped byte, a board that
stops answering, a board reset mid-LOAD, an incompatible firmware, a silent line. A small
TCP relay between the client and the real host firmware injects the faults on the wire."""

import os
import select
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

from drivers.board import Board, BoardError, BoardResetError, BoardTimeout, IncompatibleFirmware
from drivers.firmware_process import FIRMWARE_DIR, FirmwareProcess, start_host
from drivers.framing import encode_frame, pack_payload
from models import reference
from tests.firmware_nets import random_inputs, random_net


class FaultyWire:
    """Relays bytes client <-> firmware; ``faults`` is a list of (direction, action, nth frame)
    with direction "up" (to the firmware) or "down", action "flip" | "drop" | "mute"."""

    def __init__(self, upstream_url: str):
        host, port = upstream_url.removeprefix("socket://").split(":")
        self.upstream = (host, int(port))
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.srv.getsockname()[1]}"
        self.faults, self.frames, self.injected = [], {"up": 0, "down": 0}, []
        self.requests, self._frame_len = 0, 0  # non-empty frames sent up; bytes of the current one
        self.muted, self._stop = False, False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _mutate(self, direction: str, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            for f in list(self.faults):
                if f[0] == direction and f[2] == self.frames[direction]:
                    self.faults.remove(f)
                    self.injected.append(f)
                    if f[1] == "mute":
                        self.muted = True
                    b = None if f[1] == "drop" else (b ^ 0x10 if b not in (0, 0x10) else b ^ 0x01)
                    break
            if b is not None:
                out.append(b)
                if direction == "up":
                    self.requests += b == 0 and self._frame_len > 0
                    self._frame_len = 0 if b == 0 else self._frame_len + 1
            if b == 0:
                self.frames[direction] += 1
        return bytes(out)

    def _run(self):
        client, _ = self.srv.accept()
        up = socket.create_connection(self.upstream)
        for s in (client, up):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not self._stop:
            ready, _, _ = select.select([client, up], [], [], 0.05)
            for s in ready:
                data = s.recv(4096)
                if not data:
                    self._stop = True
                    break
                direction = "up" if s is client else "down"
                data = self._mutate(direction, data)
                if not self.muted:
                    (up if s is client else client).sendall(data)
        client.close()
        up.close()

    def close(self):
        self._stop = True
        self.srv.close()
        self.thread.join(2)


@pytest.fixture(scope="module")
def fw():
    with start_host(["--mem-words", "8192"]) as proc:
        yield proc


@pytest.fixture
def wire(fw):
    w = FaultyWire(fw.url)
    yield w
    w.close()


def test_flipped_byte_to_the_board_is_retried(wire):
    with Board(wire.url, timeout=0.5) as b:
        data = np.arange(300, dtype=np.uint32) * 77
        wire.faults.append(("up", "flip", wire.frames["up"] + 1))  # corrupt the first LOAD chunk
        b.load(10, data)
        np.testing.assert_array_equal(b.read(10, 300), data)
        assert wire.injected, "the fault was not injected"


def test_dropped_byte_in_a_reply_does_not_apply_a_step_twice(wire):
    rng = np.random.default_rng(3)
    blob, words = random_net("cnn", rng)
    x = random_inputs(blob, 1, rng)[0]
    with Board(wire.url, timeout=0.5) as b:
        b.deploy(blob.to_bytes(), words)
        b.step_input(x)
        wire.faults.append(("down", "drop", wire.frames["down"] + 0))  # the reply of the first STEP
        steps = [b.step() for _ in blob.layers]
        assert wire.injected and [s.layer for s in steps] == list(range(len(blob.layers)))
        np.testing.assert_array_equal(steps[-1].scores, reference.scores(blob, words, x[None])[0])


def test_windowed_load_survives_corrupted_requests_and_lost_replies(wire):
    """Several LOADs in flight: a corrupted request and a lost reply in the middle of the
    window are resent with their seqs; the memory ends up exactly as written."""
    with Board(wire.url, timeout=0.5) as b:
        assert b.load_window > 1  # the host build's socket holds what the firmware has not read
        data = np.arange(20 * 256, dtype=np.uint32) * 2654435761
        wire.faults += [("up", "flip", wire.frames["up"] + 3), ("down", "drop", wire.frames["down"] + 5)]
        b.load(0, data)
        assert len(wire.injected) == 2
        np.testing.assert_array_equal(b.read(0, len(data)), data)


def test_load_keeps_its_window_in_flight_and_resends_it_whole(wire):
    with Board(wire.url, timeout=0.3, retries=1) as b:
        wire.faults.append(("down", "mute", wire.frames["down"]))
        before = wire.requests
        with pytest.raises(BoardTimeout, match="LOAD failed after 2 attempts.*4 requests unanswered"):
            b.load(0, np.zeros(20 * 256, dtype=np.uint32), window=4)
        assert wire.requests - before == 2 * 4  # 4 in flight, then the same 4 again


def test_board_that_stops_answering_times_out(wire):
    with Board(wire.url, timeout=0.3, retries=2) as b:
        wire.faults.append(("down", "mute", wire.frames["down"]))
        t0 = time.monotonic()
        with pytest.raises(BoardTimeout, match="READ failed after 3 attempts"):
            b.read(0, 4)
        assert time.monotonic() - t0 < 0.3 * 3 + 1.5  # three deadlines, no hang (slack for a loaded CI)


def test_board_reset_mid_load_is_detected_and_the_session_recovers(fw):
    with Board(fw.url, timeout=1.0) as b:
        data = np.arange(1000, dtype=np.uint32)
        b.load(0, data[:256])
        b._ser.write(encode_frame(pack_payload(0x0A, 0xFFFE)))  # the board reboots (RESET from the wire)
        with pytest.raises(BoardResetError, match="restarted during LOAD"):
            b.load(256, data[256:])
        assert b.model is None
        b.load(256, data[256:])  # handshake was redone: the session continues
        np.testing.assert_array_equal(b.read(0, 1000), data)


def test_incompatible_protocol_version_is_refused(tmp_path):
    subprocess.run(["make", "-C", str(FIRMWARE_DIR), f"B={tmp_path}", "host", "HOST_EXTRA=-DFB_PROTOCOL_VERSION=99u"],
                   check=True, capture_output=True)
    with FirmwareProcess([str(tmp_path / "host" / "fw-host"), "--port", "0"]) as proc:
        with pytest.raises(IncompatibleFirmware, match="speaks protocol v99, this client speaks v2"):
            Board(proc.url)


def test_silent_line_times_out_without_hanging():
    t0 = time.monotonic()
    with pytest.raises(BoardTimeout, match="HELLO"):
        Board("loop://", timeout=0.2, retries=1)  # our own frames echo back: never a reply
    assert time.monotonic() - t0 < 2.0


def test_unreachable_board_is_a_clear_error():
    with pytest.raises(BoardError, match="cannot open board"):
        Board("socket://127.0.0.1:1", connect_timeout=0.2)


def test_processes_are_stopped(fw):
    proc = start_host()
    pid = proc.proc.pid
    proc.stop()
    assert not proc.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
