"""Data-set downloads over real HTTP from a mirror on loopback (tests/http_mirror.py): small
files in the real formats, each test with its own checksum table (the official digests are
for the official files, which are not fetched here: no internet in CI)."""

import socket

import pytest
import torch

from models.data import load_dataset
from models.download import (MIRROR_ENV, OFFICIAL, DownloadError, RemoteFile, download_dataset, fetch_file,
                             read_checksums, sha256_of)
from tests.http_mirror import IDX_NAMES, serve, write_cifar_archive, write_idx_set


@pytest.fixture
def mirror(tmp_path):
    root = tmp_path / "mirror"
    sums = write_idx_set(root / "mnist")
    sums_fashion = write_idx_set(root / "fashion-mnist", seed=3)
    sums_cifar = write_cifar_archive(root / "cifar10")
    with serve(root) as m:
        m.sums = {"mnist": sums, "fashion-mnist": sums_fashion, "cifar10": sums_cifar}
        yield m


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_sets_download_verify_and_load(tmp_path, mirror, name):
    data_dir = tmp_path / "data"
    seen = []
    paths = download_dataset(name, data_dir, mirror=mirror.url, checksums=mirror.sums[name],
                             progress=lambda f, done, total: seen.append((f, done)))
    assert [p.name for p in paths] == list(IDX_NAMES) and all(p.parent == data_dir / name for p in paths)
    assert [sha256_of(p) for p in paths] == [mirror.sums[name][n] for n in IDX_NAMES]
    assert {f for f, _ in seen} == set(IDX_NAMES) and not list(data_dir.rglob("*.part"))
    data = load_dataset(name, data_dir)
    assert data.train_x.shape == (40, 1, 28, 28) and data.test_y.shape == (20,)
    # a second download only verifies what is there
    before = len(mirror.requests)
    download_dataset(name, data_dir, mirror=mirror.url, checksums=mirror.sums[name])
    assert len(mirror.requests) == before


def test_cifar_archive_is_downloaded_and_extracted(tmp_path, mirror):
    download_dataset("cifar10", tmp_path, mirror=mirror.url, checksums=mirror.sums["cifar10"])
    assert (tmp_path / "cifar-10-python.tar.gz").is_file()
    data = load_dataset("cifar10", tmp_path)
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32) and data.augment
    assert mirror.requests == [("/cifar10/cifar-10-python.tar.gz", None)]


def test_a_broken_connection_resumes_with_a_range_request(tmp_path, mirror):
    name = "train-images-idx3-ubyte.gz"
    mirror.break_after[name] = 5000
    download_dataset("mnist", tmp_path, mirror=mirror.url, checksums=mirror.sums["mnist"])
    ranges = [r for p, r in mirror.requests if p.endswith(name)]
    assert ranges == [None, "bytes=5000-"]
    assert sha256_of(tmp_path / "mnist" / name) == mirror.sums["mnist"][name]


def test_a_partial_file_from_an_earlier_run_is_resumed(tmp_path, mirror):
    name = IDX_NAMES[0]
    whole = (mirror.root / "mnist" / name).read_bytes()
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / (name + ".part")).write_bytes(whole[:1234])
    download_dataset("mnist", tmp_path, mirror=mirror.url, checksums=mirror.sums["mnist"])
    assert ("/mnist/" + name, "bytes=1234-") in mirror.requests
    assert (tmp_path / "mnist" / name).read_bytes() == whole
    # a part that is already whole: the server answers 416 and the part is verified and kept
    (tmp_path / "mnist" / name).rename(tmp_path / "mnist" / (name + ".part"))
    download_dataset("mnist", tmp_path, mirror=mirror.url, checksums=mirror.sums["mnist"])
    assert (tmp_path / "mnist" / name).read_bytes() == whole


def test_a_server_without_range_support_starts_over(tmp_path, mirror):
    mirror.ignore_range = True
    name = IDX_NAMES[2]
    mirror.break_after[name] = 700
    download_dataset("mnist", tmp_path, mirror=mirror.url, checksums=mirror.sums["mnist"])
    assert sha256_of(tmp_path / "mnist" / name) == mirror.sums["mnist"][name]


def test_checksum_mismatch_is_one_line_and_removes_the_download(tmp_path, mirror):
    sums = dict(mirror.sums["mnist"], **{IDX_NAMES[1]: "0" * 64})
    with pytest.raises(DownloadError) as e:
        download_dataset("mnist", tmp_path, mirror=mirror.url, checksums=sums)
    msg = str(e.value)
    assert "\n" not in msg and "checksum mismatch" in msg and IDX_NAMES[1] in msg and "0" * 64 in msg
    assert not (tmp_path / "mnist" / IDX_NAMES[1]).exists()
    assert not (tmp_path / "mnist" / (IDX_NAMES[1] + ".part")).exists()
    assert (tmp_path / "mnist" / IDX_NAMES[0]).is_file()  # the good one before it is kept


def test_a_file_already_there_that_differs_is_reported_not_deleted(tmp_path, mirror):
    (tmp_path / "mnist").mkdir()
    mine = tmp_path / "mnist" / IDX_NAMES[0]
    mine.write_bytes(b"my own file")
    with pytest.raises(DownloadError, match=f"{IDX_NAMES[0]}: already there but its SHA-256"):
        download_dataset("mnist", tmp_path, mirror=mirror.url, checksums=mirror.sums["mnist"])
    assert mine.read_bytes() == b"my own file"


def test_offline_is_one_line_naming_the_mirror_option(tmp_path):
    with socket.socket() as s:   # a loopback port nobody listens on: connection refused, as offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError) as e:
        download_dataset("mnist", tmp_path, mirror=f"http://127.0.0.1:{port}", checksums={n: "0" * 64 for n in IDX_NAMES})
    msg = str(e.value)
    assert msg.startswith(f"cannot reach http://127.0.0.1:{port}/mnist/") and "offline?" in msg
    assert "--mirror URL" in msg and "\n" not in msg


def test_http_errors_and_the_mirror_environment_variable(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, mirror.url + "/nowhere")
    with pytest.raises(DownloadError, match=r"/nowhere/mnist/train-images-idx3-ubyte.gz: HTTP 404 .*"
                                            + MIRROR_ENV + r"='http://127\.0\.0\.1"):
        download_dataset("mnist", tmp_path, checksums=mirror.sums["mnist"])
    monkeypatch.setenv(MIRROR_ENV, mirror.url)
    download_dataset("mnist", tmp_path, checksums=mirror.sums["mnist"])
    assert load_dataset("mnist", tmp_path).train_y.dtype == torch.int64


def test_an_interrupted_download_says_how_to_resume(tmp_path, mirror):
    name = IDX_NAMES[0]
    mirror.break_after[name] = 100
    with pytest.raises(DownloadError, match=r"download interrupted at byte 100 .*run the same command again to resume"):
        fetch_file(f"{mirror.url}/mnist/{name}", tmp_path / name, RemoteFile(name, mirror.sums["mnist"][name]),
                   attempts=1)
    assert (tmp_path / (name + ".part")).stat().st_size == 100


def test_checksum_files_and_the_official_table(tmp_path):
    listing = tmp_path / "SHA256SUMS"
    listing.write_text("# mirror\n" + "".join(f"{'ab' * 32}  {n}\n" for n in IDX_NAMES[:2]) + f"{'CD' * 32} *{IDX_NAMES[2]}\n")
    assert read_checksums(listing) == {IDX_NAMES[0]: "ab" * 32, IDX_NAMES[1]: "ab" * 32, IDX_NAMES[2]: "cd" * 32}
    with pytest.raises(DownloadError, match="no SHA-256 for t10k-labels-idx1-ubyte.gz"):
        download_dataset("mnist", tmp_path, mirror="http://127.0.0.1:9", checksums=listing)
    listing.write_text("xyz  file\n")
    with pytest.raises(DownloadError, match="line 1: expected '<64 hex digits>  <file name>'"):
        read_checksums(listing)
    with pytest.raises(DownloadError, match="no download for data set 'digits'"):
        download_dataset("digits", tmp_path)
    for spec in OFFICIAL.values():
        assert all(len(f.sha256) == 64 and f.size for f in spec.files)
