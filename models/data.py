"""Data sets as in-memory tensors, inputs normalised to [-1, 1], images ``[N, C, H, W]``.

``digits`` (scikit-learn's bundled 8x8 digits, the default: nothing to download),
``mnist`` / ``fashion-mnist`` (the standard idx files, gzipped or not), ``cifar10`` (the
standard python pickle batches) read from ``data_dir``, and ``synthetic`` (seeded class
prototypes plus noise). Missing or malformed files raise :class:`DatasetError` naming the
file expected and where it was looked for.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch


class DatasetError(ValueError):
    """A data set is missing or malformed (the message names the file and the place)."""


class DatasetNotFound(DatasetError, FileNotFoundError):
    pass


@dataclass
class Dataset:
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    n_classes: int
    augment: bool = False  # CIFAR10: pad 4, random crop, horizontal flip (see :func:`augment`)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])


def _scale(x: np.ndarray, top: float) -> torch.Tensor:
    """``[0, top] -> [-1, 1]``: ``x / top * 2 - 1``."""
    return torch.from_numpy(np.asarray(x, dtype=np.float32) / top * 2.0 - 1.0)


# --- digits and synthetic ---------------------------------------------------------------

def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int):
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def load_digits(test_fraction: float = 0.2, split_seed: int = 0) -> Dataset:
    """scikit-learn's 1797 8x8 digits (pixel values 0..16), seeded train/test split."""
    from sklearn.datasets import load_digits as sk_digits  # on first use: scikit-learn takes ~1 s to import

    bunch = sk_digits()
    x = bunch.images.reshape(-1, 1, 8, 8)
    tx, ty, vx, vy = _split(x, bunch.target, test_fraction, split_seed)
    return Dataset("digits", _scale(tx, 16.0), torch.from_numpy(ty).long(),
                   _scale(vx, 16.0), torch.from_numpy(vy).long(), 10)


def load_synthetic(seed: int = 0, n_train: int = 1000, n_test: int = 500, n_classes: int = 10,
                   shape: tuple[int, ...] = (1, 8, 8), noise: float = 1.2) -> Dataset:
    """Class prototypes uniform in [-1, 1]; samples = prototype + N(0, noise^2), clipped.

    ``noise = 1.2`` [choice] keeps it from saturating: a 256-unit BNN MLP reaches about 90%
    test accuracy in 10 epochs, so faults visibly cost accuracy."""
    rng = np.random.default_rng(seed)
    protos = rng.uniform(-1, 1, size=(n_classes,) + tuple(shape))

    def draw(n):
        y = rng.integers(0, n_classes, size=n)
        x = np.clip(protos[y] + rng.normal(0, noise, size=(n,) + tuple(shape)), -1, 1)
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y).long()

    tx, ty = draw(n_train)
    vx, vy = draw(n_test)
    return Dataset("synthetic", tx, ty, vx, vy, n_classes)


# --- idx (MNIST, Fashion-MNIST) ---------------------------------------------------------

IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
IDX_SUBDIRS = {"mnist": ("", "mnist", "MNIST/raw"), "fashion-mnist": ("", "fashion-mnist", "FashionMNIST/raw")}


def _find(data_dir: Path, subdirs, stem: str, dataset: str) -> Path:
    candidates = [data_dir / sub / (stem + ext) for sub in subdirs for ext in ("", ".gz")]
    for path in candidates:
        if path.is_file():
            return path
    raise DatasetNotFound(f"{dataset}: expected file {stem}[.gz] in {data_dir} "
                          f"(looked for {', '.join(str(c) for c in candidates[:2])} ...)")


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """One idx file: magic ``0x0000 08 ndim`` (unsigned bytes), big-endian int32 sizes, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    if len(raw) < 4 + 4 * ndim:
        raise DatasetError(f"{path}: too short for an idx header")
    zero, dtype, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08 or dims != ndim:
        raise DatasetError(f"{path}: not an idx{ndim}-ubyte file (magic {raw[:4].hex()}, "
                           f"expected 000008{ndim:02x})")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DatasetError(f"{path}: header says shape {shape} but holds {data.size} bytes")
    return data.reshape(shape)


def load_idx_dataset(name: str, data_dir: Path) -> Dataset:
    arrays = {}
    for key, stem in IDX_FILES.items():
        arrays[key] = read_idx(_find(data_dir, IDX_SUBDIRS[name], stem, name), 3 if key.endswith("x") else 1)
    for split in ("train", "test"):
        if len(arrays[f"{split}_x"]) != len(arrays[f"{split}_y"]):
            raise DatasetError(f"{name} in {data_dir}: {split} images and labels differ in count")
    return Dataset(name, _scale(arrays["train_x"][:, None], 255.0), torch.from_numpy(arrays["train_y"].astype(np.int64)),
                   _scale(arrays["test_x"][:, None], 255.0), torch.from_numpy(arrays["test_y"].astype(np.int64)), 10)


# --- CIFAR10 ----------------------------------------------------------------------------

CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickle only what a CIFAR batch holds (dicts, lists, bytes, numpy arrays)."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A pickled dict with ``data`` (``[N, 3072]`` uint8, channel-major) and ``labels``."""
    try:
        with open(path, "rb") as fh:
            batch = _ArrayUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: not a CIFAR10 python batch ({exc})") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: not a CIFAR10 python batch (expected a dict)")
    get = lambda k: batch.get(k.encode(), batch.get(k))  # noqa: E731
    data, labels = get("data"), get("labels")
    if data is None or labels is None:
        raise DatasetError(f"{path}: CIFAR10 batch lacks 'data' or 'labels'")
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != len(labels):
        raise DatasetError(f"{path}: 'data' has shape {data.shape}, expected [{len(labels)}, 3072]")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def load_cifar10(data_dir: Path) -> Dataset:
    for base in (data_dir / "cifar-10-batches-py", data_dir):
        if (base / CIFAR_TEST).is_file():
            break
    else:
        raise DatasetNotFound(f"cifar10: expected {CIFAR_TEST} (and {CIFAR_TRAIN[0]}..5) in "
                              f"{data_dir / 'cifar-10-batches-py'} or {data_dir}")
    parts = []
    for stem in CIFAR_TRAIN:
        if not (base / stem).is_file():
            raise DatasetNotFound(f"cifar10: expected file {stem} in {base}")
        parts.append(read_cifar_batch(base / stem))
    vx, vy = read_cifar_batch(base / CIFAR_TEST)
    tx = np.concatenate([p[0] for p in parts])
    ty = np.concatenate([p[1] for p in parts])
    return Dataset("cifar10", _scale(tx, 255.0), torch.from_numpy(ty), _scale(vx, 255.0),
                   torch.from_numpy(vy), 10, augment=True)


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Standard CIFAR augmentation: pad ``pad`` (black, i.e. -1), random crop, random h-flip."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=-1.0)
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)
    flip = torch.rand(n, generator=generator, device=x.device) < 0.5
    cols = torch.arange(w, device=x.device).expand(n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols) + ox[:, None]
    rows = torch.arange(h, device=x.device)[None, :] + oy[:, None]
    idx = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


# --- registry and batching ----------------------------------------------------------------

DATASETS: dict[str, Callable[..., Dataset]] = {
    "digits": lambda data_dir, seed: load_digits(),
    "synthetic": lambda data_dir, seed: load_synthetic(seed),
    "mnist": lambda data_dir, seed: load_idx_dataset("mnist", data_dir),
    "fashion-mnist": lambda data_dir, seed: load_idx_dataset("fashion-mnist", data_dir),
    "cifar10": lambda data_dir, seed: load_cifar10(data_dir),
}
NEEDS_DATA_DIR = ("mnist", "fashion-mnist", "cifar10")


def load_dataset(name: str, data_dir: str | Path | None = None, seed: int = 0,
                 limit_train: int | None = None, limit_test: int | None = None) -> Dataset:
    """Load data set ``name``; ``limit_*`` keep the first N examples (tiny runs and tests)."""
    if name not in DATASETS:
        raise DatasetError(f"unknown data set {name!r}; available: {', '.join(DATASETS)}")
    if name in NEEDS_DATA_DIR:
        if data_dir is None:
            raise DatasetNotFound(f"{name}: give the folder holding its files with --data-dir")
        if not Path(data_dir).is_dir():
            raise DatasetNotFound(f"{name}: data directory {data_dir} does not exist")
    data = DATASETS[name](Path(data_dir) if data_dir else None, seed)
    if limit_train:
        data.train_x, data.train_y = data.train_x[:limit_train], data.train_y[:limit_train]
    if limit_test:
        data.test_x, data.test_y = data.test_x[:limit_test], data.test_y[:limit_test]
    return data


def iterate_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int,
                    generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches in order, or shuffled with ``generator``; the last one may be short."""
    order = torch.randperm(len(y), generator=generator) if generator is not None else torch.arange(len(y))
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def n_batches(n: int, batch_size: int) -> int:
    return -(-n // batch_size)
