"""drivers/framing.py: CRC check value, COBS round trips, stream splitting and corrupt frames."""

import pytest
from hypothesis import given, settings, strategies as st

from drivers.framing import FrameError, FrameReader, crc16, decode_frame, encode_frame, pack_payload


def test_crc16_check_value():
    assert crc16(b"123456789") == 0x29B1


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=3, max_size=1100))
def test_round_trip_has_no_zero_inside(payload):
    frame = encode_frame(payload)
    assert frame.endswith(b"\x00") and b"\x00" not in frame[:-1]
    assert decode_frame(frame[:-1]) == payload


def test_reader_splits_a_stream_in_arbitrary_pieces():
    frames = [encode_frame(pack_payload(i, i * 7, bytes(range(i * 40)))) for i in range(1, 6)]
    stream = b"".join(frames)
    reader, got = FrameReader(), []
    for i in range(0, len(stream), 13):
        got += reader.feed(stream[i:i + 13])
    assert got == [decode_frame(f[:-1]) for f in frames]


def test_corrupt_and_oversized_frames_are_reported_then_the_stream_recovers():
    good = encode_frame(pack_payload(1, 1))
    flipped = bytearray(good)
    flipped[2] ^= 0x40
    reader = FrameReader(max_frame=64)
    out = reader.feed(bytes(flipped) + b"\x01" * 500 + b"\x00" + b"\x00" + good)
    assert isinstance(out[0], FrameError)
    assert isinstance(out[1], FrameError) and "longer than 64" in str(out[1])
    assert out[2:] == [pack_payload(1, 1)]  # the lone 0x00 between them yields nothing


def test_short_frame_is_an_error():
    with pytest.raises(FrameError, match="shorter"):
        decode_frame(encode_frame(b"\x01")[:-1])
