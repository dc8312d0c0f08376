"""Runs in a fresh process started by the suite: timings of several cases, or one case's memory.

`python -m bench.child time <input> <rounds> <case>...` interleaves the cases round-robin
(after one warm-up call each), so load from other processes on a shared machine hits every case
alike; it reports CPU time (what a single-threaded render costs, largely unaffected by other
processes) and wall time per call.

`python -m bench.child memory <input> <case>` renders once and reports the peak RSS: absolute,
and above the baseline taken after the imports and after reading the input
(VmHWM of the process).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

# Before pyvips loads libvips: one worker thread, like the single-threaded Pillow cases.
os.environ.setdefault("VIPS_CONCURRENCY", "1")


def pin_to_one_cpu() -> int:
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[-1]
    os.sched_setaffinity(0, {cpu})
    return cpu


def rss_kb() -> int:
    """Peak RSS of this process so far, in kB.

    VmHWM, not `ru_maxrss`: Linux carries `ru_maxrss` across exec, so a child started by a
    large parent would report the parent's size. VmHWM belongs to the new address space.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def time_cases(path: Path, rounds: int, names: list[str]) -> dict[str, object]:
    from bench.cases import outputs, prepare

    pin_to_one_cpu()
    renders = {name: prepare(name) for name in names}
    data = path.read_bytes()
    sizes: dict[str, dict[str, int]] = {}
    for name, render in renders.items():  # warm-up: caches, lazy imports inside libraries
        result = render(data)
        try:
            sizes[name] = {k: len(v) for k, v in outputs(result).items()}
        except TypeError:
            sizes[name] = {}  # the floors return pixels, not files
    cpu: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(rounds):
        for name, render in renders.items():
            c0, w0 = time.process_time(), time.perf_counter()
            render(data)
            cpu[name].append((time.process_time() - c0) * 1000)
            wall[name].append((time.perf_counter() - w0) * 1000)
    return {"cpu_ms": cpu, "wall_ms": wall, "output_bytes": sizes}


def measure_memory(path: Path, name: str) -> dict[str, float]:
    from bench.cases import prepare

    render = prepare(name)
    data = path.read_bytes()
    baseline = rss_kb()
    start = time.perf_counter()
    render(data)
    once_ms = (time.perf_counter() - start) * 1000
    return {"baseline_kb": baseline, "peak_kb": rss_kb(), "once_ms": round(once_ms, 1)}


def main(argv: list[str]) -> None:
    command, path = argv[0], Path(argv[1])
    if command == "time":
        result: object = time_cases(path, int(argv[2]), argv[3:])
    elif command == "memory":
        result = measure_memory(path, argv[2])
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
