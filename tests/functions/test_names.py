"""Ids and the name grammar: the only shape a client-supplied name may have."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from image_service import names

ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def test_ids_are_ulids_that_sort_by_time() -> None:
    earlier, later = names.new_id(now_ms=1_700_000_000_000), names.new_id(now_ms=1_700_000_000_001)
    assert ULID.fullmatch(earlier)
    assert ULID.fullmatch(later)
    assert earlier < later
    assert names.new_id(now_ms=0).startswith("0000000000")  # 10 chars of timestamp


def test_ids_carry_80_random_bits() -> None:
    ids = {names.new_id(now_ms=1) for _ in range(2000)}
    assert len(ids) == 2000
    # The last 16 characters are 80 random bits: every position takes many values.
    for position in range(10, 26):
        assert len({i[position] for i in ids}) > 20


def test_every_generated_name_is_valid() -> None:
    for ext in names.EXTENSIONS:
        name = f"{names.new_id()}.{ext}"
        assert names.valid_name(name) == name
        assert names.name_from_original_key(f"originals/{name}") == name


@given(st.text(max_size=80))
def test_nothing_outside_the_grammar_is_ever_accepted(raw: str) -> None:
    name = names.valid_name(raw)
    assert name is None or names.NAME.fullmatch(name)
