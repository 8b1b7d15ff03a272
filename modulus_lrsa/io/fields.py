# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Field selectors, channel names and channel layouts: how named fields become array columns.

A *selector* names a field and optionally some of its components: ``"p"``, ``"U"``
(every component), ``"U[0]"``, ``"U[0,1]"``. A *channel* is one column of an array:
``"p"`` for a scalar, ``"U[0]"``, ``"U[1]"`` for the components of a vector. A *layout*
is the ordered list of channels of an array; the targets of a model put the volume
channels first, then the surface channels not already among them.

Everything that parses ``name[i]`` or moves columns between layouts lives here, so the
cache, the datasets, the force integration and the VTK writers agree on the names.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Where a field lives on a mesh: at cell centres or at mesh points.
FIELD_LOCATIONS = ("cell", "point")


@dataclass(frozen=True)
class FieldSelector:
    """A field name with an optional subset of its components.

    Parsed from ``"p"`` (all components), ``"U[0]"`` or ``"U[0,1]"``.
    """

    name: str
    components: tuple[int, ...] | None = None

    _PATTERN = re.compile(r"^\s*([^\[\]]+?)\s*(?:\[\s*([0-9,\s]+)\s*\])?\s*$")

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        """Parse ``"name"`` or ``"name[i,j,...]"``."""
        match = cls._PATTERN.match(text)
        if match is None:
            raise ValueError(
                f"field selector {text!r} is not understood; use 'name' or 'name[i]' or 'name[i,j]'"
            )
        name, component_text = match.group(1), match.group(2)
        if component_text is None:
            return cls(name=name)
        components = tuple(int(part) for part in component_text.split(",") if part.strip())
        if not components:
            raise ValueError(f"field selector {text!r} lists no component")
        return cls(name=name, components=components)

    def __str__(self) -> str:
        if self.components is None:
            return self.name
        return f"{self.name}[{','.join(map(str, self.components))}]"

    def channel_names(self, n_components: int) -> list[str]:
        """Names of the selected channels: ``p`` for scalars, ``U[0]``, ``U[1]`` for vectors."""
        components = self.components if self.components is not None else tuple(range(n_components))
        if n_components == 1 and self.components is None:
            return [self.name]
        return [f"{self.name}[{c}]" for c in components]


def field_of(channel: str) -> str:
    """The field a channel belongs to: ``"U[1]"`` -> ``"U"``, ``"p"`` -> ``"p"``."""
    return FieldSelector.parse(channel).name


def channels_of(field: str, channels: Sequence[str]) -> list[str]:
    """The channels of ``field`` among ``channels``: ``"tau"`` itself or ``"tau[0]"``, ``"tau[1]"``."""
    return [name for name in channels if field_of(name) == field]


def group_channels(channels: Sequence[str]) -> OrderedDict[str, list[int]]:
    """Columns of each field: ``["U[0]", "U[1]", "p"]`` -> ``{"U": [0, 1], "p": [2]}``."""
    groups: OrderedDict[str, list[int]] = OrderedDict()
    for column, name in enumerate(channels):
        groups.setdefault(field_of(name), []).append(column)
    return groups


def target_layout(volume_channels: Sequence[str], surface_channels: Sequence[str]) -> list[str]:
    """Target columns: volume channels, then surface channels not already among them."""
    return list(volume_channels) + [name for name in surface_channels if name not in volume_channels]


def columns_in(layout: Sequence[str], channels: Sequence[str]) -> list[int]:
    """Column of each of ``channels`` in ``layout``."""
    layout = list(layout)
    return [layout.index(name) for name in channels]


def place_channels(values: np.ndarray, channels: Sequence[str], layout: Sequence[str], dtype=np.float64) -> np.ndarray:
    """``values`` (N, len(channels)) laid out as ``layout``, NaN in the columns it lacks.

    Channels not in ``layout`` are dropped.
    """
    placed = np.full((values.shape[0], len(layout)), np.nan, dtype=dtype)
    for column, name in enumerate(channels):
        if name in layout:
            placed[:, list(layout).index(name)] = values[:, column]
    return placed
