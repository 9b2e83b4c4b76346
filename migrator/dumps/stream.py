"""Byte-level plumbing for streaming JSON: offsets for errors, and the trailing-comma filter.

ijson (yajl2 C backend) parses in fixed chunks; `CountingReader` remembers the chunk being
parsed so that yajl's error snippet can be located exactly in it. `TrailingCommaFilter`
removes commas that stand before `]` or `}` outside strings (a known defect of some
dexie-export-import files), chunk by chunk, so memory stays flat.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Iterator

import ijson
import ijson.utils

CHUNK = 64 * 1024

# Everything up to the start of an unterminated string: non-quote bytes and whole strings.
_BALANCED = re.compile(rb'(?:[^"]|"(?:[^"\\]|\\.)*")*', re.DOTALL)
_TRAILING = re.compile(rb'("(?:[^"\\]|\\.)*")|,(?=[ \t\r\n]*[\]}])', re.DOTALL)
_HELD_COMMA = re.compile(rb',[ \t\r\n]*\Z')


class CountingReader:
    """A file wrapper that knows where the chunk it last handed out starts."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.offset = 0            # bytes handed out so far
        self.chunk_start = 0
        self.chunk = b""

    def read(self, n: int = -1) -> bytes:
        if n == 0:                 # ijson probes with read(0) to tell bytes from text
            return b""
        data = self.raw.read(n)
        self.chunk_start, self.chunk = self.offset, data
        self.offset += len(data)
        return data


def error_offset(message: str, reader: CountingReader) -> tuple[int, bool]:
    """Locate yajl's "(right here) ------^" in the current chunk: (offset, exact?).

    yajl puts the caret under the byte just after the offending token, so the token's last
    byte is one before it.
    """
    lines = message.split("\n")
    if "premature EOF" in message:
        return reader.offset, True
    if len(lines) >= 3 and "^" in lines[2]:
        caret = lines[2].index("^")
        snippet_start = len(lines[1]) - len(lines[1].lstrip(" "))
        snippet = lines[1][snippet_start:].rstrip(" ").encode("utf-8", "replace")
        chunk = reader.chunk.replace(b"\n", b" ").replace(b"\r", b" ").replace(b"\t", b" ")
        if snippet:
            found = chunk.find(snippet)
            if found >= 0:
                return (reader.chunk_start + found + (caret - snippet_start) - 1,
                        chunk.find(snippet, found + 1) < 0)
    return reader.chunk_start, False


class TrailingCommaFilter:
    """A readable stream over `raw` with commas before `]`/`}` (outside strings) removed."""

    def __init__(self, raw: BinaryIO, chunk: int = 1024 * 1024):
        self.raw, self.chunk_size = raw, chunk
        self.carry = b""
        self.eof = False
        self.removed = 0
        self.first_removed_at: int | None = None
        self.consumed = 0          # input bytes emitted so far (before the carry)

    def _clean(self, text: bytes) -> bytes:
        out = _TRAILING.sub(rb"\1", text)
        if len(out) != len(text):
            if self.first_removed_at is None:
                self.first_removed_at = self.consumed + _first_trailing_comma(text)
            self.removed += len(text) - len(out)
        return out

    def read(self, n: int = -1) -> bytes:
        if n == 0:
            return b""
        while not self.eof:
            data = self.raw.read(self.chunk_size)
            if not data:
                self.eof = True
                break
            buf = self.carry + data
            safe = _BALANCED.match(buf).end()
            held = _HELD_COMMA.search(buf, 0, safe)
            cut = held.start() if held else safe
            if cut == 0:
                self.carry = buf
                continue
            self.carry = buf[cut:]
            text = buf[:cut]
            out = self._clean(text)
            self.consumed += len(text)
            return out
        out, self.carry = self._clean(self.carry), b""
        self.consumed += len(out)
        return out


def _first_trailing_comma(text: bytes) -> int:
    for m in _TRAILING.finditer(text):
        if m.group(1) is None:
            return m.start()
    return 0


def parse_events(reader, chunk: int = CHUNK) -> Iterator[tuple]:
    """ijson parse events, with every event that precedes an error delivered before it.

    `ijson.parse` drops the events of a chunk whose parse fails, so an error would seem to
    happen at the previous chunk's end; driving the coroutine ourselves keeps them.
    """
    events = ijson.utils.sendable_list()
    coro = ijson.parse_coro(events, use_float=True)
    while True:
        data = reader.read(chunk)
        try:
            if data:
                coro.send(data)
            else:
                coro.close()
        except ijson.JSONError:
            yield from events
            raise
        yield from events
        del events[:]
        if not data:
            return
