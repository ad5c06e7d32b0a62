"""Serial framing of the board protocol (HARDWARE 6, firmware/PROTOCOL.md).

A frame on the wire is ``COBS(payload || CRC16) || 0x00``. The CRC is CRC-16/CCITT-FALSE
(poly 0x1021, init 0xFFFF; check value 0x29B1 for ``b"123456789"``), appended little-endian;
``binascii.crc_hqx`` computes it. A payload starts with ``u8 message id, u16 seq`` and carries
fixed little-endian fields.
"""

from __future__ import annotations

import binascii
import struct

from cobs import cobs

DELIMITER = b"\x00"
HEADER = struct.Struct("<BH")  # message id, sequence number


class FrameError(ValueError):
    """A received frame that cannot be decoded (bad COBS, too short, wrong CRC)."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data``."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode_frame(payload: bytes) -> bytes:
    """``payload`` -> bytes on the wire, delimiter included."""
    return cobs.encode(payload + struct.pack("<H", crc16(payload))) + DELIMITER


def decode_frame(frame: bytes) -> bytes:
    """Bytes between two delimiters -> payload; :class:`FrameError` if corrupt."""
    try:
        raw = cobs.decode(frame)
    except cobs.DecodeError as exc:
        raise FrameError(f"COBS decode failed: {exc}") from None
    if len(raw) < HEADER.size + 2:
        raise FrameError(f"frame of {len(raw)} bytes is shorter than id + seq + CRC")
    payload, (crc,) = raw[:-2], struct.unpack("<H", raw[-2:])
    if crc != crc16(payload):
        raise FrameError(f"CRC {crc:#06x} != {crc16(payload):#06x} computed")
    return payload


def pack_payload(msg_id: int, seq: int, fields: bytes = b"") -> bytes:
    return HEADER.pack(msg_id, seq & 0xFFFF) + fields


def unpack_payload(payload: bytes) -> tuple[int, int, bytes]:
    msg_id, seq = HEADER.unpack_from(payload)
    return msg_id, seq, payload[HEADER.size:]


class FrameReader:
    """Splits a byte stream at delimiters; keeps partial frames between calls.

    ``max_frame`` bounds the bytes kept for one frame: a longer run is dropped up to the next
    delimiter (reported once as an oversized frame) so garbage cannot grow memory.
    """

    def __init__(self, max_frame: int = 4096):
        self.max_frame = max_frame
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        """Returns complete frames' payloads, or a FrameError in place of a corrupt one."""
        out: list[bytes | FrameError] = []
        for chunk_end, part in _split_keep(data):
            if not self._overflow:
                self._buf += part
                if len(self._buf) > self.max_frame:
                    self._overflow, self._buf = True, bytearray()
            if chunk_end:
                if self._overflow:
                    out.append(FrameError(f"frame longer than {self.max_frame} bytes dropped"))
                elif self._buf:
                    try:
                        out.append(decode_frame(bytes(self._buf)))
                    except FrameError as exc:
                        out.append(exc)
                self._buf, self._overflow = bytearray(), False
        return out

    def reset(self) -> None:
        self._buf, self._overflow = bytearray(), False


def _split_keep(data: bytes):
    """Yields (ends_with_delimiter, bytes_before) for each delimiter-separated piece."""
    parts = data.split(DELIMITER)
    for i, part in enumerate(parts):
        yield i < len(parts) - 1, part
