"""Byte-level plumbing for the event-level (slow) reading: offsets for errors, in-place repairs.

The fast readers (window.py) hand over to this mode when they cannot read on. ijson (yajl2
C backend) parses in fixed chunks; `CountingReader` remembers the chunk being parsed so that
yajl's error snippet can be located exactly in it. `RepairStream` fixes, chunk by chunk and
without changing any offset, the valid-for-JS input yajl refuses (and the trailing-comma
defect), so memory stays flat.
"""

from __future__ import annotations

import ast
import decimal
import math
import re
from typing import Any, BinaryIO, Iterator

import ijson
import ijson.utils

CHUNK = 64 * 1024


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
    raw = message.encode("utf-8", "surrogateescape")
    if message[:2] in ("b'", 'b"'):            # ijson shows an undecodable message as a bytes repr
        try:
            raw = ast.literal_eval(message)
        except (ValueError, SyntaxError):
            pass
    lines = raw.split(b"\n")
    if len(lines) >= 3 and b"^" in lines[2]:
        caret = lines[2].index(b"^")           # a column in bytes: yajl's snippet is raw bytes
        snippet_start = len(lines[1]) - len(lines[1].lstrip(b" "))
        snippet = lines[1][snippet_start:].rstrip(b" ")
        chunk = reader.chunk.replace(b"\n", b" ").replace(b"\r", b" ").replace(b"\t", b" ")
        if snippet:
            found = chunk.find(snippet)
            if found >= 0:
                return (reader.chunk_start + found + (caret - snippet_start) - 1,
                        chunk.find(snippet, found + 1) < 0)
    return reader.chunk_start, False


def locate_json_error(exc: Exception, reader: CountingReader, at_eof: bool) -> tuple[str, int, bool]:
    """What an ijson error (or a decoding error below it) means, and where: (message, offset,
    exact?). An error past the last byte of a file read to its end is a truncation, whatever
    yajl calls it (a cut inside `null` is a "lexical error")."""
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 in the file ({exc.reason})", reader.chunk_start, False
    text = str(exc)
    offset, exact = error_offset(text, reader)
    if "premature EOF" in text or (at_eof and offset >= reader.offset):
        return "the file is truncated (ends in the middle of the JSON)", reader.offset, True
    return f"malformed JSON: {text.splitlines()[0] if text else type(exc).__name__}", offset, exact


class RepairLog:
    """What was read as JS reads it rather than as strict JSON: per kind, a count and the
    first byte offset, reported as warnings."""

    def __init__(self) -> None:
        self.first: dict[str, int] = {}     # repair kind -> first file offset
        self.counts: dict[str, int] = {}

    def note(self, kind: str, offset: int, count: int = 1) -> None:
        self.first.setdefault(kind, offset)
        self.counts[kind] = self.counts.get(kind, 0) + count

    def warnings(self, path: object) -> list[str]:
        out = []
        for kind, count in self.counts.items():
            done, why = _REPAIRS[kind]
            out.append(f"{path}: {count} {kind}{'s' if count > 1 else ''} {done}, the first at byte "
                       f"{self.first[kind]}{why}")
        return out


class RepairStream(RepairLog):
    """A readable stream over `raw` that repairs, byte for byte in place, what yajl refuses.

    - a comma before `]`/`}` (the dexie-export-import trailing-comma defect) becomes a space;
    - an integer literal outside int64 (JS writes numbers up to 1e21 without an exponent)
      becomes the same float in exponent form, padded with spaces;
    - a lone UTF-16 surrogate escape (`\\ud800`, valid JSON from JSON.stringify) becomes
      MARK + a private-use character, restored in the parsed value by `restore_surrogates`.

    Every repair keeps the length, so offsets in this stream are offsets in the file.
    Strings are tracked across chunks without rescanning, so a many-MB string costs one
    pass; only a string still open at a chunk's end is held back, with any incomplete token.
    """

    def __init__(self, raw: BinaryIO, chunk: int = 1024 * 1024):
        super().__init__()
        self.raw, self.chunk_size = raw, chunk
        self.buf = bytearray()
        self.base = 0              # file offset of buf[0]
        self.scanned = 0           # how far buf has been scanned
        self.open_quote: int | None = None
        self.eof = False
        self.surrogate_offsets: list[int] = []   # not yet restored (see restore_surrogates)
        self.natural_marks = 0

    def restore_marks(self, value: Any, parsed_until: int, row_start: int) -> Any:
        """`value` with the lone surrogates of its marks put back. A mark the parser has been
        given (before `parsed_until`) is in this value or a later one; one before `row_start`
        belongs to a value already done with, and is forgotten."""
        marks = self.surrogate_offsets
        if not marks or marks[0] >= parsed_until:
            return value
        value = restore_surrogates(value)
        marks[:] = [m for m in marks if m >= row_start]
        return value

    def read(self, n: int = -1) -> bytes:
        if n == 0:
            return b""
        while not self.eof:
            data = self.raw.read(self.chunk_size)
            if not data:
                self.eof = True
                break
            self.buf += data
            cut = self._advance()
            if cut > 0:
                return self._emit(cut)
        return self._emit(len(self.buf)) if self.buf else b""

    def _advance(self) -> int:
        """Scan on from `scanned`; return how much of buf is complete tokens (a safe cut)."""
        buf, pos, n = self.buf, self.scanned, len(self.buf)
        while True:
            if self.open_quote is not None:
                end = _STRING_REST.match(buf, pos).end()
                if end < n and buf[end] == 0x22:
                    self.open_quote, pos = None, end + 1
                    continue
                self.scanned = end
                return self.open_quote
            end = _OUTSIDE.match(buf, pos).end()
            if end < n:
                self.open_quote, pos = end, end + 1
                continue
            self.scanned = n
            return _tail_start(buf, buf.rfind(b'"') + 1, n)

    def _emit(self, cut: int) -> bytes:
        text = bytes(self.buf[:cut])
        del self.buf[:cut]
        start, self.base = self.base, self.base + cut
        self.scanned -= cut
        if self.open_quote is not None:
            self.open_quote -= cut
        if (_COMMA.search(text) or _SURROGATE.search(text) or _MARK.search(text)
                or LONG_INT.search(text)):
            text = self._repair(text, start)
        return text

    def _repair(self, text: bytes, start: int) -> bytes:
        out = bytearray(text)
        for m in TOKEN.finditer(text):
            if m.group(1) is not None:                      # a string
                content = m.group(1)
                if b"\\u" in content or MARK_UTF8 in content:
                    self._repair_string(out, content, start, m.start(1))
            elif m.group(2) is not None:                    # trailing comma
                out[m.start(2)] = 0x20
                self.note("trailing comma", start + m.start(2))
            else:
                digits = m.group(3)
                value = int(digits)
                if not INT64_MIN <= value <= INT64_MAX:
                    short = _float_literal(value, len(digits))
                    if short is not None:
                        out[m.start(3):m.end(3)] = short
                        self.note("integer outside int64", start + m.start(3))
        return bytes(out)

    def _repair_string(self, out: bytearray, content: bytes, start: int, at: int) -> None:
        self.natural_marks += content.count(MARK_UTF8)
        escapes = [(e.start(), int(e.group(1), 16)) for e in _ESCAPE.finditer(content) if e.group(1)]
        for i, (pos, unit) in enumerate(escapes):
            if 0xD800 <= unit <= 0xDBFF:
                nxt = escapes[i + 1] if i + 1 < len(escapes) else None
                if nxt and nxt[0] == pos + 6 and 0xDC00 <= nxt[1] <= 0xDFFF:
                    continue
            elif 0xDC00 <= unit <= 0xDFFF:
                prev = escapes[i - 1] if i else None
                if prev and prev[0] == pos - 6 and 0xD800 <= prev[1] <= 0xDBFF:
                    continue
            else:
                continue
            out[at + pos:at + pos + 6] = MARK_UTF8 + chr(0xE000 + unit - 0xD800).encode("utf-8")
            self.note("lone surrogate", start + at + pos)
            self.surrogate_offsets.append(start + at + pos)


_REPAIRS = {   # kind -> (what was done, why)
    "trailing comma": ("skipped", " (a known dexie-export-import defect: a comma before a closing bracket)"),
    "integer outside int64": ("read as a float", " (the number JS reads; Convex's int64 cannot hold it)"),
    "lone surrogate": ("kept", " (Convex cannot store such strings)"),
}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MARK = "\ufdd0"                  # a noncharacter: never in interchanged text
MARK_UTF8 = MARK.encode("utf-8")
_OUTSIDE = re.compile(rb'[^"]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"]*)*', re.DOTALL)
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_TAIL = re.compile(rb'(?:,[ \t\r\n]*|[-+0-9.eE]+)\Z')
_COMMA = re.compile(rb',[ \t\r\n]*[\]}]')
_SURROGATE = re.compile(rb'\\u[dD][89a-fA-F]')
_MARK = re.compile(re.escape(MARK_UTF8))
LONG_INT = re.compile(rb'[0-9]{19}')
TOKEN = re.compile(rb'"([^"\\]*(?:\\.[^"\\]*)*)"|(,)[ \t\r\n]*(?=[\]}])'
                    rb'|(?<![0-9.eE+-])(-?[0-9]{19,})(?![0-9.eE])', re.DOTALL)
_ESCAPE = re.compile(rb'\\(?:u([0-9a-fA-F]{4})|.)', re.DOTALL)
_RESTORE = re.compile(MARK + "([\ue000-\ue7ff])")


def _tail_start(buf: bytearray, lo: int, n: int) -> int:
    """Where an incomplete number or a `,` + blanks run at the end of buf starts (n if none).

    `lo` is where the outside-strings text at the end starts; the search looks at a small
    window first, widening only while the run fills it.
    """
    width = 64
    while True:
        start = max(lo, n - width)
        m = _TAIL.search(buf, start)
        if m is None:
            return n
        if m.start() > start or start == lo:
            return m.start()
        width *= 8


def _float_literal(value: int, width: int) -> bytes | None:
    """`value` as the float JS reads it, in at most `width` bytes (`<digits>e<exp>`), padded."""
    f = float(value)
    if math.isinf(f):
        return None
    sign, digits, exp = decimal.Decimal(repr(f)).as_tuple()
    text = ("-" if sign else "") + "".join(map(str, digits)) + f"e{exp}"
    return text.ljust(width).encode() if len(text) <= width else None


def restore_surrogates(value: Any) -> Any:
    """Put back the lone surrogates RepairStream marked, in strings and object keys."""
    if isinstance(value, str):
        return _RESTORE.sub(lambda m: chr(0xD800 + ord(m.group(1)) - 0xE000), value) if MARK in value else value
    if isinstance(value, dict):
        return {restore_surrogates(k): restore_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_surrogates(v) for v in value]
    return value


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
