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

_WINDOW = 64 << 20  # bytes searched at a time for a cut
_OVERLAP = 1 << 12  # windows overlap by this: a match within it is found whole
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
            self._release(0, len(self._map))
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
        end = self._find(_ARRAY_END, pos, len(self._bytes))
        if end is None:
            raise SplitFailed
        while True:
            cut = self._find(_BETWEEN, pos + self.chunk_bytes, end.start())
            if cut is None:
                self.bounds.append((pos, end.start() + 1))
                return end.end()
            self.bounds.append((pos, cut.start() + 1))
            pos = cut.end() - 1

    def _find(self, pattern: re.Pattern, pos: int, endpos: int) -> re.Match | None:
        """``pattern.search`` in windows, each released once searched, so a scan through
        the file never holds it whole in memory (a match is a few bytes long)."""
        while pos < endpos:
            stop = min(endpos, pos + _WINDOW)
            found = pattern.search(self._bytes, pos, stop)
            if found is not None or stop == endpos:
                return found
            self._release(pos, stop - _OVERLAP - pos)
            pos = stop - _OVERLAP
        return None

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
        finally:
            self._release(a, b - a)

    def _release(self, start: int, length: int) -> None:
        """Drop the mapped pages of a range already read from this process's memory (the
        kernel keeps them cached): a mapped page counts in the resident size, and a
        3 GB file read through would otherwise count whole."""
        if self._map is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        first = start - start % mmap.PAGESIZE
        try:
            self._map.madvise(mmap.MADV_DONTNEED, first, length + start - first)
        except (OSError, ValueError):
            pass  # only a hint

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
        self._file.close()
