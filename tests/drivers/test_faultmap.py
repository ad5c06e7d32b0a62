"""Fault-map format: round trip, derived views, and clear errors for damaged files."""

import hashlib
import io
import json
import math
import zipfile
from fractions import Fraction

import numpy as np
import pytest

from drivers.faultmap import (FaultMap, FaultMapError, canonical_json, list_faultmaps, read_faultmap,
                              write_faultmap)


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
    from models.profile import PROFILES_DIR, load_profile
    from models.training import TrainConfig
    from tests.shipped import SHIPPED_PROFILES

    maps = [read_faultmap(p) for p in load_profile(PROFILES_DIR / "virtual_chip.yaml").fault_map_paths()]
    covered = min(m.base_word + m.n_words for m in maps)
    for path in SHIPPED_PROFILES:
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


# --- checksum: a second writer built from docs/FAULTMAP_FORMAT.md "Checksum" alone --------------

def _reads_back(value: Fraction, x: float) -> bool:
    try:
        return float(value) == x  # int / int: correctly rounded
    except OverflowError:
        return False


def _doc_float(x: float) -> str:
    """Shortest round-trip digits (the nearest of several, the even one of a tie), then positional for
    -4 <= exponent < 16, else d.ddde+XX."""
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    x = abs(x)
    if x == 0.0:
        return sign + "0.0"
    for p in range(17):  # n = p + 1 digits: the correctly rounded string and its neighbours
        mantissa, exp = f"{x:.{p}e}".split("e")
        scale = Fraction(10) ** (int(exp) - p)  # value = D * scale
        near = int(mantissa.replace(".", ""))
        ok = [d for d in (near - 1, near, near + 1) if d > 0 and _reads_back(d * scale, x)]
        if ok:
            best = min(ok, key=lambda d: (abs(d * scale - Fraction(x)), d % 2))  # a tie: the even one
            break
    digits = str(best).rstrip("0")
    exp = int(exp) - p + len(str(best)) - 1  # of the first digit
    if -4 <= exp < 16:
        point = exp + 1  # digits before the decimal point
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}.0"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    frac = f".{digits[1:]}" if len(digits) > 1 else ""
    return f"{sign}{digits[0]}{frac}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"


def _doc_string(s: str) -> str:
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for ch in s:
        c = ord(ch)
        if ch in short:
            out.append(short[ch])
        elif 0x20 <= c <= 0x7E:
            out.append(ch)
        elif c > 0xFFFF:
            c -= 0x10000
            out.append(f"\\u{0xD800 + (c >> 10):04x}\\u{0xDC00 + (c & 0x3FF):04x}")
        else:
            out.append(f"\\u{c:04x}")
    return '"' + "".join(out) + '"'


def _doc_canonical(v) -> str:
    if v is True or v is False or v is None:
        return {True: "true", False: "false", None: "null"}[v]
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _doc_float(v)
    if isinstance(v, str):
        return _doc_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_doc_canonical(e) for e in v) + "]"
    keys = sorted(v, key=lambda k: [ord(c) for c in k])  # code point order
    return "{" + ", ".join(f"{_doc_string(k)}: {_doc_canonical(v[k])}" for k in keys) + "}"


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _second_writer(path, meta: dict, written: np.ndarray, xor: np.ndarray, stored_text: str) -> None:
    """A map as another implementation writes it: checksum from the doc's rules, ``meta``
    stored as any JSON text (here compact, keys in insertion order, raw UTF-8)."""
    h = hashlib.sha256(_doc_canonical(meta).encode("ascii"))
    h.update(written.astype("<u4").tobytes() + xor.astype("<u4").tobytes())
    text = stored_text.replace('"CHECKSUM"', json.dumps("sha256:" + h.hexdigest()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("meta.npy", _npy(np.frombuffer(text.encode("utf-8"), np.uint8)))
        z.writestr("written.npy", _npy(written.astype("<u4")))
        z.writestr("xor.npy", _npy(xor.astype("<u4")))


TRICKY = {"format": "faultbench-faultmap", "format_version": 1, "layout_version": 1,
          "chip_id": "chip-\u00b5-\u6771\u4eac-\U0001F600 \x01\t\"\\/\x7f", "pattern": "random:7",
          "operating_point": {"name": "0.3V", "voltage_V": 0.1 + 0.2},
          "temperature_C": 1e-05, "repeats": [0, 1], "timestamp": "2024-01-02T03:04:05+00:00",
          "base_word": 3, "n_words": 4, "n_reads": 2,
          "extra": {"z": 1e16, "a": 100.0, "\uffff": -0.0, "\U0001F600": 5e-324, "\u00e9": 1234567890123456.0,
                    "big": 12345678901234567890, "neg": -17, "list": [1, 2.5, True, False, None, "x"],
                    "small": 0.0001, "tiny": 0.00001234, "huge": 1.5e300, "empty": {}, "none": []}}


def test_a_writer_from_the_document_produces_maps_the_reader_accepts(tmp_path):
    rng = np.random.default_rng(1)
    written = rng.integers(0, 2**32, 4, dtype=np.uint32)
    xor = rng.integers(0, 2**32, (2, 4), dtype=np.uint32)
    stored = json.dumps(TRICKY | {"checksum": "CHECKSUM"}, separators=(",", ":"), ensure_ascii=False)
    _second_writer(tmp_path / "second.npz", TRICKY, written, xor, stored)
    fm = read_faultmap(tmp_path / "second.npz")
    assert fm.chip_id == TRICKY["chip_id"] and fm.extra["big"] == 12345678901234567890
    np.testing.assert_array_equal(fm.xor, xor)
    # the doc's rules and the reader's agree on the text, and our writer stores exactly it
    assert _doc_canonical(TRICKY) == canonical_json(TRICKY).decode("ascii")
    ours = write_faultmap(tmp_path / "ours.npz", fm)
    with np.load(ours) as z:
        text = z["meta"].tobytes().decode("ascii")
    assert text == _doc_canonical(json.loads(text))


def test_the_documented_float_form_over_many_values():
    rng = np.random.default_rng(2)
    values = rng.random(3000) * 10.0 ** rng.integers(-320, 308, 3000)
    values = np.concatenate([values, -values, 2.0 ** np.arange(-60, 60), [5e-324, 1.7976931348623157e308]])
    values = values[np.isfinite(values)]
    for x in values.tolist():
        assert _doc_float(x) == canonical_json(x).decode()


def test_a_checksum_over_other_separators_is_refused(tmp_path):
    written, xor = np.arange(4, dtype=np.uint32), np.zeros((2, 4), np.uint32)
    compact = json.dumps(TRICKY, sort_keys=True, separators=(",", ":")).encode()
    h = hashlib.sha256(compact + written.astype("<u4").tobytes() + xor.astype("<u4").tobytes())
    stored = json.dumps(TRICKY | {"checksum": "sha256:" + h.hexdigest()})
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as z:
        for name, a in (("meta", np.frombuffer(stored.encode(), np.uint8)), ("written", written), ("xor", xor)):
            z.writestr(f"{name}.npy", _npy(a))
    with pytest.raises(FaultMapError, match="checksum mismatch"):
        read_faultmap(tmp_path / "bad.npz")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_metadata_is_refused_on_write_and_read(tmp_path, value):
    fm = _map(n_words=4, n_reads=1)
    fm.temperature_C = value
    with pytest.raises(FaultMapError, match=r"n\.npz: metadata cannot be written"):
        write_faultmap(tmp_path / "n.npz", fm)
    assert not (tmp_path / "n.npz").exists()
    fm.temperature_C = 20.0
    p = write_faultmap(tmp_path / "m.npz", fm)
    with np.load(p) as z:
        meta, written, xor = z["meta"].tobytes().decode(), z["written"], z["xor"]
    meta = meta.replace('"temperature_C": 20.0', f'"temperature_C": {json.dumps(value)}')
    np.savez(p, meta=np.frombuffer(meta.encode(), np.uint8), written=written, xor=xor)
    with pytest.raises(FaultMapError, match="not valid JSON"):
        read_faultmap(p)
