"""A data-set mirror on loopback for the download tests: real HTTP (``http.server``) with
``Range`` support, serving ``ROOT/<data set>/<file>``, and fault injection a real network
shows: a connection that closes after ``break_after`` bytes, a server that ignores ``Range``."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import pickle
import re
import struct
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


class Mirror:
    def __init__(self, root: Path):
        self.root = root
        self.break_after: dict[str, int] = {}   # file name -> close the next response after N bytes (once)
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []   # (path, Range header)
        self.url = ""


def _handler(mirror: Mirror):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):
            rng = self.headers.get("Range")
            mirror.requests.append((self.path, rng))
            path = (mirror.root / self.path.lstrip("/")).resolve()
            if mirror.root.resolve() not in path.parents or not path.is_file():
                self.send_error(404, "Not Found")
                return
            data = path.read_bytes()
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if m and not mirror.ignore_range:
                start = int(m.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = mirror.break_after.pop(path.name, None)
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # the client sees a short body
                return
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def serve(root: Path) -> Iterator[Mirror]:
    """Serve ``root`` on 127.0.0.1 (ephemeral port) until the block ends."""
    mirror = Mirror(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(mirror))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-mirror", daemon=True)
    thread.start()
    mirror.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield mirror
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def idx_bytes(array: np.ndarray) -> bytes:
    """An idx file (magic 0x0000 08 ndim, big-endian sizes, unsigned bytes), gzipped."""
    array = np.asarray(array, dtype=np.uint8)
    raw = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    return gzip.compress(raw, mtime=0)


def write_idx_set(folder: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict[str, str]:
    """The four gzipped idx files of a tiny MNIST-format set; returns their SHA-256 by name."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = [rng.integers(0, 256, (n_train, 28, 28)), rng.integers(0, 10, n_train),
              rng.integers(0, 256, (n_test, 28, 28)), rng.integers(0, 10, n_test)]
    sums = {}
    for name, array in zip(IDX_NAMES, arrays):
        data = idx_bytes(array)
        (folder / name).write_bytes(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    return sums


def write_cifar_archive(folder: Path, n: int = 4, seed: int = 1) -> dict[str, str]:
    """``cifar-10-python.tar.gz`` holding the six pickled batches (the real layout)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        for stem in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
                     b"labels": [int(v) for v in rng.integers(0, 10, n)], b"batch_label": stem.encode()}
            blob = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{stem}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    data = buf.getvalue()
    (folder / "cifar-10-python.tar.gz").write_bytes(data)
    return {"cifar-10-python.tar.gz": hashlib.sha256(data).hexdigest()}
