"""A small version of `make load` (40 uploads, 8 clients) in every test run: no 5xx, every
thumbnail made, nothing left in the queue or the DLQ. The full run's figures are in
docs/RELIABILITY.md."""

from __future__ import annotations

from loadtest.load import run
from tests.hostile.local_service import LocalService


def test_forty_concurrent_uploads_all_end_with_thumbnails(service: LocalService) -> None:
    report = run(service, uploads=40, clients=8, settle_timeout_s=90)
    assert report.statuses == {201: 40}
    assert report.missing_thumbnails == []
    assert report.final_depths == (0, 0)
    assert len(report.ready_s) == 40
    assert service.alive()
