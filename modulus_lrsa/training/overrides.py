# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Command-line field selections that need no quoting.

Field selectors name vector components with brackets (``U[0,1]``), which Hydra's
override grammar reads as a nested list, so ``data.volume_fields=[U[0,1],p]`` (the
spelling the docs use) is a parse error and only ``'data.volume_fields=["U[0,1]",p]'``
works. :func:`quote_field_selectors` rewrites the ``*_fields`` overrides before Hydra
sees them, so all of these mean the same::

    data.volume_fields=[U[0,1],p]
    data.volume_fields=U[0,1],p
    'data.volume_fields=["U[0,1]","p"]'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# key=value overrides of a field list, with Hydra's optional +/++/~ prefix.
_FIELD_OVERRIDE = re.compile(r"^(?P<key>[+~]{0,2}[\w.]*_fields)=(?P<value>.*)$", re.S)
_EXAMPLE = "data.volume_fields='[U[0,1],p]'"


class FieldOverrideError(ValueError):
    """A ``*_fields`` override cannot be read as a list of field selectors."""


def _split_top_level(text: str, override: str) -> list[str]:
    """Split at commas outside brackets and quotes: ``U[0,1],p`` -> ``["U[0,1]", "p"]``."""
    shown = _shown(override)
    items, current, depth, quote = [], [], 0, None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise FieldOverrideError(f"{shown}: unbalanced ']'; write it as {_EXAMPLE}")
        elif char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if depth or quote:
        raise FieldOverrideError(f"{shown}: unbalanced brackets or quotes; write it as {_EXAMPLE}")
    items.append("".join(current).strip())
    # Empty items, quoted or not, select nothing: ``a,,b`` and ``''`` are lists without them.
    return [item for item in items if item not in ("", "''", '""')]


def _shown(argument: str) -> str:
    """The argument as typed, or escaped where it holds a line break or another control character."""
    return argument if argument.isprintable() else repr(argument)


def _quoted(item: str) -> str:
    """``item`` as a double-quoted Hydra string (one plainly quoted already stays as it is).

    In Hydra's quoted strings a backslash escapes only a quote or the backslashes before
    one, so those are doubled and each quote escaped.
    """
    # Quoted already, and plainly: no escapes, and no inner quote that could end it early.
    if len(item) >= 2 and item[:1] in "'\"" and item[-1:] == item[:1] and not set(item[1:-1]) & {"\\", item[0]}:
        return item
    body = re.sub(r'(\\*)"', lambda match: match.group(1) * 2 + '\\"', item)
    body = re.sub(r"(\\+)$", lambda match: match.group(1) * 2, body)
    return f'"{body}"'


def quote_field_selectors(arguments: Sequence[str]) -> list[str]:
    """The command line with every ``*_fields=...`` override written as a quoted Hydra list.

    Raises
    ------
    FieldOverrideError
        A field list with unbalanced brackets or quotes; the one-line message shows the
        working spelling.
    """
    rewritten = []
    for argument in arguments:
        match = _FIELD_OVERRIDE.match(argument)
        if match is None or match.group("key").startswith("~"):
            rewritten.append(argument)
            continue
        value = match.group("value").strip()
        if value in ("", "null") or (value.startswith("${") and value.endswith("}")):
            rewritten.append(argument)
            continue
        # [a,b] is a list literal; a,b or a single selector is the list of its items.
        body = value[1:-1] if value.startswith("[") and value.endswith("]") and _is_one_list(value) else value
        items = _split_top_level(body, argument)
        rewritten.append(f"{match.group('key')}=[{','.join(_quoted(item) for item in items)}]")
    return rewritten


def _is_one_list(value: str) -> bool:
    """``[U[0,1],p]`` is one bracketed list; ``U[0],p[0]`` only starts and ends like one."""
    depth = 0
    for position, char in enumerate(value):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0:
            return position == len(value) - 1
    return False
