"""Parse a large COCO file's ``annotations`` array a slice at a time, for bounded memory.

orjson builds its own document tree before the Python one, so parsing a 400 MB file
whole holds both, several GB at once. Instead the file is memory-mapped, the
``annotations`` array is cut at element boundaries (``}`` ``,`` ``{``) every few tens
of MB, and each slice is parsed as its own JSON array, read into columns and released.

A cut at a wrong place (inside a string, or between objects of a nested list) always
leaves a slice with an unclosed string or bracket, which orjson rejects: the reader
then starts over with the whole-document parse, so the result never depends on the cut.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterator
from pathlib import Path

import orjson

CHUNK_BYTES = 32 << 20
MIN_FILE_BYTES = 64 << 20  # smaller files are parsed whole: simpler, and fast enough

_ARRAY_START = re.compile(rb'"annotations"\s*:\s*(\[)\s*\{')
_BETWEEN = re.compile(rb"\}\s*,\s*\{")
_ARRAY_END = re.compile(rb"\}\s*\]")


class SplitFailed(Exception):
    """The cut did not fall on element boundaries: parse the document whole instead."""


class Chunked:
    """The document without its annotations, and the annotations slice by slice."""

    def __init__(self, path: Path, chunk_bytes: int = CHUNK_BYTES):
        self.chunk_bytes = chunk_bytes
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._map: mmap.mmap | None = None
        try:
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self.meta = self._split()
        except (ValueError, OSError, orjson.JSONDecodeError) as exc:
            self.close()
            raise SplitFailed from exc
        except SplitFailed:
            self.close()
            raise

    @property
    def _bytes(self) -> mmap.mmap:
        if self._map is None:
            raise SplitFailed
        return self._map

    def _split(self) -> dict:
        """Cut the annotations array into slices; parse the rest of the document."""
        start = _ARRAY_START.search(self._bytes)
        if start is None:
            raise SplitFailed
        self._first = start.end() - 1  # the "{" of the first annotation
        end = self._cuts()
        # the document with its annotations array replaced by []
        meta = orjson.loads(self._bytes[: start.start(1)] + b"[]" + self._bytes[end:])
        if not isinstance(meta, dict) or meta.get("annotations") != []:
            raise SplitFailed  # the array found was not the top-level one
        return meta

    def _cuts(self) -> int:
        """Find the slice bounds; return where the array's closing bracket ends."""
        self.bounds: list[tuple[int, int]] = []
        pos = self._first
        end = _ARRAY_END.search(self._bytes, pos)
        if end is None:
            raise SplitFailed
        while True:
            cut = _BETWEEN.search(self._bytes, pos + self.chunk_bytes, end.start())
            if cut is None:
                self.bounds.append((pos, end.start() + 1))
                return end.end()
            self.bounds.append((pos, cut.start() + 1))
            pos = cut.end() - 1

    def annotations(self) -> Iterator[list]:
        """Each slice of the annotations array, parsed (raises SplitFailed on a bad cut)."""
        for index in range(len(self.bounds)):
            yield self.parse(index)

    def parse(self, index: int) -> list:
        """Slice ``index`` of the annotations array, parsed (SplitFailed on a bad cut)."""
        a, b = self.bounds[index]
        try:
            return orjson.loads(b"[" + self._bytes[a:b] + b"]")
        except orjson.JSONDecodeError:
            raise SplitFailed from None

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
        self._file.close()
