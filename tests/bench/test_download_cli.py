"""``--download`` through ``bench train`` and ``bench run``'s preparation, against a mirror
on loopback (tests/http_mirror.py) with its own checksum listing (``--checksums``)."""

import socket

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.pipeline.run import prepare
from tests.http_mirror import IDX_NAMES, serve, write_idx_set


@pytest.fixture
def mirror(tmp_path):
    root = tmp_path / "mirror"
    sums = write_idx_set(root / "mnist", n_train=120, n_test=60)
    listing = tmp_path / "SHA256SUMS"
    listing.write_text("".join(f"{sums[n]}  {n}\n" for n in IDX_NAMES))
    with serve(root) as m:
        m.listing = listing
        yield m


def test_bench_train_downloads_then_trains(tmp_path, mirror, capsys):
    data_dir = tmp_path / "data"
    args = ["train", "--dataset", "mnist", "--download", "--data-dir", str(data_dir), "--mirror", mirror.url,
            "--checksums", str(mirror.listing), "--arch", "mlp", "--width", "0.03125", "--epochs", "1",
            "--batch-size", "40"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    assert "epoch 1:" in capsys.readouterr().out
    assert sorted(p.name for p in (data_dir / "mnist").iterdir()) == sorted(IDX_NAMES)


def test_bench_train_offline_or_corrupt_is_one_line(tmp_path, mirror, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    base = ["train", "--dataset", "mnist", "--download", "--data-dir", str(tmp_path / "data"), "--epochs", "1"]
    assert main([*base, "--mirror", dead, "--checksums", str(mirror.listing), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench train: error: --dataset mnist: cannot reach") and "offline?" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "a").exists()

    mirror.listing.write_text(mirror.listing.read_text().replace(mirror.listing.read_text()[:64], "f" * 64, 1))
    assert main([*base, "--mirror", mirror.url, "--checksums", str(mirror.listing), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "checksum mismatch" in err and IDX_NAMES[0] in err and len(err.splitlines()) == 1


def test_bench_run_preparation_downloads_into_data_dir(tmp_path, mirror):
    data_dir = tmp_path / "data"
    _, _, config = prepare("profiles/sram_lowvoltage.yaml", tmp_path / "run", quick=True, data_dir=data_dir,
                           download=True, mirror=mirror.url, checksums=mirror.listing, dataset="mnist")
    assert config["data_dir"] == str(data_dir) and config["train"]["dataset"] == "mnist"
    assert all((data_dir / "mnist" / n).is_file() for n in IDX_NAMES)
    with pytest.raises(BenchError, match="--download: give the folder to download mnist into with --data-dir"):
        prepare("profiles/sram_lowvoltage.yaml", tmp_path / "run2", quick=True, download=True, dataset="mnist")
