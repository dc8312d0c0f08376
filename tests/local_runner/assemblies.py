"""Stages synthesized as `make local` does it, for the tests that start the runner: made once
per test session and shared."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from local_runner.synth import synthesize

FIXTURE_ASSEMBLY = Path(__file__).resolve().parent / "fixture_assembly"

_root = Path(tempfile.mkdtemp(prefix="local-runner-tests-"))
atexit.register(shutil.rmtree, _root, ignore_errors=True)
_done: dict[str, Path] = {}
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def synthesized(*stages: str) -> list[Path]:
    """Each stage synthesized the way `make local` does it (no layer bundling), in parallel."""

    def one(stage: str) -> Path:
        with _locks[stage]:
            if stage not in _done:
                _done[stage] = synthesize(stage, _root / stage)
            return _done[stage]

    with ThreadPoolExecutor(max_workers=len(stages)) as pool:
        return list(pool.map(one, stages))
