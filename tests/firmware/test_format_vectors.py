"""Fixed vectors pinning firmware/FORMAT.md: the memory layout and the model blob, byte for byte.

The tiny network below is set by hand; every expected word, threshold and header field is
worked out in the comments from FORMAT.md, not produced by the exporter.
"""

import struct
import zlib

import numpy as np
import pytest
import torch
import torch.nn as nn

from drivers.memory_layout import bit_addresses, memory_map, pack_weights
from models import reference
from models.blob import BlobError, ModelBlob
from models.export import export_model, torch_scores
from models.layers import BinaryActivation, BinaryConv2d, BinaryLinear, QuantizeInput, Scale

I32_MAX = 2 ** 31 - 1


def test_layout_example_of_format_md():
    # A.3: binary FC [10, 40] at base 0: wpr = 2, 20 words; w[3][35] = bit 3 of word 7 = address 227
    (region, nxt) = memory_map([("a", (10, 40), "binary"), ("b", (4, 4), "binary")])
    assert (region.base_word, region.n_words, nxt.base_word) == (0, 20, 20)
    assert bit_addresses(region)[3, 35, 0] == 227
    w = np.ones((10, 40))
    w[3, 35] = -1
    words = pack_weights(w, "binary")
    assert words[7] == 1 << 3 and np.count_nonzero(words) == 1


def test_conv_row_order_and_int8_and_ternary_words():
    # conv [1, 2, 1, 2] (out, in_c, kh, kw): row order (kh, kw, in_c) -> k = x * 2 + c
    w = np.ones((1, 2, 1, 2))
    w[0, 1, 0, 0] = -1           # c=1, x=0 -> k=1
    w[0, 0, 0, 1] = -1           # c=0, x=1 -> k=2
    assert pack_weights(w, "binary").tolist() == [0b0110]
    # ternary [[1, 0, -1], [0, -1, 1]]: sign plane rows 0b100, 0b010; nonzero plane 0b101, 0b110
    t = np.array([[1, 0, -1], [0, -1, 1]])
    assert pack_weights(t, "ternary").tolist() == [4, 2, 5, 6]
    # int8 codes 1, -2, 3, -128, 5: bytes 01 fe 03 80 | 05 00 00 00
    assert pack_weights(np.array([[1, -2, 3, -128, 5]]), "int8").tolist() == [0x8003FE01, 0x00000005]


def hand_net() -> nn.Sequential:
    """conv 1->2 (3x3, pad 1) + maxpool 2 + BN + sign, fc 8->3 + BN + sign, fc 3->2 + Scale."""
    conv = BinaryConv2d(1, 2, 3, padding=1)
    fc1, fc2 = BinaryLinear(8, 3), BinaryLinear(3, 2)
    bn1, bn2 = nn.BatchNorm2d(2, eps=0.0), nn.BatchNorm1d(3, eps=0.0)
    with torch.no_grad():
        conv.weight.fill_(0.5)
        conv.weight[0, 0, 1, 1] = -0.5                        # ch 0: centre -1 -> bit 4: 0x10
        conv.weight[1, 0].view(-1)[1::2] = -0.25               # ch 1: odd k -1 -> 0xAA
        fc1.weight.copy_(torch.tensor([[-1.0] * 8, [-1.0] * 4 + [0.0] * 4, [0.3] * 8]))  # 0xFF, 0x0F, 0x00
        fc2.weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [-0.1, -0.2, -0.3]]))           # 0x2, 0x7
        # conv BN (s = 127), sigma = 2:
        #  ch 0: g=1,  b=0.5, mu=0.25: (z/127 - 0.25)/2 + 0.5 >= 0  <=>  z >= -95.25 -> tau -95
        #  ch 1: g=-2, b=1,   mu=0:    -(z/127) + 1 >= 0           <=>  z <= 127 (tie +1) -> tau 128, flip
        bn1.weight.copy_(torch.tensor([1.0, -2.0]))
        bn1.bias.copy_(torch.tensor([0.5, 1.0]))
        bn1.running_mean.copy_(torch.tensor([0.25, 0.0]))
        bn1.running_var.fill_(4.0)
        # fc BN (s = 1):
        #  ch 0: g=0, b=-1: always -1 -> tau INT32_MAX
        #  ch 1: g=0.5, b=0, mu=2, var=1: z >= 2 -> tau 2
        #  ch 2: g=-1, b=0.5, mu=1, var=0.25: -(z-1)/0.5 + 0.5 >= 0 <=> z <= 1.25 -> tau 2, flip
        bn2.weight.copy_(torch.tensor([0.0, 0.5, -1.0]))
        bn2.bias.copy_(torch.tensor([-1.0, 0.0, 0.5]))
        bn2.running_mean.copy_(torch.tensor([0.0, 2.0, 1.0]))
        bn2.running_var.copy_(torch.tensor([1.0, 1.0, 0.25]))
    return nn.Sequential(QuantizeInput(8), conv, nn.MaxPool2d(2), bn1, BinaryActivation(), nn.Flatten(),
                         fc1, bn2, BinaryActivation(), fc2, Scale(0.5)).eval()


IMAGE = [0x10, 0xAA, 0, 0, 0xFF, 0x0F, 0x00, 0, 0x2, 0x7]  # regions at words 0, 4, 8 (4-aligned)


def expected_blob() -> bytes:
    """FORMAT.md B.1-B.6 written out field by field."""
    hdr = struct.pack("<4sHHHHHH3HHII", b"FBMB", 1, 1, 32, 40, 3, 2, 1, 4, 4, 127, 10, 184)
    rec = "<4B6H8B2bH3I"
    recs = [
        struct.pack(rec, 1, 1, 1, 0, 1, 4, 4, 2, 2, 2, 3, 3, 1, 1, 2, 2, 0, 0, 0, 0, 0, 0, 2, 152),
        struct.pack(rec, 2, 0, 1, 0, 2, 2, 2, 3, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 3, 164),
        struct.pack(rec, 2, 0, 1, 2, 3, 1, 1, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 2, 0),
    ]
    params = struct.pack("<2iI", -95, 128, 0b10) + struct.pack("<3iI", I32_MAX, 2, 2, 0b100)
    body = hdr + b"".join(recs) + params
    return body + struct.pack("<I", zlib.crc32(body))


def test_hand_net_blob_and_image_bytes():
    ex = export_model(hand_net(), (1, 4, 4))
    assert ex.image.tolist() == IMAGE
    data = ex.blob_bytes()
    assert len(data) == 184
    assert data == expected_blob()
    assert data[-4:] == bytes.fromhex("d2bf246e")  # pinned CRC32 of this vector
    assert ex.layer_names == ["1", "6", "9"]


def test_hand_net_scores_by_hand():
    # Input all 1.0 -> codes 127; conv 3x3, zero padding 1, on a 4x4 field of 127:
    #  ch 0 (all +1, centre -1): z = 127 * (valid taps - 2): corner 254, edge 508, interior 889;
    #    each 2x2 pool window holds one interior position -> 889 >= -95 -> +1.
    #  ch 1 (edge-centre taps -1): z = 127 at interior positions, 0 at edges and corners;
    #    pooled max 127 -> the tie z <= 127 -> +1.
    # fc1 on eight +1: row 0 z=-8 but gamma 0, beta<0 -> -1; row 1 z=0 < 2 -> -1;
    #    row 2 z=8 > 1 (flip) -> -1.  fc2 on (-1,-1,-1): [+1,-1,+1] -> -1; [-1,-1,-1] -> 3.
    net = hand_net()
    x = torch.ones(1, 1, 4, 4)
    blob = ModelBlob.from_bytes(expected_blob())
    codes = reference.quantize_input(x.numpy(), blob.input_levels)
    assert codes.min() == codes.max() == 127
    acts = reference.run_all(blob, np.array(IMAGE, np.uint32), codes)
    assert acts[0].ravel().tolist() == [1] * 8
    assert acts[1].ravel().tolist() == [-1, -1, -1]
    assert acts[2].ravel().tolist() == [-1, 3]
    assert torch_scores(net, x).tolist() == [[-1, 3]]


def test_threshold_tie_is_plus_one():
    # ch 1 of the conv layer: +1 iff z <= 127; pick the input so that the pooled z is exactly 127
    blob = ModelBlob.from_bytes(expected_blob())
    layer = blob.layers[0]
    z = np.array([[[[0]], [[127]]], [[[0]], [[128]]]], dtype=np.int64)  # [B=2, C=2, 1, 1]
    layer_1x1 = type(layer)(**{**layer.__dict__, "pool_k": 0, "pool_stride": 0})
    out = reference.output_stage(layer_1x1, z)
    assert out[:, 1, 0, 0].tolist() == [1, -1]  # z = 127 -> +1 (tie), 128 -> -1
    assert out[:, 0, 0, 0].tolist() == [1, 1]   # z = 0 >= -95


@pytest.mark.parametrize("offset, value, field", [
    (0, b"XBMB", "magic"), (4, b"\x02\x00", "format_version"), (6, b"\x07\x00", "layout_version"),
    (28, b"\x00\x01\x00\x00", "blob_bytes"), (183, b"\x00", "CRC32"),
])
def test_bad_blobs_name_the_field(offset, value, field):
    data = bytearray(expected_blob())
    data[offset:offset + len(value)] = value
    if field not in ("CRC32", "blob_bytes"):  # keep the CRC right so the field check is reached
        data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])))
    with pytest.raises(BlobError, match=field):
        ModelBlob.from_bytes(bytes(data))


def test_bad_layer_table_is_rejected():
    data = bytearray(expected_blob())
    data[32 + 40 + 10] = 4  # layer 1 out_c 3 -> 4: shapes no longer chain into layer 2
    data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])))
    with pytest.raises(BlobError, match="layer"):
        ModelBlob.from_bytes(bytes(data))
    with pytest.raises(BlobError, match="shorter"):
        ModelBlob.from_bytes(expected_blob()[:20])


def hand_wage_net():
    """WAGE fc 4->3->2 with hand-set ternary weights (alpha = 1 for both layers: shift 1)."""
    from models.wage import wage_mlp

    net = wage_mlp((4,), 2, width=3, depth=1, storage="ternary")
    t1 = torch.tensor([[1.0, 0, -1, 0], [0, 1, 1, 1], [-1, -1, 0, 0]])
    t2 = torch.tensor([[1.0, -1, 0], [0, 0, -1]])
    with torch.no_grad():
        for block, t in zip(net.blocks, (t1, t2)):
            assert block.layer.alpha == 1.0
            block.layer.weight.copy_(0.5 * t)  # Q(C(0.5, 2), 2) = 0.5 = sigma(2): t = +-1
    return net.eval()


def test_hand_wage_blob_image_and_round_half_even():
    ex = export_model(hand_wage_net(), (4,))
    # fc1 sign plane rows 0b0100, 0, 0b0011; nonzero plane 0b0101, 0b1110, 0b0011 (words 0..5)
    # fc2 at word 8: sign 0b010, 0b100; nonzero 0b011, 0b100
    assert ex.image.tolist() == [4, 0, 3, 5, 14, 3, 0, 0, 2, 4, 3, 4]
    rec = "<4B6H8B2bH3I"
    expected = (struct.pack("<4sHHHHHH3HHII", b"FBMB", 1, 1, 32, 40, 2, 2, 4, 1, 1, 128, 12, 116)
                + struct.pack(rec, 2, 1, 2, 1, 4, 1, 1, 3, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 127, 0, 0, 6, 0)
                + struct.pack(rec, 2, 1, 2, 2, 3, 1, 1, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 4, 0))
    assert ex.blob_bytes() == expected + struct.pack("<I", zlib.crc32(expected))
    # x = [1, -0.5, 34/128, 0] -> codes [127, -64, 34, 0]; fc1 sums 93, -30, -63;
    # /2 ties to even: 46.5 -> 46 (not 47), relu clamps the rest to 0; fc2: [46, 0]
    x = torch.tensor([[1.0, -0.5, 34 / 128, 0.0]])
    codes = reference.quantize_input(x.numpy(), 128)
    assert codes.tolist() == [[127, -64, 34, 0]]
    acts = reference.run_all(ex.blob, ex.image, codes)
    assert acts[0].ravel().tolist() == [46, 0, 0] and acts[1].ravel().tolist() == [46, 0]
    assert torch_scores(hand_wage_net(), x).tolist() == [[46, 0]]
