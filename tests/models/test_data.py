"""Data sets: tiny files in the real formats, clear errors, augmentation."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from models.data import (DatasetError, DatasetNotFound, augment, iterate_batches, load_dataset)


def write_idx(path, array, gz=False):
    array = np.asarray(array, dtype=np.uint8)
    raw = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


def make_idx_dataset(folder, n_train=6, n_test=4, gz=False):
    rng = np.random.default_rng(0)
    ext = ".gz" if gz else ""
    images = {"train": rng.integers(0, 256, (n_train, 28, 28)), "t10k": rng.integers(0, 256, (n_test, 28, 28))}
    labels = {"train": rng.integers(0, 10, n_train), "t10k": rng.integers(0, 10, n_test)}
    for split in ("train", "t10k"):
        write_idx(folder / f"{split}-images-idx3-ubyte{ext}", images[split], gz)
        write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", labels[split], gz)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_files_gzipped_or_not(tmp_path, gz, name):
    images, labels = make_idx_dataset(tmp_path, gz=gz)
    data = load_dataset(name, tmp_path)
    assert data.train_x.shape == (6, 1, 28, 28) and data.test_x.shape == (4, 1, 28, 28)
    assert torch.allclose(data.train_x[:, 0], torch.tensor(images["train"] / 255 * 2 - 1, dtype=torch.float32), atol=1e-6)
    assert data.test_y.tolist() == labels["t10k"].tolist()
    assert data.train_x.min() >= -1 and data.train_x.max() <= 1 and not data.augment


def test_idx_errors_name_the_file(tmp_path):
    make_idx_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFound, match="t10k-labels-idx1-ubyte.*" + str(tmp_path)):
        load_dataset("mnist", tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x04abcd")
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte: not an idx1-ubyte file"):
        load_dataset("mnist", tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3))
    with pytest.raises(DatasetError, match="test images and labels differ"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DatasetNotFound, match="--data-dir"):
        load_dataset("mnist")
    with pytest.raises(DatasetError, match="unknown data set"):
        load_dataset("imagenet")


def write_cifar(folder, n=5, protocol=2):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    stems = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for stem in stems:
        batch = {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n)], b"batch_label": stem.encode()}
        with open(folder / stem, "wb") as fh:
            pickle.dump(batch, fh, protocol=protocol)
    return batch


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_python_batches(tmp_path, protocol):
    last = write_cifar(tmp_path / "cifar-10-batches-py", protocol=protocol)
    data = load_dataset("cifar10", tmp_path)
    assert data.train_x.shape == (25, 3, 32, 32) and data.test_x.shape == (5, 3, 32, 32)
    assert data.augment
    expected = torch.tensor(last[b"data"].reshape(5, 3, 32, 32) / 255 * 2 - 1, dtype=torch.float32)
    assert torch.allclose(data.test_x, expected, atol=1e-6)
    assert data.test_y.tolist() == last[b"labels"]


def test_cifar10_errors(tmp_path):
    with pytest.raises(DatasetNotFound, match="test_batch.*cifar-10-batches-py"):
        load_dataset("cifar10", tmp_path)
    write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFound, match="data_batch_3"):
        load_dataset("cifar10", tmp_path)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DatasetError, match="data_batch_3: 'data' has shape"):
        load_dataset("cifar10", tmp_path)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps(torch.nn.Linear))  # arbitrary object: refused
    with pytest.raises(DatasetError, match="data_batch_3: not a CIFAR10 python batch"):
        load_dataset("cifar10", tmp_path)


def test_augmentation_is_a_seeded_crop_or_flip_of_the_padded_image():
    x = torch.rand(16, 3, 8, 8) * 2 - 1
    a = augment(x, torch.Generator().manual_seed(0))
    b = augment(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), value=-1.0)
    for i in range(16):
        crops = [padded[i, :, oy:oy + 8, ox:ox + 8] for oy in range(9) for ox in range(9)]
        assert any(torch.equal(a[i], c) or torch.equal(a[i], c.flip(-1)) for c in crops)
    assert not torch.equal(a, x)


def test_digits_synthetic_and_batches():
    d = load_dataset("digits")
    assert d.in_shape == (1, 8, 8) and len(d.train_y) + len(d.test_y) == 1797
    assert d.train_x.min() == -1 and d.train_x.max() == 1
    s1, s2 = load_dataset("synthetic", seed=3), load_dataset("synthetic", seed=3)
    assert torch.equal(s1.train_x, s2.train_x) and not torch.equal(s1.train_x, load_dataset("synthetic", seed=4).train_x)
    small = load_dataset("digits", limit_train=50, limit_test=20)
    assert len(small.train_y) == 50 and len(small.test_y) == 20
    batches = list(iterate_batches(small.train_x, small.train_y, 16, torch.Generator().manual_seed(0)))
    assert [len(y) for _, y in batches] == [16, 16, 16, 2]
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == sorted(small.train_y.tolist())
