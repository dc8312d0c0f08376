"""Each operation makes the fewest AWS calls the design needs (counted by bench.calls)."""

from __future__ import annotations

from bench import calls


def test_every_operation_makes_exactly_its_minimum_of_calls() -> None:
    measured = calls.measure()
    assert measured == calls.MINIMUM
