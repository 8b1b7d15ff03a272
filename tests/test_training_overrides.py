# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
"""Field selections on the command line: the docs' spelling and an unquoted one both work."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from modulus_lrsa.training.overrides import FieldOverrideError, quote_field_selectors

EXPECTED = ["U[0,1]", "p"]


def _parsed_value(argument: str):
    (override,) = OverridesParser.create().parse_overrides([argument])
    return override.value()


@pytest.mark.parametrize(
    "spelling",
    [
        "data.volume_fields=[U[0,1],p]",  # the docs' spelling
        "data.volume_fields=U[0,1],p",  # no brackets, no quotes
        'data.volume_fields=["U[0,1]",p]',  # Hydra's own quoting still works
        "data.volume_fields=['U[0,1]','p']",
        "+data.volume_fields=[ U[0,1] , p ]",
    ],
)
def test_every_spelling_reaches_hydra_as_the_same_list(spelling):
    (rewritten,) = quote_field_selectors([spelling])
    assert _parsed_value(rewritten) == EXPECTED


def test_a_single_selector_becomes_a_one_element_list_and_other_overrides_are_untouched():
    arguments = ["data.surface_fields=wallShearStress[0,1]", "training.epochs=3", "model=transolver",
                 "data.surface_fields=[]", "data.surface_fields=null"]
    rewritten = quote_field_selectors(arguments)
    assert _parsed_value(rewritten[0]) == ["wallShearStress[0,1]"]
    assert rewritten[1:] == ["training.epochs=3", "model=transolver", "data.surface_fields=[]", "data.surface_fields=null"]


def test_unbalanced_brackets_show_the_working_spelling():
    with pytest.raises(FieldOverrideError, match=r"data.volume_fields=\[U\[0,1\],p: unbalanced.*data.volume_fields='\[U\[0,1\],p\]'"):
        quote_field_selectors(["data.volume_fields=[U[0,1],p"])
