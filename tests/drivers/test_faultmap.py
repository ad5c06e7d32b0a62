"""Fault-map format: round trip, derived views, and clear errors for damaged files."""

import json
import zipfile

import numpy as np
import pytest

from drivers.faultmap import FaultMap, FaultMapError, read_faultmap, write_faultmap, list_faultmaps


def _map(n_words=256, n_reads=4, ber=0.01, seed=0, base_word=8):
    rng = np.random.default_rng(seed)
    written = rng.integers(0, 2**32, n_words, dtype=np.uint32)
    reads = []
    for _ in range(n_reads):
        flips = rng.random((n_words, 32)) < ber
        xor = np.packbits(flips, axis=1, bitorder="little").view("<u4").reshape(-1)
        reads.append(written ^ xor)
    return FaultMap.from_reads(written, reads, chip_id="virtual:7", pattern="random:0", base_word=base_word,
                               operating_point={"name": "0.62V", "voltage_V": 0.62}, temperature_C=25.0)


def test_round_trip_and_size(tmp_path):
    fm = _map()
    p = write_faultmap(tmp_path / "m.npz", fm)
    back = read_faultmap(p)
    np.testing.assert_array_equal(back.written, fm.written)
    np.testing.assert_array_equal(back.xor, fm.xor)
    assert back.metadata() == fm.metadata()
    assert p.stat().st_size < 4096  # a few KB, as documented
    assert list_faultmaps(tmp_path) == [p]


def test_views_agree_with_raw_words():
    fm = _map(n_words=16, n_reads=2)
    for r in range(2):
        addrs = fm.flipped_addresses(r)
        assert np.all(np.diff(addrs) > 0)
        words, bits = addrs // 32 - fm.base_word, addrs % 32
        rebuilt = np.zeros(16, dtype=np.uint32)
        np.bitwise_or.at(rebuilt, words, (np.uint32(1) << bits.astype(np.uint32)))
        np.testing.assert_array_equal(rebuilt, fm.xor[r])
        np.testing.assert_array_equal(fm.read(r) ^ fm.written, fm.xor[r])
    f01, f10 = fm.flip_counts()
    assert f01 + f10 == sum(len(fm.flipped_addresses(r)) for r in range(2))
    b = fm.ber()
    assert b["ber"] == pytest.approx((f01 + f10) / (2 * 16 * 32))


def test_direction_split():
    written = np.array([0x0000FFFF], dtype=np.uint32)
    read = np.array([0x000300FF], dtype=np.uint32)  # two 0->1 flips (bits 16,17), eight 1->0 (bits 8..15)
    fm = FaultMap.from_reads(written, [read], chip_id="c", pattern="p", operating_point={"name": "x"})
    assert fm.flip_counts() == (2, 8)
    assert fm.ber()["ber_0to1"] == pytest.approx(2 / 16) and fm.ber()["ber_1to0"] == pytest.approx(8 / 16)


def test_truncated_file_names_file(tmp_path):
    p = write_faultmap(tmp_path / "t.npz", _map())
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(FaultMapError, match=r"fault map .*t\.npz: truncated or corrupted"):
        read_faultmap(p)


def test_corrupted_bytes_detected(tmp_path):
    p = write_faultmap(tmp_path / "c.npz", _map())
    data = bytearray(p.read_bytes())
    data[200] ^= 0xFF  # inside the compressed members
    p.write_bytes(bytes(data))
    with pytest.raises(FaultMapError, match=r"c\.npz"):
        read_faultmap(p)


def test_modified_content_fails_checksum(tmp_path):
    fm = _map(n_words=8, n_reads=1)
    p = write_faultmap(tmp_path / "m.npz", fm)
    with np.load(p) as z:
        meta, written, xor = z["meta"], z["written"], z["xor"]
    xor = xor.copy()
    xor[0, 0] ^= 1
    np.savez(p, meta=meta, written=written, xor=xor)
    with pytest.raises(FaultMapError, match="checksum mismatch"):
        read_faultmap(p)


def test_other_layout_version_and_garbage(tmp_path):
    fm = _map(n_words=4, n_reads=1)
    fm.layout_version = 99
    p = write_faultmap(tmp_path / "v.npz", fm)
    with pytest.raises(FaultMapError, match="memory layout version 99"):
        read_faultmap(p)
    g = tmp_path / "g.npz"
    g.write_text("not a zip")
    with pytest.raises(FaultMapError, match="g.npz"):
        read_faultmap(g)
    with pytest.raises(FaultMapError, match="no such file"):
        read_faultmap(tmp_path / "missing.npz")


def test_shipped_virtual_lab_maps_are_valid_and_small():
    paths = list_faultmaps("tests/data/faultmaps")
    assert len(paths) >= 20
    for p in paths:
        fm = read_faultmap(p)
        assert p.stat().st_size < 12 * 1024 and fm.chip_id == "sram-demo-1" and fm.operating_point["voltage_V"] > 0
        assert fm.n_reads >= 2 and fm.base_word == 0
    assert sum(p.stat().st_size for p in paths) < 64 * 1024


def test_shipped_profile_maps_cover_the_quick_mlp_of_every_shipped_profile():
    """virtual_chip.yaml's linked maps span the weight memory of the quick mlp of each profile."""
    from bench.training import load_data, weight_words
    from models.profile import PROFILES_DIR, list_profiles, load_profile
    from models.training import TrainConfig

    maps = [read_faultmap(p) for p in load_profile(PROFILES_DIR / "virtual_chip.yaml").fault_map_paths()]
    covered = min(m.base_word + m.n_words for m in maps)
    for path in list_profiles():
        exp = load_profile(path).experiment
        config = TrainConfig(method=exp["method"], arch=exp["arch"], dataset=exp["dataset"], width=exp["width"],
                             limit_train=1)
        need = weight_words(config, load_data(config))
        assert need <= covered, f"{path.name}: the quick {exp['arch']} needs {need} words, maps cover {covered}"


def test_folder_scan_keeps_only_files_that_claim_to_be_fault_maps(tmp_path):
    from drivers.faultmap import claims_faultmap, scan_faultmaps

    good = write_faultmap(tmp_path / "maps" / "anything.npz", _map(n_words=8, n_reads=2))
    np.savez(tmp_path / "weights.npz", w=np.zeros(3))              # another tool's archive
    (tmp_path / "v0.4500_zeros.npz").write_bytes(b"PK truncated")  # a damaged map: its name claims it
    (tmp_path / "notes.npz").write_bytes(b"not a zip")
    maps, skipped = scan_faultmaps(tmp_path)
    assert maps == [good, tmp_path / "v0.4500_zeros.npz"]
    assert sorted(p.name for p in skipped) == ["notes.npz", "weights.npz"]
    assert claims_faultmap(good) and not claims_faultmap(tmp_path / "weights.npz")
