"""A small version of `make load` (40 uploads, 8 clients, with feed pages, look-ups and
deletions among them) in every test run, run as a user runs it: no 5xx, every kept image
with its thumbnails, nothing left of a deleted one, nothing left in the queue or the DLQ, and
the runner stops cleanly afterwards. The full run's figures are in docs/RELIABILITY.md."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # starts the local runner (through the load test)
DEADLINE_S = 300


def test_forty_concurrent_uploads_all_end_with_thumbnails(
    dev_assembly: Path, tmp_path: Path
) -> None:
    out = tmp_path / "figures.json"
    command = [sys.executable, "-m", "loadtest", "--uploads", "40", "--clients", "8"]
    options = ["--settle-timeout", "90", "--assembly", str(dev_assembly), "--work", str(tmp_path)]
    load = subprocess.Popen(
        [*command, *options, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = load.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        # Ctrl-C, so the load test stops the runner it started; then no mercy.
        load.send_signal(signal.SIGINT)
        try:
            load.communicate(timeout=60)
        finally:
            load.kill()
            load.wait()
        pytest.fail(f"python -m loadtest did not finish in {DEADLINE_S} s")
    assert load.returncode == 0, f"{stderr}\n{stdout}"
    figures = json.loads(out.read_text())
    assert json.loads(stdout) == figures
    assert figures["statuses"] == {"201": 40}
    assert figures["server_errors"] == 0
    assert figures["deleted"] == 8  # uploads 3, 7, 13, 17, ...: one in five
    assert figures["other_statuses"]["delete"] == {"204": 8}
    assert set(figures["other_statuses"]["feed"]) == {"200"}
    assert figures["end_state_violations"] == []
    assert figures["thumbnails_ready"] == 32
    assert figures["thumbnails_missing"] == 0
    assert figures["final_queue_and_dlq_depth"] == [0, 0]
    assert figures["runner_exit_status"] == 0
