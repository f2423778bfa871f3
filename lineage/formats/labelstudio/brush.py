"""Label Studio's brush RLE, and its conversion to and from COCO compressed RLE.

Label Studio stores a brush mask as the RGBA bytes of an image of the original size
(row-major, 4 values a pixel), packed with thi.ng's ``rle-pack`` bit stream:

    32 bits  number of values
     5 bits  word size - 1
    4x4 bits the four run-length field sizes - 1
    then per chunk: 1 bit repeat flag, 2 bits size index, <size> bits count - 1,
    and one word (repeat) or count words (literal).

This is the algorithm of ``label_studio_converter/brush.py`` (``decode_rle`` /
``encode_rle``); the mask is the alpha channel. Masks go to and from the store's COCO
compressed RLE through ``lineage.geometry``. Runs are parsed one by one (the stream
has variable-width fields) but filled into NumPy slices, and the bits come from
``np.unpackbits`` rather than a Python string per bit.
"""

from __future__ import annotations

import numpy as np

_RLE_SIZES = (3, 4, 8, 16)  # what Label Studio's own encoder writes


class BrushError(ValueError):
    """The RLE stream is malformed or does not fit the image."""


class _Bits:
    """Reads big-endian unsigned integers of any width from a bit string."""

    def __init__(self, data: bytes):
        self.bits = (np.unpackbits(np.frombuffer(data, dtype=np.uint8)) + ord("0")).tobytes()
        self.pos = 0

    def read(self, n: int) -> int:
        end = self.pos + n
        if end > len(self.bits):
            raise BrushError("RLE stream ends early")
        value = int(self.bits[self.pos : end], 2)
        self.pos = end
        return value


def decode(rle: list[int] | bytes) -> np.ndarray:
    """Label Studio RLE -> the flat uint8 array it encodes (RGBA values, row-major)."""
    if not isinstance(rle, list | tuple | bytes):
        raise BrushError("RLE must be a list of byte values 0..255")
    try:
        data = bytes(rle)
    except (TypeError, ValueError) as exc:
        raise BrushError("RLE must be a list of byte values 0..255") from exc
    if len(data) < 7:
        raise BrushError("RLE stream is shorter than its header")
    bits = _Bits(data)
    num = bits.read(32)
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    if num > 1 << 31:
        raise BrushError(f"RLE claims {num} values")
    out = np.zeros(num, dtype=np.uint8)
    i = 0
    while i < num:
        repeat = bits.read(1)
        j = i + 1 + bits.read(sizes[bits.read(2)])
        if j > num:
            raise BrushError(f"RLE run ends at value {j}, past its length {num}")
        if repeat:
            out[i:j] = bits.read(word)
        else:
            out[i:j] = [bits.read(word) for _ in range(j - i)]
        i = j
    return out


def encode(values: np.ndarray) -> list[int]:
    """Flat uint8 values -> Label Studio RLE bytes, as ``brush.py``'s ``encode_rle`` writes them
    (word size 8, run sizes 3/4/8/16; single values as literal runs of one)."""
    arr = np.asarray(values, dtype=np.uint8).ravel()
    n = arr.size
    head = f"{n:032b}{8 - 1:05b}" + "".join(f"{s - 1:04b}" for s in _RLE_SIZES)
    parts = [head]
    if n:
        ends = np.append(np.flatnonzero(arr[1:] != arr[:-1]), n - 1)
        lengths = np.diff(np.append(-1, ends))
        for length, value in zip(lengths.tolist(), arr[ends].tolist(), strict=True):
            if length == 1:
                parts.append(f"000000{value:08b}")
                continue
            if length <= 8:
                parts.append(f"100{length - 1:03b}{value:08b}")
            elif length <= 16:
                parts.append(f"101{length - 1:04b}{value:08b}")
            elif length <= 256:
                parts.append(f"110{length - 1:08b}{value:08b}")
            else:
                while length > 1 << 16:
                    parts.append(f"111{(1 << 16) - 1:016b}{value:08b}")
                    length -= 1 << 16
                parts.append(f"111{length - 1:016b}{value:08b}")
    bits = "".join(parts)
    bits += "0" * (8 - len(bits) % 8)  # brush.py always pads, even a full byte
    as_bits = np.frombuffer(bits.encode(), dtype=np.uint8) - ord("0")
    return np.packbits(as_bits).tolist()


def to_mask(rle: list[int] | bytes, height: int, width: int) -> np.ndarray:
    """Label Studio RLE -> boolean (height, width) mask from the alpha channel."""
    flat = decode(rle)
    if flat.size != height * width * 4:
        raise BrushError(
            f"RLE decodes to {flat.size} values, expected {height * width * 4} "
            f"(4 x {height} x {width})"
        )
    return flat[3::4].reshape(height, width) > 0


def from_mask(mask: np.ndarray) -> list[int]:
    """Boolean (height, width) mask -> Label Studio RLE (every channel 255 inside, as
    ``brush.py``'s ``mask2rle`` writes it)."""
    values = np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8).ravel()
    return encode(np.repeat(values, 4))
