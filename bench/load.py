"""Load through the local runner: upload-to-thumbnail-ready latency and sustained uploads/s.

Starts `python -m local_runner --stage dev` on 127.0.0.1 (through local_runner.harness, on a
port it picks), uploads the same image many times (bounded counts), and for each upload polls
the default rendition until it answers 200. Latency is from the start of the POST to the first
200 (polled every 50 ms, so figures carry up to 50 ms of polling granularity). Everything runs
on this machine: the runner, its emulator and the clients share its cores.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from local_runner import harness

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.05
READY_DEADLINE = 180.0  # the runner synthesizes the app before it listens
THUMBNAIL_DEADLINE = 120.0
RunnerUnavailable = harness.RunnerError  # the runner exited or did not get ready in time


@dataclass
class Phase:
    clients: int
    uploads: int
    latencies_ms: list[float]
    failures: list[str]
    seconds: float

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds


def runner_available() -> str | None:
    """None when the runner can be started, else why not."""
    if not (ROOT / "local_runner" / "__main__.py").exists():
        return "local_runner/__main__.py does not exist yet"
    return None


def _one_upload(base: str, image: bytes) -> float:
    import requests

    with requests.Session() as http:
        start = time.perf_counter()
        response = http.post(
            f"{base}/upload",
            data=image,
            headers={"Content-Type": "image/jpeg", "X-Filename": "bench.jpg"},
            timeout=60,
        )
        if response.status_code != 201:
            raise RuntimeError(f"upload answered {response.status_code}: {response.text[:200]}")
        thumbnail = f"{base}{response.json()['links']['thumbnail']}"
        deadline = time.monotonic() + THUMBNAIL_DEADLINE
        while time.monotonic() < deadline:
            got = http.get(thumbnail, timeout=30)
            if got.status_code == 200:
                return (time.perf_counter() - start) * 1000
            if got.status_code != 404 or "ThumbnailPending" not in got.text:
                raise RuntimeError(f"thumbnail answered {got.status_code}: {got.text[:200]}")
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"thumbnail not ready within {THUMBNAIL_DEADLINE:.0f} s")


def run_phase(base: str, image: bytes, clients: int, uploads: int) -> Phase:
    latencies: list[float] = []
    failures: list[str] = []
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(_one_upload, base, image) for _ in range(uploads)]
        for future in futures:
            try:
                latencies.append(future.result())
            except Exception as exc:  # each failure is counted and reported
                failures.append(str(exc))
    return Phase(clients, uploads, latencies, failures, time.perf_counter() - start)


def measure(image_path: Path, plan: list[tuple[int, int]], log_path: Path) -> list[Phase]:
    with harness.start("--stage", "dev", log=log_path, timeout_s=READY_DEADLINE) as runner:
        image = image_path.read_bytes()
        run_phase(runner.url, image, 1, 2)  # warm-up: first imports and connections
        return [run_phase(runner.url, image, c, n) for c, n in plan]


def summary(phase: Phase) -> dict[str, float]:
    if not phase.latencies_ms:
        return {}
    return {
        "p50": statistics.median(phase.latencies_ms),
        "p95": phase.percentile(95),
        "max": max(phase.latencies_ms),
        "per_second": phase.per_second,
    }
