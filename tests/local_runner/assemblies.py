"""Stages synthesized as `make local` does it, for the tests that start the runner: made once
per test session and shared."""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from local_runner.synth import synthesize

FIXTURE_ASSEMBLY = Path(__file__).resolve().parent / "fixture_assembly"

_root = Path(tempfile.mkdtemp(prefix="local-runner-tests-"))
atexit.register(shutil.rmtree, _root, ignore_errors=True)
_done: dict[str, Path] = {}
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def synthesized(*stages: str, **changes: Any) -> list[Path]:
    """Each stage synthesized the way `make local` does it (no layer bundling), in parallel;
    with `changes` made to every one's settings (a variant, synthesized apart)."""
    variant = json.dumps(changes, sort_keys=True) if changes else ""

    def one(stage: str) -> Path:
        key = f"{stage}{variant}"
        with _locks[key]:
            if key not in _done:
                suffix = hashlib.sha256(variant.encode()).hexdigest()[:8] if variant else ""
                folder = _root / f"{stage}{'-' if suffix else ''}{suffix}"
                _done[key] = synthesize(stage, folder, changes=changes)
            return _done[key]

    with ThreadPoolExecutor(max_workers=len(stages)) as pool:
        return list(pool.map(one, stages))
