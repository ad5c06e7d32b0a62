"""The host kernel library through ctypes (drivers.kernels_native): batch entry points equal
the reference kernels input by input, on random shapes with garbage in the weight padding
bits; the library is built by make and a missing toolchain is one clear line."""

import numpy as np
import pytest

from drivers import kernels_native as kn
from drivers.memory_layout import pack_bit_rows


def rand_words(rng, n):
    return rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)


def packed_acts(rng, n, bits):
    """n random activation bit streams of `bits` bits, bits past the end 0 (as the threshold writes them)."""
    return pack_bit_rows(rng.integers(0, 2, (n, bits), dtype=np.uint8))


def unpack(words, bits):
    return np.unpackbits(np.ascontiguousarray(words).view(np.uint8), axis=-1, bitorder="little")[..., :bits]


@pytest.mark.parametrize("k", [1, 31, 64, 100, 288, 512, 1000, 1600])
def test_fc_batches_equal_the_reference(k):
    rng = np.random.default_rng(k)
    n, n_out = 7, int(rng.integers(1, 40))
    w = rand_words(rng, n_out * kn.words(k))  # padding bits random: the kernels must ignore them
    x = packed_acts(rng, n, k)
    got = kn.bin_fc_batch(x, w, k, n_out)
    want = np.stack([kn.bin_fc(x[i], w, k, n_out, reference=True) for i in range(n)])
    np.testing.assert_array_equal(got, want)
    xi = rng.integers(-128, 128, (n, k), dtype=np.int8)
    want8 = np.stack([kn.int8_fc(xi[i], w, k, n_out, reference=True) for i in range(n)])
    np.testing.assert_array_equal(kn.int8_fc_batch(xi, w, k, n_out), want8)
    planes, sx = kn.int8_planes_batch(xi, k)
    np.testing.assert_array_equal(kn.int8_fc_planes_batch(planes, sx, w, k, n_out), want8)
    np.testing.assert_array_equal(sx, xi.astype(np.int64).sum(1))


CONV_SHAPES = [(8, 8, 1, 16, 3, 1, 1), (9, 7, 5, 6, 5, 2, 2), (6, 6, 32, 20, 3, 1, 1), (5, 5, 64, 9, 5, 1, 2),
               (7, 7, 3, 4, 3, 2, 0)]  # h, w, c, out_c, k, stride, pad


@pytest.mark.parametrize("h,w,c,oc,k,stride,pad", CONV_SHAPES)
def test_conv_batches_equal_the_reference(h, w, c, oc, k, stride, pad):
    rng = np.random.default_rng(h * 100 + c)
    shape = kn.ConvShape(h, w, c, oc, k, k, stride, pad)
    n = 4
    wts = rand_words(rng, oc * kn.words(shape.k))
    x = packed_acts(rng, n, h * w * c)
    got = kn.bin_conv_batch(x, shape, wts)
    assert got.shape == (n, shape.out_h, shape.out_w, oc)
    for i in range(n):
        np.testing.assert_array_equal(got[i], kn.bin_conv(x[i], shape, wts, reference=True))
        np.testing.assert_array_equal(got[i], kn.bin_conv(x[i], shape, wts))
    xi = rng.integers(-128, 128, (n, h, w, c), dtype=np.int8)
    got8 = kn.int8_conv_batch(xi, shape, wts)
    for i in range(n):
        np.testing.assert_array_equal(got8[i], kn.int8_conv(xi[i], shape, wts, reference=True))


def test_sparse_update_equals_recomputing_with_flipped_weights():
    rng = np.random.default_rng(3)
    k, n_out, n = 100, 13, 6
    wpr = kn.words(k)
    w = rand_words(rng, n_out * wpr)
    x = rng.integers(-128, 128, (n, k), dtype=np.int8)
    rows, cols = rng.integers(0, n_out, 9), rng.choice(k, 9, replace=False)
    flipped = w.copy()
    for r, c in zip(rows, cols):
        flipped[r * wpr + c // 32] ^= np.uint32(1 << (c % 32))
    clean_bits = (w[rows * wpr + cols // 32] >> (cols % 32).astype(np.uint32)) & 1
    z = kn.int8_fc_batch(x, w, k, n_out)
    kn.int8_fc_update_batch(x, z, rows, cols, 4 * clean_bits.astype(np.int32) - 2)
    np.testing.assert_array_equal(z, kn.int8_fc_batch(x, flipped, k, n_out))


def test_pooling_and_threshold_batches():
    rng = np.random.default_rng(4)
    n, h, w, c, p, st = 3, 7, 6, 37, 2, 2
    oh, ow = (h - p) // st + 1, (w - p) // st + 1
    z = rng.integers(-50, 50, (n, h, w, c), dtype=np.int32)
    want = np.stack([[[z[i, y * st:y * st + p, x * st:x * st + p].max(axis=(0, 1)) for x in range(ow)]
                      for y in range(oh)] for i in range(n)])
    np.testing.assert_array_equal(kn.maxpool_i32_batch(z, p, st, oh, ow), want)
    a = packed_acts(rng, n, h * w * c)
    got = unpack(kn.bin_maxpool_batch(a, h, w, c, p, st, oh, ow), oh * ow * c).reshape(n, oh, ow, c)
    bits = unpack(a, h * w * c).reshape(n, h, w, c)  # max of +-1 values = AND of the stored bits (1 = -1)
    want_bits = np.stack([[[bits[i, y * st:y * st + p, x * st:x * st + p].min(axis=(0, 1)) for x in range(ow)]
                           for y in range(oh)] for i in range(n)])
    np.testing.assert_array_equal(got, want_bits)
    tau = rng.integers(-30, 30, c).astype(np.int32)
    flip = rng.random(c) < 0.4
    flip_words = pack_bit_rows(flip[None].astype(np.uint8))[0]
    out = kn.threshold_batch(z.reshape(n, h * w, c), tau, flip_words)
    want = (z.reshape(n, h * w, c) < tau) ^ flip  # stored bit 1 = -1 = NOT((z >= tau) XOR flip)
    np.testing.assert_array_equal(unpack(out, h * w * c), want.reshape(n, -1))


def test_bad_shapes_are_one_clear_error():
    with pytest.raises(ValueError, match="bin_fc_batch: 3 weight words, the layer needs 8"):
        kn.bin_fc_batch(np.zeros((2, 2), np.uint32), np.zeros(3, np.uint32), 64, 4)


def test_missing_toolchain_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(kn, "LIBRARY", tmp_path / "firmware/build/host/libfbkernels.so")
    monkeypatch.setattr(kn, "FIRMWARE_DIR", tmp_path / "firmware")
    monkeypatch.setattr(kn.shutil, "which", lambda tool: None)
    with pytest.raises(kn.KernelsNativeError) as err:
        kn._make()
    msg = str(err.value)
    assert "\n" not in msg and "make and cc not found" in msg and "build-essential" in msg


def test_library_is_built_by_make():
    assert kn.library() is kn.library()
    assert kn.LIBRARY.exists()
