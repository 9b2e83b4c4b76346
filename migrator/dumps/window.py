"""A sliding window of decoded text over a dump, parsed one whole value at a time in C.

The fast readers walk a dump's outer structure (a few tokens per table) themselves and hand
each row to a C parser: orjson where the row ends at the `},{` that joins rows (or the `}]`
after the last), else the stdlib's scanner (`JSONDecoder.raw_decode`), which builds the row
as a Python object and says where it ends: one Python call per row, not one per JSON event.
The scanner reads lone surrogate escapes and integers of any size natively; an integer
outside int64 becomes the float JS reads. Such integers are looked for with a regex only in a
window whose bytes hold a run of 19 digits (a C `translate` of each chunk says), so rows
without one cost nothing. Where the reader sets a `TextDecoder` (`typed`, for the tables the
plan lets `transform/typed.py` read), the row's text at that boundary goes to it first: a row
it settles is not parsed here at all (`made`).

Anything the window cannot read (malformed or truncated JSON, invalid UTF-8, an
unexpected shape) raises `SlowPath`: the caller re-reads the file with the event-level
reader (stream.py), which repairs what it can and says exactly where what it cannot is.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any, BinaryIO, Iterator

import orjson

from .model import TextDecoder
from .stream import INT64_MAX, INT64_MIN, LONG_INT, TOKEN, RepairLog

CHUNK = 1024 * 1024
BOM = b"\xef\xbb\xbf"
_BLANKS = " \t\r\n"
_BLANK = re.compile(f"[{_BLANKS}]*")
_INCOMPLETE_NEAR_END = 16     # a value cut inside a `\u` escape, a number or a literal fails this close to the end
_LONG_INT = re.compile(LONG_INT.pattern.decode())
_TOKEN = re.compile(TOKEN.pattern.decode(), re.DOTALL)
_DIGIT_AS_0 = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_RUN = b"0" * 19
_UNBOUNDED = object()
_CUT_ROW = 64 * 1024          # a row cut by the window's end, this short or shorter, widens the window first
_BOUNDED_MISSES = 32          # rows orjson could not read (and more than it read) before the scanner reads every row
                              # (a pretty-printed dump, where rows are joined by `},\n  {`, stops after these);
                              # the same for rows a `TextDecoder` does not settle


class SlowPath(Exception):
    """The window cannot read on; `offset` (bytes) is where it stopped."""

    def __init__(self, what: str, offset: int):
        self.what, self.offset = what, offset
        super().__init__(f"{what} near byte {offset}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODE = json.JSONDecoder(parse_constant=_refuse_constant).raw_decode


def _js_numbers(value: Any, count: list[int]) -> Any:
    """`value` with every integer outside int64 as a float; `count[0]` counts them."""
    if isinstance(value, int) and not isinstance(value, bool):
        if INT64_MIN <= value <= INT64_MAX:
            return value
        count[0] += 1
        return float(value)
    if isinstance(value, dict):
        return {k: _js_numbers(v, count) for k, v in value.items()}
    if isinstance(value, list):
        return [_js_numbers(v, count) for v in value]
    return value


def _row_end(buf: str, start: int) -> int:
    """Where the row at `start` may end: the `}` of the next `},{` (or of `}]`); -1 if neither follows."""
    end = buf.find("},{", start)
    return buf.find("}]", start) if end < 0 else end


def _digit_run(data: bytes) -> bool:
    """Does `data` hold 19 digits in a row (a candidate integer outside int64)? In C, ~1 ms/MB."""
    return _RUN in data.translate(_DIGIT_AS_0)


class JsonWindow:
    """`buf[pos:]` is the text not yet consumed; `base` is the file offset of `buf[0]`."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.chunk = raw, CHUNK
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buf, self.pos, self.base = "", 0, 0
        self.eof = False
        self.repairs = RepairLog()
        self._runs = False           # may buf hold 19 digits in a row? (see _digit_run)
        self._tail = b""             # the last bytes read, for a run across two chunks
        self._long_at = -1           # index in buf of the next 19-digit run (len(buf): none)
        self._bounded = True         # try orjson on rows first (`_bounded_object`)
        self._hits = self._misses = 0   # rows it read, and could not read
        self.text: str | None = None    # the text of the value `value` returned last, when orjson read it
        self.typed: TextDecoder | None = None   # tried on each row's text before orjson (`use`)
        self.made: Any = None           # what `typed` made of the value `value` returned last (its value: None)
        self._typed_hits = self._typed_misses = 0
        self._left = -1                 # where a row starts that `_typed_lane` tried and left
        head = raw.read(len(BOM))
        if head == BOM:
            self.base = len(BOM)
        else:
            self._append(head)

    def use(self, typed: TextDecoder | None) -> None:
        """Try `typed` on the rows that follow (None: stop). A table whose rows it mostly does
        not settle stops trying after a few (each miss costs a second parse)."""
        self.typed, self._typed_hits, self._typed_misses = typed, 0, 0

    # -- offsets ---------------------------------------------------------------------------
    def offset(self, index: int | None = None) -> int:
        """The file offset of `buf[index]` (default: the current position)."""
        return self.offset_of((self.base, self.buf, self.pos if index is None else index))

    def mark(self) -> tuple[int, str, int]:
        """The current position, for `offset_of` after the window has moved on."""
        self.peek()
        return self.base, self.buf, self.pos

    @staticmethod
    def offset_of(mark: tuple[int, str, int]) -> int:
        base, buf, index = mark
        return base + (index if buf.isascii() else len(buf[:index].encode("utf-8")))

    # -- filling ---------------------------------------------------------------------------
    def _append(self, data: bytes) -> None:
        """Decode `data` onto the window. Holds no second copy of the window or of `data` (a
        multi-MB row makes the window grow to its size), so peak memory stays near 2x the row."""
        self.eof = not data
        if _digit_run(data) or _digit_run(self._tail + data[:len(_RUN)]):
            self._runs = True
        self._tail = (self._tail + data[-len(_RUN):])[-(len(_RUN) - 1):]
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise SlowPath("invalid UTF-8", self.offset(len(self.buf)) + max(exc.start, 0)) from None
        del data
        buf, self.buf = self.buf, ""
        buf += text           # resized in place: `buf` is the only reference left
        self.buf = buf

    def more(self, at_least: int = 0) -> bool:
        """Drop the consumed text and read at least one more chunk (or `at_least` bytes);
        False at the end of the file."""
        if self.eof:
            return False
        if self.pos:
            self.base = self.offset()
            self.buf, self.pos = self.buf[self.pos:], 0
            self._runs = self._runs and _LONG_INT.search(self.buf) is not None
        self._long_at = -1
        self._append(self.raw.read(max(self.chunk, at_least)))
        return True

    # -- tokens ----------------------------------------------------------------------------
    def peek(self) -> str:
        """The next non-blank character ('' at the end of the file); the position moves to it."""
        while True:
            self.pos = _BLANK.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def expect(self, char: str, where: str) -> None:
        found = self.peek()
        if found != char:
            raise SlowPath(f"expected {char!r} {where}, found {found or 'the end of the file'!r}", self.offset())
        self.pos += 1

    def take(self, char: str) -> bool:
        """Consume `char` if it comes next."""
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def value(self) -> tuple[Any, int]:
        """The next whole JSON value (built in C) and the index in `buf` where it starts; `text`
        is then its text when orjson read it (and reads it again the same), else None."""
        self.text = self.made = None
        buf, pos = self.buf, self.pos
        if pos >= len(buf) or buf[pos] in _BLANKS:
            self.peek()
            buf, pos = self.buf, self.pos
        if self._bounded and buf.startswith("{", pos):
            found = self._bounded_object()
            if found is not _UNBOUNDED:
                return found
        return self._scanned()

    def _scanned(self) -> tuple[Any, int]:
        """The value at the position read by the stdlib's scanner, the window widened as it needs."""
        while True:
            start = self.pos
            try:
                value, end = _DECODE(self.buf, start)
            except json.JSONDecodeError as exc:
                cut = exc.pos >= len(self.buf) - _INCOMPLETE_NEAR_END or exc.msg.startswith("Unterminated string")
                if cut and self.more(at_least=len(self.buf) - start):
                    continue                        # the value goes on past the window: widen it
                raise SlowPath(f"malformed JSON ({exc.msg})", self.offset(exc.pos)) from None
            except (ValueError, RecursionError) as exc:
                raise SlowPath(f"cannot read the value ({exc})", self.offset(start)) from None
            if end > len(self.buf) - _INCOMPLETE_NEAR_END and self.more():
                continue                            # a number may go on in the next chunk (`2` of `2.5`)
            self.pos = end
            if self._runs and self._long_at < end and self._long_int_in(start, end):
                value = self._as_js(value, start, end)
            return value, start

    def _bounded_object(self) -> Any:
        """The object at the position parsed by orjson (about twice the speed of the stdlib's
        scanner) when it ends where rows are joined, `},{` (or at `}]`, the last row), and where it
        starts; else _UNBOUNDED. A row the window's end cuts (no boundary after it yet) widens the
        window once when what it holds of the row is short (`_CUT_ROW`): otherwise the row at the
        end of every chunk would go to the scanner, and a failing scanner costs a pass over the
        whole window (its error counts the lines before the failure).
        A piece from an object's start that parses whole ends where that object ends, so a
        `},{` inside a string or a nested array only makes this one try fail: the scanner then
        reads the value. What orjson reads differently is left to the scanner: a row with 19
        digits in a row (an integer outside int64, noted as a repair), a lone surrogate escape,
        a number beyond any float. Dumps where it fails more often than not stop trying."""
        buf, start = self.buf, self.pos
        end = buf.find("},{", start)
        if end < 0:
            end = buf.find("}]", start)
            if end < 0 and len(buf) - start < _CUT_ROW and self.more(at_least=len(buf) - start):
                buf, start = self.buf, self.pos
                end = _row_end(buf, start)
        if end >= 0 and not (self._runs and self._long_at <= end and self._long_int_in(start, end + 1)):
            text = buf[start:end + 1]
            typed = self.typed
            made = None if typed is None or start == self._left else typed(text)
            self._left = -1
            if made is not None:            # a whole value too: the decoder parsed all of it
                self.pos = end + 1
                self._hits += 1
                self._typed_hits += 1
                self.text, self.made = text, made
                return None, start
            if typed is not None:
                self._typed_misses += 1
                if self._typed_misses > _BOUNDED_MISSES and self._typed_misses > self._typed_hits:
                    self.typed = None
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
            else:
                self.pos = end + 1
                self._hits += 1
                self.text = text
                return value, start
        self._misses += 1
        if self._misses > _BOUNDED_MISSES and self._misses > self._hits:
            self._bounded = False
        return _UNBOUNDED

    def _long_int_in(self, start: int, end: int) -> bool:
        if self._long_at < start:
            found = _LONG_INT.search(self.buf, start)
            self._long_at = found.start() if found else len(self.buf)
        return self._long_at < end

    def _as_js(self, value: Any, start: int, end: int) -> Any:
        count = [0]
        try:
            value = _js_numbers(value, count)
        except OverflowError:
            raise SlowPath("an integer beyond any float", self.offset(start)) from None
        if count[0]:
            kind = "integer outside int64"
            first = 0
            if kind not in self.repairs.first:
                first = next((self.offset(m.start(3)) for m in _TOKEN.finditer(self.buf, start, end)
                              if m.group(3) and not INT64_MIN <= int(m.group(3)) <= INT64_MAX), self.offset(start))
            self.repairs.note(kind, first, count[0])
        return value

    def items(self, what: str) -> Iterator[tuple[Any, int]]:
        """The values of the array that comes next (`what` names it in messages), each with the
        index in `buf` where it starts. A comma before the closing bracket is the known
        dexie-export-import defect: skipped and noted."""
        self.expect("[", f"at the start of {what}")
        if self.take("]"):
            return
        while True:
            if self.typed is not None and self._bounded and not self._runs:
                yield from self._typed_lane()
            if self._bounded and self.buf.startswith("{", self.pos):   # the usual row, at its `{`
                self.text = self.made = None
                found = self._bounded_object()
                yield self._scanned() if found is _UNBOUNDED else found
            else:
                yield self.value()
            buf, pos = self.buf, self.pos
            if pos + 1 < len(buf) and buf[pos] == "," and buf[pos + 1] not in _BLANKS and buf[pos + 1] != "]":
                self.pos = pos + 1                  # the usual `,{` between rows, without a peek
                continue
            comma = self.mark()
            if self.take(","):
                if self.peek() == "]":
                    self.repairs.note("trailing comma", self.offset_of(comma))
                    self.pos += 1
                    return
                continue
            self.expect("]", f"after an item of {what}")
            return

    def _typed_lane(self) -> Iterator[tuple[None, int]]:
        """`items`' usual rows while `typed` settles them: each row up to the next `},{`, so the
        next one starts two characters on; what `_bounded_object` does for such a row, in a
        tight loop. Leaves at the first row it does not settle (or the window's end), for
        `items` to read as usual (a row cut at a `},{` inside it fails here, see `_bounded_object`)."""
        buf, pos, typed = self.buf, self.pos, self.typed
        settled = 0
        try:
            while buf.startswith("{", pos):
                end = buf.find("},{", pos)
                if end < 0:
                    return
                text = buf[pos:end + 1]
                made = typed(text)
                if made is None:
                    self._left = pos        # `_bounded_object` counts it, and does not try it again
                    return
                settled += 1
                self.text, self.made, self.pos = text, made, end + 2
                yield None, pos
                pos = end + 2
        finally:
            self._hits += settled
            self._typed_hits += settled
            self.text = self.made = None

    def key(self) -> str:
        """An object key and its colon."""
        if self.peek() != '"':
            raise SlowPath("expected an object key", self.offset())
        name, _ = self.value()
        self.expect(":", f"after the key {name!r}")
        return name

    def at_end(self) -> bool:
        """Only blanks are left."""
        return self.peek() == ""
