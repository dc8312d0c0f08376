"""How hard the property tests try: every example under `make test`, a quarter of them in the
fast loop (`make test-fast` sets TESTS_FAST=1), which must stay under a minute."""

from __future__ import annotations

import os

FAST = os.environ.get("TESTS_FAST") == "1"


def examples(full: int) -> int:
    """Hypothesis's `max_examples` for a test that tries `full` examples in the whole suite."""
    return max(10, full // 4) if FAST else full
