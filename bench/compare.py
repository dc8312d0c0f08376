"""Engine A/B: `imaging.py` at a git revision against the working tree, in one process.

    python -m bench.compare <rev> [input ...]     (ROUNDS=n, default 9)

Interleaves both engines (default rendition, then every default rendition) with the floor
round-robin on one pinned core, like `bench.child`, and prints CPU-time medians, each as a
ratio to the floor of the same run, plus the SSIM and size of every thumbnail and a check that
each engine gives the same bytes twice. Inputs are the cached generated ones
(run `make bench` or `QUICK=1 make bench` once first) or paths.
"""

from __future__ import annotations

import importlib.util
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import cases, inputs, quality

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUTS = (
    "png-photo-2mp.png",
    "png-photo-rgba-2mp.png",
    "gif-photo-6mp.gif",
    "heic-12mp.heic",
    "avif-12mp.avif",
    "jpeg-2mp.jpg",
    "jpeg-12mp.jpg",
    "png-rgb-3mp.png",
    "png-rgba-3mp.png",
    "gif-anim-0.5mp.gif",
    "webp-12mp.webp",
)


def _engine_at(rev: str, into: Path) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:lambda_src/image_service/imaging.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = into / "imaging_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("imaging_at_rev", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def _floor(data: bytes, jpeg: bool) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    if jpeg:
        image.draft("RGB", cases.THUMB_BOX)
    image.load()


def _compare(
    path: Path, engines: dict[str, ModuleType], scopes: dict[str, list[Any]], rounds: int
) -> None:
    data = path.read_bytes()
    limit = cases.MAX_IMAGE_PIXELS
    runs: dict[str, Callable[[], Any]] = {
        "floor": partial(_floor, data, data.startswith(b"\xff\xd8")),
    }
    for label, engine in engines.items():
        for scope, wanted in scopes.items():
            runs[f"{label}/{scope}"] = partial(
                engine.render_renditions, data, wanted, max_pixels=limit
            )
    for run in runs.values():
        run()  # warm-up
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            start = time.process_time()
            run()
            cpu[key].append((time.process_time() - start) * 1000)
    median = {k: statistics.median(v) for k, v in cpu.items()}
    floor = median["floor"]
    print(f"{path.name}: floor {floor:.1f} ms")
    for key in list(runs)[1:]:
        print(f"  {key:24s} {median[key]:7.1f} ms  {median[key] / floor:.2f}x floor")
    for label, engine in engines.items():
        out = engine.render_renditions(data, scopes["all"], max_pixels=limit)
        again = engine.render_renditions(data, scopes["all"], max_pixels=limit)
        same = all(out[k].body == again[k].body for k in out)
        scores = ", ".join(
            f"{k} SSIM {quality.score(str(path), cases.RENDITIONS[k], v.body):.4f} "
            f"{len(v.body)} B {v.content_type}"
            for k, v in out.items()
        )
        print(f"  {label:24s} {scores}{'' if same else '  NOT DETERMINISTIC'}")
    quality.forget()


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    rev, names = argv[0], argv[1:] or list(DEFAULT_INPUTS)
    rounds = int(os.environ.get("ROUNDS", "9"))
    cases.engine_module()  # puts lambda_src on sys.path
    from image_service import contract
    from image_service import imaging as current

    renditions = list(contract.renditions_from_json(cases.renditions_json()))
    scopes = {"one": renditions[:1], "all": renditions}
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    with tempfile.TemporaryDirectory() as tmp:
        engines = {rev: _engine_at(rev, Path(tmp)), "tree": current}
        for name in names:
            path = Path(name) if Path(name).exists() else inputs.CACHE / name
            _compare(path, engines, scopes, rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
