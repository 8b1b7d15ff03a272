# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Completeness checks of VTK and STL files, made before VTK's readers see them.

VTK's readers accept much damaged input without an error:

* the legacy reader fills a short ASCII array with whatever it finds, only warns about
  a short binary array, and a file cut between two sections simply ends, so a
  truncated ``.vtk`` reads "successfully" with garbage or missing arrays.
  :func:`check_legacy_vtk` walks its sections (format versions 2.x to 5.x, ASCII and
  BINARY) and checks that every declared block holds exactly the number of values its
  header promises, that no unknown keyword appears and that the file ends where its
  last block ends;
* the XML readers skip characters that are not base64 inside inline binary arrays,
  which shifts every later value. :func:`check_xml_inline_data` rejects them;
* a cut XML file fails in VTK's parser, but read through a ``.vtm`` the message names
  the ``.vtm`` with a line of the cut piece. :func:`check_xml_closed` names the piece;
* the STL reader parses a truncated file as fewer or garbage triangles.
  :func:`check_stl_length` compares the file with its declared size.

Bytes that change a value into another valid value (a flipped digit or bit of an
uncompressed payload) cannot be detected: these formats carry no checksums.
"""

from __future__ import annotations

import mmap
import re
from pathlib import Path

import numpy as np

from modulus_lrsa.errors import CorruptFileError

_TYPE_SIZES = {
    "bit": 1, "unsigned_char": 1, "char": 1, "unsigned_short": 2, "short": 2,
    "unsigned_int": 4, "int": 4, "unsigned_long": 8, "long": 8, "float": 4, "double": 8,
    "vtktypeint64": 8, "vtktypeuint64": 8, "vtkidtype": 4,
}
_NUMBER = re.compile(rb"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?(?:nan|inf|infinity)$", re.I)


class _Cursor:
    """Reads lines and value blocks of a legacy file, raising on anything short or malformed."""

    def __init__(self, data: mmap.mmap | bytes, binary: bool, source: Path) -> None:
        self.data, self.binary, self.source, self.pos = data, binary, source, 0

    def fail(self, message: str) -> None:
        raise CorruptFileError(f"{self.source}: {message} (truncated or corrupt legacy VTK file?)")

    def line(self) -> bytes | None:
        """The next non-blank line, or None at the end of the file."""
        while self.pos < len(self.data):
            end = self.data.find(b"\n", self.pos)
            end = len(self.data) if end < 0 else end
            text = self.data[self.pos : end].strip()
            self.pos = end + 1
            if text:
                return text
        return None

    def values(self, count: int, type_name: str, what: str, integers: bool = False) -> np.ndarray | None:
        """Skip one block of ``count`` values of ``type_name``, checking it is complete.

        With ``integers``, also return the block as int64 (cell structures, whose ids VTK
        uses without a bounds check).
        """
        size = _TYPE_SIZES.get(type_name.lower())
        if size is None:
            self.fail(f"{what} has unknown data type '{type_name}'")
        if self.binary:
            end = self.pos + count * size
            if end > len(self.data):
                self.fail(f"{what} declares {count} {type_name} values ({count * size} bytes) "
                          f"but the file ends {end - len(self.data)} bytes short")
            block = self.data[self.pos : end]
            self.pos = end
            # Legacy binary is big-endian.
            return np.frombuffer(block, dtype=f">i{size}").astype(np.int64) if integers else None
        tokens_kept: list[bytes] = []
        seen = 0
        while seen < count:
            start = self.pos
            line = self.line()
            if line is None:
                self.fail(f"{what} declares {count} values but the file ends after {seen}")
            tokens = line.split()
            if seen + len(tokens) > count:
                # The block ended mid-line: what follows must be the next keyword.
                self.pos = start
                self.fail(f"{what} declares {count} values but {seen + len(tokens)} are listed")
            bad = next((token for token in tokens if not _NUMBER.match(token)), None)
            if bad is not None:
                self.fail(f"{what} holds '{bad.decode(errors='replace')}', which is not a number")
            seen += len(tokens)
            if integers:
                tokens_kept.extend(tokens)
        if not integers:
            return None
        try:
            return np.array([int(token) for token in tokens_kept], dtype=np.int64)
        except ValueError:
            self.fail(f"{what} holds a value that is not an integer")


def _integer(cursor: _Cursor, text: bytes, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        cursor.fail(f"{what} is '{text.decode(errors='replace')}', not a count")
    if value < 0:
        cursor.fail(f"{what} is negative ({value})")
    return value


def _fields(cursor: _Cursor, header: list[bytes]) -> None:
    if len(header) < 3:
        cursor.fail(f"malformed FIELD line '{b' '.join(header).decode(errors='replace')}'")
    for _ in range(_integer(cursor, header[2], "the FIELD array count")):
        line = cursor.line()
        if line is None:
            cursor.fail(f"FIELD '{header[1].decode(errors='replace')}' lists fewer arrays than declared")
        parts = line.split()
        if parts[0] == b"NULL_ARRAY":
            continue
        if len(parts) != 4:
            cursor.fail(f"malformed FIELD array line '{line.decode(errors='replace')}'")
        name = parts[0].decode(errors="replace")
        components = _integer(cursor, parts[1], f"the component count of array '{name}'")
        tuples = _integer(cursor, parts[2], f"the tuple count of array '{name}'")
        cursor.values(components * tuples, parts[3].decode(), f"FIELD array '{name}'")
        _skip_metadata(cursor)


def _skip_to_blank_line(cursor: _Cursor) -> None:
    while cursor.pos < len(cursor.data):
        end = cursor.data.find(b"\n", cursor.pos)
        end = len(cursor.data) if end < 0 else end
        blank = not cursor.data[cursor.pos : end].strip()
        cursor.pos = end + 1
        if blank:
            return


def _skip_metadata(cursor: _Cursor) -> None:
    """VTK >= 9 may follow an array with a METADATA block that ends at a blank line."""
    saved = cursor.pos
    if cursor.line() == b"METADATA":
        _skip_to_blank_line(cursor)
    else:
        cursor.pos = saved


_INLINE_BINARY = re.compile(rb"<DataArray\b([^>]*)>([^<]*)<")  # payload, before any InformationKey child
# Whole 4-character groups, padded ones included: VTK may concatenate a separately
# encoded header and payload. A deleted, added or foreign character breaks the grouping.
_BASE64_GROUPS = re.compile(rb"(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)*")
_WHITESPACE = re.compile(rb"\s+")


def check_xml_closed(path: str | Path) -> None:
    """Raise :class:`CorruptFileError` when an XML VTK file does not end with ``</VTKFile>`` (cut short)."""
    source = Path(path)
    with source.open("rb") as handle:
        handle.seek(max(0, source.stat().st_size - 64))
        tail = handle.read().rstrip()
    if not tail.endswith(b"</VTKFile>"):
        raise CorruptFileError(f"{source}: XML VTK file does not end with </VTKFile> (truncated file?)")


def check_xml_inline_data(path: str | Path) -> None:
    """Raise :class:`CorruptFileError` when an inline binary array of an XML VTK file is not base64."""
    source = Path(path)
    with source.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for match in _INLINE_BINARY.finditer(data):
            attributes, content = match.groups()
            if not re.search(rb"format=['\"]binary['\"]", attributes):
                continue
            if not _BASE64_GROUPS.fullmatch(_WHITESPACE.sub(b"", content)):
                name = re.search(rb"Name=['\"]([^'\"]*)['\"]", attributes)
                label = name.group(1).decode(errors="replace") if name else "?"
                raise CorruptFileError(
                    f"{source}: inline binary array '{label}' (byte {match.start(2)}) is not valid "
                    "base64 (a character is missing, added or foreign: corrupt file?)"
                )


def check_stl_length(source: Path) -> None:
    """Reject truncated STL files, which vtkSTLReader may silently parse as garbage triangles."""
    size = source.stat().st_size
    with source.open("rb") as handle:
        head = handle.read(512)
        handle.seek(max(0, size - 512))
        tail = handle.read()
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if text.lstrip().lower().startswith(b"solid") and b"facet" in text.lower():
        # VTK's reader takes an ASCII STL by its lower-case keywords at the very start; else it parses binary garbage.
        if text is not head:
            raise CorruptFileError(f"{source}: ASCII STL starts with a UTF-8 byte-order mark, which the STL reader does "
                                   "not take; save it without the mark (plain ASCII)")
        if not text.lstrip().startswith(b"solid") or b"facet" not in text:
            raise CorruptFileError(f"{source}: ASCII STL with upper-case keywords ('SOLID', 'FACET'); the STL reader "
                                   "takes them in lower case only: re-export it, or lower-case the keywords")
        if b"endsolid" not in tail.lower():
            raise CorruptFileError(f"{source}: ASCII STL does not end with 'endsolid' (truncated file?)")
        return
    if size < 84:
        raise CorruptFileError(f"{source}: binary STL shorter than its 84-byte header ({size} bytes)")
    triangles = int.from_bytes(head[80:84], "little")
    if size != 84 + 50 * triangles:
        raise CorruptFileError(
            f"{source}: binary STL declares {triangles} triangles ({84 + 50 * triangles} bytes) "
            f"but has {size} bytes (truncated or corrupt file?)"
        )


def _cell_point_ids(cursor: _Cursor, block: np.ndarray, n_cells: int, keyword: str) -> np.ndarray:
    """The point ids of a format 2.x cell block (``n, id_1 .. id_n`` per cell), checking its structure."""
    ids, position = [], 0
    for _ in range(n_cells):
        if position >= block.size or block[position] < 0 or position + 1 + block[position] > block.size:
            cursor.fail(f"{keyword}: the {n_cells} cells do not fit the {block.size} values declared")
        size = int(block[position])
        ids.append(block[position + 1 : position + 1 + size])
        position += 1 + size
    if position != block.size:
        cursor.fail(f"{keyword}: {block.size - position} values are left over after the {n_cells} cells")
    return np.concatenate(ids) if ids else block[:0]


def check_legacy_vtk(path: str | Path) -> None:
    """Raise :class:`CorruptFileError` unless the legacy VTK file at ``path`` is complete.

    Raises
    ------
    CorruptFileError
        A block holds fewer (or, in ASCII, more) values than its header declares, a
        keyword is unknown, a count is malformed or the file ends inside a block.
    """
    source = Path(path)
    with source.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        _check(data, source)


def _check(data: mmap.mmap, source: Path) -> None:
    cursor = _Cursor(data, binary=False, source=source)
    if not data[:64].startswith(b"# vtk DataFile Version"):
        cursor.fail("does not start with '# vtk DataFile Version'")
    end = data.find(b"\n")
    cursor.pos = end + 1
    end = data.find(b"\n", cursor.pos)  # the title line may be blank
    cursor.pos = (end + 1) if end >= 0 else len(data)
    encoding = cursor.line()
    if encoding not in (b"ASCII", b"BINARY"):
        cursor.fail(f"third line must be ASCII or BINARY, got {encoding!r}")
    cursor.binary = encoding == b"BINARY"
    if not cursor.binary and not data[-1:].isspace():
        cursor.fail("ASCII file does not end with a line break: its last value may be cut")
    attribute_count = n_points = 0
    while (line := cursor.line()) is not None:
        parts = line.split()
        keyword = parts[0].upper().decode(errors="replace")
        text = line.decode(errors="replace")

        def count(index: int, parts: list[bytes] = parts, text: str = text) -> int:
            if len(parts) <= index:
                cursor.fail(f"'{text}' lacks a count")
            return _integer(cursor, parts[index], f"the count in '{text}'")

        if keyword == "DATASET" or keyword in ("DIMENSIONS", "ORIGIN", "SPACING", "ASPECT_RATIO"):
            continue
        if keyword == "FIELD":
            _fields(cursor, parts)
        elif keyword == "POINTS":
            n_points = count(1)
            cursor.values(3 * n_points, parts[2].decode() if len(parts) > 2 else "?", "POINTS")
            _skip_metadata(cursor)
        elif keyword in ("X_COORDINATES", "Y_COORDINATES", "Z_COORDINATES"):
            cursor.values(count(1), parts[2].decode() if len(parts) > 2 else "?", keyword)
        elif keyword in ("CELLS", "VERTICES", "LINES", "POLYGONS", "TRIANGLE_STRIPS"):
            first, second = count(1), count(2)
            saved = cursor.pos
            following = cursor.line()
            if following is not None and following.startswith(b"OFFSETS"):
                # Format 5.x: OFFSETS (first values) then CONNECTIVITY (second values).
                offsets = cursor.values(first, following.split()[1].decode(), f"{keyword} offsets", integers=True)
                connectivity = cursor.line()
                if connectivity is None or not connectivity.startswith(b"CONNECTIVITY"):
                    cursor.fail(f"{keyword} offsets are not followed by CONNECTIVITY")
                ids = cursor.values(second, connectivity.split()[1].decode(), f"{keyword} connectivity", integers=True)
                if offsets.size and (offsets[0] != 0 or offsets[-1] != ids.size or np.any(np.diff(offsets) < 0)):
                    cursor.fail(f"{keyword} offsets do not run from 0 up to the {ids.size} connectivity entries")
            else:
                cursor.pos = saved
                ids = _cell_point_ids(cursor, cursor.values(second, "int", keyword, integers=True), first, keyword)
            # VTK indexes the points with these ids unchecked: an id out of range crashes it.
            if ids.size and (ids.min() < 0 or ids.max() >= n_points):
                cursor.fail(f"{keyword} refer to point ids outside 0..{n_points - 1}")
        elif keyword == "CELL_TYPES":
            cursor.values(count(1), "int", "CELL_TYPES")
        elif keyword in ("POINT_DATA", "CELL_DATA"):
            attribute_count = count(1)
        elif keyword == "SCALARS":
            components = _integer(cursor, parts[3], f"the component count in '{text}'") if len(parts) > 3 else 1
            saved = cursor.pos
            table = cursor.line()
            if table is None or not table.startswith(b"LOOKUP_TABLE"):
                cursor.pos = saved
            cursor.values(attribute_count * components, parts[2].decode() if len(parts) > 2 else "?",
                          f"SCALARS '{parts[1].decode(errors='replace')}'")
            _skip_metadata(cursor)
        elif keyword == "COLOR_SCALARS":
            kind = "unsigned_char" if cursor.binary else "float"
            cursor.values(attribute_count * count(2), kind, "COLOR_SCALARS")
        elif keyword == "LOOKUP_TABLE":
            kind = "unsigned_char" if cursor.binary else "float"
            cursor.values(4 * count(2), kind, "LOOKUP_TABLE")
        elif keyword in ("VECTORS", "NORMALS", "TENSORS", "TENSORS6", "TEXTURE_COORDINATES"):
            width = {"VECTORS": 3, "NORMALS": 3, "TENSORS": 9, "TENSORS6": 6}.get(keyword)
            type_index = 2
            if keyword == "TEXTURE_COORDINATES":
                width, type_index = count(2), 3
            if len(parts) <= type_index:
                cursor.fail(f"'{text}' lacks a data type")
            cursor.values(attribute_count * width, parts[type_index].decode(),
                          f"{keyword} '{parts[1].decode(errors='replace')}'")
            _skip_metadata(cursor)
        elif keyword == "METADATA":
            _skip_to_blank_line(cursor)
        else:
            cursor.fail(f"unknown keyword '{text[:40]}' at byte {cursor.pos}")
