"""A byte-level TCP proxy between drivers/board.py and the board firmware, for fault-path tests:
it can drop, flip or add bytes of whole frames, or act (stop the bench, pull the supply's plug)
the moment a given request passes."""

from __future__ import annotations

import socket
import threading

from cobs import cobs


class FaultyLink:
    """TCP proxy 127.0.0.1:port <-> board; ``mangle(direction, frame_index, frame) -> bytes`` may
    drop, flip or add bytes of whole frames (``direction``: "up" host->board, "down" board->host)."""

    def __init__(self, board_url, mangle):
        host, port = board_url.removeprefix("socket://").split(":")
        self.target = (host, int(port))
        self.mangle = mangle
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.threads = []
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            client, _ = self.server.accept()
        except OSError:
            return
        upstream = socket.create_connection(self.target)
        self.socks = (client, upstream)
        for src, dst, direction in ((client, upstream, "up"), (upstream, client, "down")):
            t = threading.Thread(target=self._pump, args=(src, dst, direction), daemon=True)
            t.start()
            self.threads.append(t)

    def _pump(self, src, dst, direction):
        buf, index = b"", 0
        try:
            while data := src.recv(65536):
                buf += data
                while b"\x00" in buf:
                    frame, buf = buf.split(b"\x00", 1)
                    dst.sendall(self.mangle(direction, index, frame + b"\x00"))
                    index += 1
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.server.close()
        for s in getattr(self, "socks", ()):
            s.close()


def frames_of(msg_id):
    """A predicate: is this wire frame (COBS, delimiter included) a message ``msg_id``?"""

    def is_msg(frame):
        try:
            return cobs.decode(frame[:-1])[0] == msg_id
        except Exception:
            return False
    return is_msg
