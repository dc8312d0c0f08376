"""Widths on demand: renders from the intermediate the worker stores, the encoders and
qualities they use, and what making the intermediate and the placeholder costs the worker.

    python -m bench.derive '<json plan>'     (prints JSON; `make bench` part `derive` writes
                                             the tables: `tables()`)

Runs in its own process pinned to one core; every timing calls each case once to warm up,
then interleaves the cases round-robin and takes the median CPU time per call.

- renders: each ladder width in each format from a photo's intermediate, against the full
  decode of that intermediate and against the DCT-scaled decode the render itself does.
- encoders: at 320, 640 and 1280 px, the render's pixels before encoding are the reference;
  JPEG q82 (the engine's quality) sets the SSIM to reach, and the lowest WebP quality
  (methods 2 and 4) and AVIF quality (speeds 8, 9, 10, one thread) that reach it are found by
  bisection; bytes and CPU time per encode at those qualities, and at the engine's settings.
- intermediate: its JPEG quality. Per quality: bytes, decode time, and per width the SSIM of
  a render made from it against the same render made from the original (pixels, before the
  render's own encoding), and how much SSIM against a Lanczos resize of the full decode the
  render loses once both are JPEG q82. Also without the decode margin (RENDER_DRAFT_MARGIN).
- worker: the worker's whole render of an original (no AWS calls): today's renditions with
  their WebP variants, against the intermediate with the renditions (with and without WebP
  variants) and the intermediate alone; against the JPEG draft floor and the full decode.
- placeholder: ThumbHash of the intermediate: the box reduction, the engine's encoder at 32
  and 100 px, the `thumbhash` package (PyPI) at the same sizes, and how far the picture the
  32 px hash decodes to is from the 100 px one's.
"""

from __future__ import annotations

import functools
import io
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from bench import cases, child

WIDTHS = (160, 320, 480, 640, 960, 1280, 1920, 2560)
LARGEST = WIDTHS[-1]
FORMATS = ("avif", "webp", "jpeg")
MATCH_WIDTHS = (320, 640, 1280)
AVIF_SPEEDS = (8, 9, 10)
WEBP_METHODS = (2, 4)
INTERMEDIATE_QUALITIES = (85, 88, 90, 92, 95)
SSIM_WIDTHS = (320, 640, 1280, 1920, 2560)
JPEG_QUALITY = 82
GOAL = 1.5  # render at GOAL_WIDTH in AVIF within this multiple of the intermediate's decode
GOAL_WIDTH = 1280
SSIM_BAR = 0.002  # the engine's bar: within this much SSIM of the better path
MAX_PIXELS = cases.MAX_IMAGE_PIXELS
WORKER_PLACEHOLDER = "the worker's placeholder (box to 32 px, encode)"

WORKER_CASES = {
    "floor": "floor (JPEG draft decode; full decode otherwise)",
    "decode": "full decode",
    "today": "today: renditions + WebP variants",
    "today-webp": "today, without the WebP variants",
    "derive+webp": "intermediate + renditions + WebP variants",
    "derive": "intermediate + JPEG renditions",
    "intermediate": "intermediate (and placeholder) only",
}


def _engine() -> Any:
    engine = cases.engine_module()
    assert engine is not None, "engine not available"
    assert hasattr(engine, "derive"), "engine has no derive()"
    return engine


def interleaved(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    for run in calls.values():
        run()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, run in calls.items():
            started = time.process_time()
            run()
            samples[name].append((time.process_time() - started) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _ssim(encoded: bytes, reference: Image.Image) -> float:
    return float(_quality().ssim(_opened(encoded), reference))


def _quality() -> Any:
    """bench.quality (numpy, which only `make bench` installs): the parts that time renders
    run without it, as the test suite does."""
    from bench import quality

    return quality


def _pixels(engine: Any, data: bytes, width: int, margin: float | None = None) -> Image.Image:
    """A width render's pixels before encoding, as `render_width` makes them."""
    source, (plan,) = engine._decode(
        data,
        MAX_PIXELS,
        lambda w, h, swap: [engine._width_plan(width, w, h, swap)],
        margin=engine.RENDER_DRAFT_MARGIN if margin is None else margin,
    )
    pixels: Image.Image = source.render(plan)
    return pixels


def _intermediate(engine: Any, data: bytes) -> bytes:
    derived = engine.derive(data, [], max_pixels=MAX_PIXELS, largest_width=LARGEST)
    body: bytes = derived.intermediate.body
    return body


def renders(path: Path, rounds: int) -> dict[str, Any]:
    engine = _engine()
    middle = _intermediate(engine, path.read_bytes())
    size = _opened(middle).size

    def decode() -> None:
        _opened(middle)

    def draft(width: int) -> Callable[[], tuple[int, int]]:
        def run() -> tuple[int, int]:
            image = Image.open(io.BytesIO(middle))
            shrink = max(1.0, image.width / width / engine.RENDER_DRAFT_MARGIN)
            image.draft(None, (math.ceil(image.width / shrink), math.ceil(image.height / shrink)))
            image.load()
            return image.size

        return run

    def render(width: int, fmt: str) -> Callable[[], bytes]:
        return lambda: engine.render_width(middle, width, fmt, max_pixels=MAX_PIXELS).body

    calls: dict[str, Callable[[], object]] = {"decode": decode}
    scales: dict[str, int] = {}
    for width in WIDTHS:
        calls[f"draft {width}"] = draft(width)
        scales[str(width)] = draft(width)()[0]
    sizes = {}
    for width in WIDTHS:
        for fmt in FORMATS:
            calls[f"{fmt} {width}"] = render(width, fmt)
            sizes[f"{fmt} {width}"] = len(render(width, fmt)())
    return {
        "input": path.name,
        "intermediate": [*size, len(middle)],
        "scales": scales,
        "ms": interleaved(calls, rounds),
        "bytes": sizes,
    }


def lowest_quality(encode: Callable[[int], bytes], reference: Image.Image, target: float) -> int:
    """The lowest quality 0-100 whose SSIM against `reference` reaches `target` (100 if none)."""
    low, high, best = 0, 100, 100
    while low <= high:
        q = (low + high) // 2
        if _ssim(encode(q), reference) >= target:
            best, high = q, q - 1
        else:
            low = q + 1
    return best


def _encoders() -> dict[str, Callable[[Image.Image, int], bytes]]:
    found: dict[str, Callable[[Image.Image, int], bytes]] = {
        "jpeg": lambda p, q: _encode(p, "JPEG", quality=q, optimize=True)
    }
    for method in WEBP_METHODS:
        found[f"webp m{method}"] = functools.partial(_webp, method=method)
    for speed in AVIF_SPEEDS:
        found[f"avif s{speed}"] = functools.partial(_avif, speed=speed)
    return found


def _webp(pixels: Image.Image, q: int, *, method: int) -> bytes:
    return _encode(pixels, "WEBP", quality=q, method=method)


def _avif(pixels: Image.Image, q: int, *, speed: int) -> bytes:
    return _encode(pixels, "AVIF", quality=q, speed=speed, max_threads=1)


Settings = dict[str, tuple[int, str]]  # format -> (quality, encoder name) the engine uses


def _match(pixels: Image.Image, rounds: int, settings: Settings) -> dict[str, Any]:
    """Every encoder at the quality that matches JPEG q82's SSIM against `pixels`."""
    encode = _encoders()
    target = _ssim(encode["jpeg"](pixels, JPEG_QUALITY), pixels)
    chosen = {"jpeg": JPEG_QUALITY}
    for name, run in encode.items():
        if name != "jpeg":
            chosen[name] = lowest_quality(functools.partial(run, pixels), pixels, target)
    sizes = {name: len(encode[name](pixels, q)) for name, q in chosen.items()}
    ms = interleaved(
        {name: functools.partial(encode[name], pixels, q) for name, q in chosen.items()}, rounds
    )
    fixed = {}
    for fmt, (q, name) in settings.items():
        body = encode[name](pixels, q)
        fixed[fmt] = {"bytes": len(body), "ssim": _ssim(body, pixels)}
    return {
        "size": list(pixels.size),
        "target": target,
        "quality": chosen,
        "bytes": sizes,
        "ms": ms,
        "fixed": fixed,
    }


def encoders(paths: list[Path], rounds: int) -> list[dict[str, Any]]:
    engine = _engine()
    rows = []
    for path in paths:
        middle = _intermediate(engine, path.read_bytes())
        for width in MATCH_WIDTHS:
            webp, avif = (engine.render_encoding(fmt, width) for fmt in ("webp", "avif"))
            settings = {
                "webp": (webp["quality"], f"webp m{webp['method']}"),
                "avif": (avif["quality"], f"avif s{avif['speed']}"),
            }
            found = _match(_pixels(engine, middle, width), rounds, settings)
            rows.append({"photo": path.name, "width": width, **found})
    return rows


def intermediate(path: Path, rounds: int) -> dict[str, Any]:
    engine = _engine()
    data = path.read_bytes()
    full = _opened(data).convert("RGB")
    chosen = engine.INTERMEDIATE_QUALITY
    middles = {}
    try:
        for q in INTERMEDIATE_QUALITIES:
            engine.INTERMEDIATE_QUALITY = q
            middles[q] = _intermediate(engine, data)
    finally:
        engine.INTERMEDIATE_QUALITY = chosen
    decode_ms = interleaved(
        {str(q): functools.partial(_opened, m) for q, m in middles.items()}, rounds
    )

    def jpeg82(pixels: Image.Image) -> bytes:
        return _encode(pixels, "JPEG", quality=JPEG_QUALITY, optimize=True)

    rows: dict[str, dict[str, Any]] = {}
    direct = {w: _pixels(engine, data, w) for w in SSIM_WIDTHS}
    for label, middle, margin in [
        *((str(q), m, None) for q, m in middles.items()),
        (f"{chosen}, decode margin 1", middles[chosen], 1.0),
    ]:
        row: dict[str, Any] = {"bytes": len(middle), "decode_ms": decode_ms.get(label)}
        for width in SSIM_WIDTHS:
            made = _pixels(engine, middle, width, margin)
            reference = full.resize(made.size, Image.Resampling.LANCZOS)
            row[str(width)] = {
                "vs_original": _quality().ssim(made, direct[width]),
                "encoded_delta": _ssim(jpeg82(made), reference)
                - _ssim(jpeg82(direct[width]), reference),
            }
        rows[label] = row
    return {"input": path.name, "chosen": chosen, "rows": rows}


def _worker_calls(engine: Any, data: bytes) -> dict[str, Callable[[], object]]:
    renditions = cases.engine_renditions(tuple(cases.RENDITIONS))
    floor = cases.prepare(cases.FLOOR_DRAFT if data.startswith(b"\xff\xd8") else cases.FLOOR_DECODE)
    decode = cases.prepare(cases.FLOOR_DECODE)
    options: dict[str, Any] = {"max_pixels": MAX_PIXELS, "largest_width": LARGEST}
    return {
        "floor": lambda: floor(data),
        "decode": lambda: decode(data),
        "today": lambda: engine.render_renditions(
            data, renditions, max_pixels=MAX_PIXELS, webp=True
        ),
        "today-webp": lambda: engine.render_renditions(data, renditions, max_pixels=MAX_PIXELS),
        "derive+webp": lambda: engine.derive(data, renditions, webp=True, **options),
        "derive": lambda: engine.derive(data, renditions, **options),
        "intermediate": lambda: engine.derive(data, [], **options),
    }


def worker(paths: list[Path], rounds: int) -> list[dict[str, Any]]:
    engine = _engine()
    found = []
    for path in paths:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as probe:
            size = probe.size
        ms = interleaved(_worker_calls(engine, data), rounds)
        found.append({"input": path.name, "size": list(size), "ms": ms})
    return found


def placeholder(path: Path, rounds: int) -> dict[str, Any]:
    engine = _engine()
    from samples import thumbhash as decoder

    middle = _opened(_intermediate(engine, path.read_bytes()))

    def small(edge: int) -> Image.Image:
        scale = edge / max(middle.size)
        size = (round(middle.width * scale), round(middle.height * scale))
        return middle.resize(size, Image.Resampling.BOX, reducing_gap=2.0).convert("RGBA")

    inputs = {edge: small(edge) for edge in (32, 100)}
    hashes = {edge: engine.thumbhash.encode(*im.size, im.tobytes()) for edge, im in inputs.items()}
    pixels = engine._Pixels(None, middle, 1.0, 1, None)
    calls: dict[str, Callable[[], object]] = {
        WORKER_PLACEHOLDER: lambda: engine._placeholder(pixels),
        "box reduction to 32 px": lambda: small(32),
        "box reduction to 100 px": lambda: small(100),
    }
    for edge, im in inputs.items():
        raw = im.tobytes()
        calls[f"engine encoder, {edge} px"] = functools.partial(
            engine.thumbhash.encode, *im.size, raw
        )
    package: dict[str, Any] = {}
    try:
        import thumbhash as pypi  # bench/requirements.txt: the package on PyPI, to compare

        for edge, im in inputs.items():
            listed = list(im.tobytes())
            calls[f"`thumbhash` package, {edge} px"] = functools.partial(
                pypi.rgba_to_thumb_hash, *im.size, listed
            )
            same = bytes(pypi.rgba_to_thumb_hash(*im.size, listed)) == hashes[edge]
            package[str(edge)] = same
    except ImportError:
        package = {}
    pictures = {edge: decoder.to_rgba(h)[2] for edge, h in hashes.items()}
    differences = [abs(a - b) for a, b in zip(pictures[32], pictures[100], strict=True)]
    return {
        "input": path.name,
        "ms": interleaved(calls, rounds),
        "hash_bytes": len(hashes[32]),
        "base64_chars": len(engine.thumbhash.encode_base64(*inputs[32].size, inputs[32].tobytes())),
        "package_identical": package,
        "max_difference": max(differences),
        "mean_difference": statistics.fmean(differences),
    }


def measure(plan: dict[str, Any]) -> dict[str, Any]:
    child.pin_to_one_cpu()
    quick = bool(plan["quick"])
    rounds = 3 if quick else 7
    return {
        "renders": renders(Path(plan["render"]), rounds),
        "encoders": encoders([Path(p) for p in plan["photos"]], 3 if quick else 5),
        "intermediate": intermediate(Path(plan["render"]), rounds),
        "worker": worker([Path(p) for p in plan["worker"]], 3 if quick else 9),
        "placeholder": placeholder(Path(plan["render"]), 5 if quick else 15),
    }


# --- the report ------------------------------------------------------------------------------

Goal = tuple[str, str, bool | None]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def tables(result: dict[str, Any], engine: Any) -> tuple[list[str], list[Goal]]:
    lines: list[str] = []
    goals: list[Goal] = []
    _render_tables(result["renders"], engine, lines, goals)
    _encoder_tables(result["encoders"], engine, lines, goals)
    _intermediate_table(result["intermediate"], lines, goals)
    _worker_table(result["worker"], lines, goals)
    _placeholder_table(result["placeholder"], lines, goals)
    return lines, goals


def _steps(table: tuple[tuple[int, int], ...]) -> str:
    """`((400, 67), (800, 62), (16383, 60))` as "67 up to 400 px, 62 up to 800 px, 60 above"."""
    steps = [f"{q} up to {limit} px" for limit, q in table[:-1]]
    return ", ".join([*steps, f"{table[-1][1]} above"])


def _render_tables(r: dict[str, Any], engine: Any, lines: list[str], goals: list[Goal]) -> None:
    width, height, size = r["intermediate"]
    ms = r["ms"]
    decode = ms["decode"]
    lines += [
        "",
        f"### Renders from the intermediate ({r['input']}: {width}x{height} JPEG "
        f"q{engine.INTERMEDIATE_QUALITY}, {size / 1e6:.2f} MB)",
        "",
        f"`render_width` per ladder width and format, CPU ms (median), against the full decode "
        f"of the intermediate ({decode:.1f} ms) and against the DCT-scaled decode the render "
        f"itself does (at least {engine.RENDER_DRAFT_MARGIN:g}x the width, so Lanczos always "
        f"resamples). AVIF one thread, speed {_steps(engine.AVIF_SPEEDS)}, quality "
        f"{_steps(engine.AVIF_QUALITIES)}; WebP method {engine.RENDER_WEBP_METHOD}, quality "
        f"{_steps(engine.WEBP_QUALITIES)}; JPEG quality {engine.JPEG_QUALITY}.",
        "",
        "| width | decoded at | its decode ms | "
        + " | ".join(f"{f} ms | {f} / full decode | {f} / its decode | {f} bytes" for f in FORMATS)
        + " |",
        "|---:|---:|---:|" + "---:|---:|---:|---:|" * len(FORMATS),
    ]
    for w in WIDTHS:
        own = ms[f"draft {w}"]
        cells = " | ".join(
            f"{ms[f'{f} {w}']:.1f} | {ms[f'{f} {w}'] / decode:.2f} | {ms[f'{f} {w}'] / own:.2f} "
            f"| {r['bytes'][f'{f} {w}']}"
            for f in FORMATS
        )
        lines.append(f"| {w} | {r['scales'][str(w)]} px | {own:.1f} | {cells} |")
    at_goal = ms[f"avif {GOAL_WIDTH}"] / decode
    speed = engine.render_encoding("avif", GOAL_WIDTH)["speed"]
    goals.append(
        (
            f"AVIF render at {GOAL_WIDTH} px (speed {speed}) within {GOAL}x of the "
            "intermediate's decode",
            f"{at_goal:.2f}x ({ms[f'avif {GOAL_WIDTH}']:.1f} vs {decode:.1f} ms)",
            at_goal <= GOAL,
        )
    )
    for fmt in ("webp", "jpeg"):
        goals.append(
            (
                f"{fmt.upper()} render at {GOAL_WIDTH} px / the intermediate's decode",
                f"{ms[f'{fmt} {GOAL_WIDTH}'] / decode:.2f}x",
                None,
            )
        )


def _encoder_tables(
    rows: list[dict[str, Any]], engine: Any, lines: list[str], goals: list[Goal]
) -> None:
    names = ["jpeg"] + [f"webp m{m}" for m in WEBP_METHODS] + [f"avif s{s}" for s in AVIF_SPEEDS]
    lines += [
        "",
        "### Encoders at equal SSIM (JPEG q82's)",
        "",
        "Per photo and width: the render's pixels from the intermediate, before encoding, are "
        "the reference; JPEG q82 (optimized) sets the SSIM; each other encoder's lowest quality "
        "reaching it. Bytes and CPU ms per encode (one thread), interleaved.",
        "",
        "| photo | width | JPEG SSIM | JPEG bytes | JPEG ms | "
        + " | ".join(f"{n}: q | {n}: bytes vs JPEG | {n}: ms" for n in names[1:])
        + " |",
        "|---|---:|---:|---:|---:|" + "---:|---:|---:|" * (len(names) - 1),
    ]
    for row in rows:
        jpeg_bytes = row["bytes"]["jpeg"]
        cells = " | ".join(
            f"{row['quality'][n]} | {row['bytes'][n] / jpeg_bytes - 1:+.0%} | {row['ms'][n]:.1f}"
            for n in names[1:]
        )
        lines.append(
            f"| {row['photo']} | {row['width']} | {row['target']:.4f} | {jpeg_bytes} "
            f"| {row['ms']['jpeg']:.1f} | {cells} |"
        )
    lines += [
        "",
        "Medians over the photos, per width and encoder: matched quality, bytes against JPEG "
        "q82, CPU ms per encode and that time against JPEG's.",
        "",
        "| width | encoder | matched quality | bytes vs JPEG | ms | ms / JPEG's |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for width in MATCH_WIDTHS:
        at = [row for row in rows if row["width"] == width]
        for n in names:
            lines.append(
                f"| {width} | {n} | {_median([r['quality'][n] for r in at]):.0f} "
                f"| {_median([r['bytes'][n] / r['bytes']['jpeg'] - 1 for r in at]):+.0%} "
                f"| {_median([r['ms'][n] for r in at]):.1f} "
                f"| {_median([r['ms'][n] / r['ms']['jpeg'] for r in at]):.2f} |"
            )
    lines += [
        "",
        f"At the engine's settings (WebP method {engine.RENDER_WEBP_METHOD}, quality "
        f"{_steps(engine.WEBP_QUALITIES)}; AVIF speed {_steps(engine.AVIF_SPEEDS)}, quality "
        f"{_steps(engine.AVIF_QUALITIES)}): "
        "SSIM minus JPEG q82's, and bytes against it.",
        "",
        "| photo | width | WebP SSIM - JPEG's | WebP bytes vs JPEG | AVIF SSIM - JPEG's "
        "| AVIF bytes vs JPEG |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        jpeg_bytes, fixed = row["bytes"]["jpeg"], row["fixed"]
        lines.append(
            f"| {row['photo']} | {row['width']} "
            f"| {fixed['webp']['ssim'] - row['target']:+.4f} "
            f"| {fixed['webp']['bytes'] / jpeg_bytes - 1:+.0%} "
            f"| {fixed['avif']['ssim'] - row['target']:+.4f} "
            f"| {fixed['avif']['bytes'] / jpeg_bytes - 1:+.0%} |"
        )
    for fmt in ("webp", "avif"):
        saved = [row["fixed"][fmt]["bytes"] / row["bytes"]["jpeg"] - 1 for row in rows]
        delta = [row["fixed"][fmt]["ssim"] - row["target"] for row in rows]
        goals.append(
            (
                f"{fmt.upper()} at the engine's setting: median bytes against JPEG q82 "
                "(320-1280 px)",
                f"{_median(saved):+.0%} (SSIM {_median(delta):+.4f})",
                None,
            )
        )


def _intermediate_table(r: dict[str, Any], lines: list[str], goals: list[Goal]) -> None:
    lines += [
        "",
        f"### The intermediate's quality ({r['input']})",
        "",
        "Per JPEG quality of the intermediate: its bytes and full decode (CPU ms); per width, "
        "the SSIM of a render made from it against the same render made from the original "
        "(pixels, before the render's own encoding; 1 = identical) and, once both are JPEG q82, "
        "the difference of their SSIMs against a Lanczos resize of the full decode (negative: "
        "the render from the intermediate is worse). The last row decodes at exactly the DCT "
        "scale of the width (no margin for Lanczos).",
        "",
        "| quality | bytes | decode ms | "
        + " | ".join(f"{w}: SSIM vs original's | {w}: q82 delta" for w in SSIM_WIDTHS)
        + " |",
        "|---|---:|---:|" + "---:|---:|" * len(SSIM_WIDTHS),
    ]
    for label, row in r["rows"].items():
        decode = row["decode_ms"]
        cells = " | ".join(
            f"{row[str(w)]['vs_original']:.4f} | {row[str(w)]['encoded_delta']:+.4f}"
            for w in SSIM_WIDTHS
        )
        lines.append(
            f"| {label} | {row['bytes']} | {'-' if decode is None else f'{decode:.1f}'} | {cells} |"
        )
    chosen = r["rows"][str(r["chosen"])]
    at = chosen[str(GOAL_WIDTH)]
    goals.append(
        (
            f"a {GOAL_WIDTH} px render from the q{r['chosen']} intermediate vs from the original",
            f"SSIM {at['vs_original']:.4f}; after JPEG q82 {at['encoded_delta']:+.4f}",
            at["encoded_delta"] >= -SSIM_BAR,
        )
    )


def _worker_table(rows: list[dict[str, Any]], lines: list[str], goals: list[Goal]) -> None:
    lines += [
        "",
        "### The worker's render of an original, before and after",
        "",
        "The worker's whole render (decode, renditions, encodes; no AWS calls), CPU ms "
        "(median) and against the floor (the JPEG draft decode `make bench` uses; a full decode "
        "for other formats) and the full decode. Every intermediate row includes the "
        "placeholder.",
        "",
        "| input | case | CPU ms | x floor | x full decode |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        ms = row["ms"]
        for key, label in WORKER_CASES.items():
            lines.append(
                f"| {row['input']} | {label} | {ms[key]:.1f} | {ms[key] / ms['floor']:.2f} "
                f"| {ms[key] / ms['decode']:.2f} |"
            )
        goals.append(
            (
                f"{row['input']}: worker render / floor, today -> intermediate + JPEG renditions",
                f"{ms['today'] / ms['floor']:.2f}x -> {ms['derive'] / ms['floor']:.2f}x",
                None,
            )
        )
        variants = ms["today"] - ms["today-webp"]
        goals.append(
            (
                f"{row['input']}: the WebP variants' CPU (today's renditions with and without), "
                "against the render with the intermediate",
                f"{variants:+.1f} ms ({variants / ms['derive'] * 100:+.0f}%); intermediate "
                f"+ renditions with / without them {ms['derive+webp'] - ms['derive']:+.1f} ms",
                None,
            )
        )


def _placeholder_table(r: dict[str, Any], lines: list[str], goals: list[Goal]) -> None:
    lines += [
        "",
        f"### The placeholder (ThumbHash of {r['input']}'s intermediate)",
        "",
        f"CPU ms per image (median). The hash is {r['hash_bytes']} bytes, "
        f"{r['base64_chars']} characters of base64. The picture a 32 px input's hash decodes to "
        f"differs from a 100 px input's by at most {r['max_difference']} levels (mean "
        f"{r['mean_difference']:.2f}) of 255.",
        "",
        "| case | CPU ms |",
        "|---|---:|",
    ]
    for name, value in r["ms"].items():
        lines.append(f"| {name} | {value:.2f} |")
    same = r["package_identical"]
    if same:
        verdict = ", ".join(f"{edge} px: {'yes' if s else 'no'}" for edge, s in same.items())
        lines += ["", f"The package's hash is byte-identical to the engine's: {verdict}."]
    else:
        lines += ["", "The `thumbhash` package is not installed: its rows are missing."]
    goals.append(
        (
            "placeholder: CPU per image, as the worker makes it",
            f"{r['ms'][WORKER_PLACEHOLDER]:.2f} ms",
            None,
        )
    )


if __name__ == "__main__":
    json.dump(measure(json.loads(sys.argv[1])), sys.stdout)
