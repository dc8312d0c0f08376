"""`make bench`: thumbnail speed, memory, quality, WebP against JPEG, cold start, local-runner
load, and widths on demand (renders from the intermediate, AVIF, the placeholder).

Environment:
  QUICK=1        fewer inputs and repetitions (about two minutes); results go to bench/.cache/
  IMAGES=dir     benchmark the images in `dir` instead of the generated ones
  PARTS=a,b      only some parts: render, memory, quality, webp, coldstart, calls, direct, load,
                 derive (default: all)

A full run on the generated inputs writes its figures to docs/bench-results.md; every number
there comes from the run that wrote it.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("VIPS_CONCURRENCY", "1")  # before anything loads libvips

from bench import calls, cases, coldstart, derive, direct, inputs, load, proto, quality, webp

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "bench-results.md"
QUICK_RESULTS = inputs.CACHE.parent / "bench-results.md"


def _worker_memory_mb() -> int:
    """The worker's configured memory, read from the stack's source (importing the stack would
    load aws_cdk into the benchmark for one number)."""
    source = (ROOT / "stacks" / "limits.py").read_text()
    found = re.search(r"^WORKER_MEMORY_MB = (\d+)", source, re.MULTILINE)
    if found is None:
        raise SystemExit("stacks/limits.py: WORKER_MEMORY_MB not found")
    return int(found.group(1))


WORKER_MEMORY_MB = _worker_memory_mb()

PARTS = ("render", "memory", "quality", "webp", "coldstart", "calls", "direct", "load", "derive")
# Thumbnails of a format decoded at full size (PNG, GIF, WebP, HEIC, AVIF) within this multiple
# of the decode alone, and each rendition's SSIM within this much of a plain Lanczos resize put
# through the same encoder.
FULL_DECODE_GOAL = 1.3
SSIM_GOAL = 0.002
# The last revision whose API functions had a hand-made adapter, and the one that put them on
# Powertools' REST resolver (and changed nothing else they import): the cold-start A/B
# measures what the resolver costs.
BEFORE_RESOLVER = "e47c08c"
WITH_RESOLVER = "b2ae1d6"
RESOLVER_BUDGET_MS = 15


@dataclass
class Settings:
    quick: bool
    images: Path | None
    parts: tuple[str, ...]

    @classmethod
    def from_env(cls) -> Settings:
        quick = os.environ.get("QUICK", "") not in ("", "0")
        images = Path(os.environ["IMAGES"]).resolve() if os.environ.get("IMAGES") else None
        wanted = tuple(p for p in os.environ.get("PARTS", ",".join(PARTS)).split(",") if p)
        unknown = set(wanted) - set(PARTS)
        if unknown:
            raise SystemExit(f"PARTS: unknown part(s) {', '.join(sorted(unknown))}")
        return cls(quick, images, wanted)

    def rounds(self, item: inputs.BenchInput) -> int:
        if self.quick:
            return 5
        if item.megapixels > 30:
            return 3
        if item.megapixels > 15:
            return 5
        return 7


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    goals: list[tuple[str, str, bool | None]] = field(default_factory=list)

    def add(self, *lines: str) -> None:
        for line in lines:
            print(line, flush=True)
            self.lines.append(line)

    def goal(self, what: str, measured: str, met: bool | None) -> None:
        self.goals.append((what, measured, met))


def _child(*args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "bench.child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.child {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


# Prototype variants beyond the best one, and the inputs they are measured on (to keep the
# run short): encoder and filter choices on the headline JPEG, alpha handling on the RGBA PNG,
# a shared pre-reduction where a cover rendition limits the shrink.
EXTRA_VARIANTS = {
    "jpeg-2mp.jpg": ("proto-draft1-lanczos-q85-shared/all",),
    "jpeg-12mp.jpg": ("proto-draft2-lanczos-q85/all",),
    "png-rgb-3mp.png": ("proto-draft1-lanczos-q85-shared/all",),
}


def _cases_for(item: inputs.BenchInput) -> list[str]:
    names = cases.available(item.kind)
    if item.headline:
        chosen = [n for n in names if not n.startswith("proto-alpha-")]
        return chosen + list(EXTRA_VARIANTS.get(item.name, ()))
    keep_alpha = item.name.startswith("png-rgba-3mp")
    chosen = [
        n
        for n in names
        if not n.startswith("proto-")
        or n.split("/")[0] == proto.BEST
        or (keep_alpha and n.startswith("proto-alpha-"))
    ]
    return chosen + list(EXTRA_VARIANTS.get(item.name, ()))


def _floor(item: inputs.BenchInput) -> str:
    return cases.FLOOR_DRAFT if item.kind == "jpeg" else cases.FLOOR_DECODE


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def bench_render(
    item: inputs.BenchInput, settings: Settings, report: Report
) -> dict[str, dict[str, Any]]:
    names = _cases_for(item)
    rows: dict[str, dict[str, Any]] = {n: {} for n in names}
    if "render" in settings.parts and not item.memory_only:
        timed = _child("time", str(item.path), str(settings.rounds(item)), *names)
        for name in names:
            cpu = sorted(timed["cpu_ms"][name])
            rows[name]["cpu"] = statistics.median(cpu)
            q = statistics.quantiles(cpu, n=4) if len(cpu) >= 2 else [cpu[0]] * 3
            rows[name]["iqr"] = (q[0], q[2])
            rows[name]["wall"] = statistics.median(timed["wall_ms"][name])
            rows[name]["bytes"] = timed["output_bytes"][name]
    if "memory" in settings.parts:
        for name in names:
            if name.startswith("proto-") and name != f"{proto.BEST}/all":
                continue
            mem = _child("memory", str(item.path), name)
            rows[name]["rss_mb"] = mem["peak_kb"] / 1024
            rows[name]["rss_delta_mb"] = (mem["peak_kb"] - mem["baseline_kb"]) / 1024
            rows[name]["once_ms"] = mem["once_ms"]
    _render_table(item, rows, report)
    return rows


def _render_table(item: inputs.BenchInput, rows: dict[str, dict[str, Any]], report: Report) -> None:
    floor = rows.get(_floor(item), {}).get("cpu")
    refs = {n: rows.get(n, {}).get("cpu") for n in cases.BASELINES}
    report.add("", f"### {item.label()}", "")
    if item.memory_only:
        report.add(
            "Memory only (one render per fresh process; the time is that single call's wall time).",
            "",
            "| case | wall ms (1 call) | peak RSS MB | above baseline MB |",
            "|---|---:|---:|---:|",
        )
        for name, row in rows.items():
            if "rss_mb" in row:
                report.add(
                    f"| {name} | {_fmt(row['once_ms'], 0)} | {_fmt(row['rss_mb'])} "
                    f"| {_fmt(row['rss_delta_mb'])} |"
                )
        return
    report.add(
        "| case | CPU ms (median) | p25-p75 | wall ms | x floor | naive / case "
        "| Pillow thumbnail / case | pyvips / case | peak RSS MB | above baseline MB "
        "| output bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    )
    for name, row in rows.items():
        cpu = row.get("cpu")

        def ratio(a: float | None, b: float | None) -> str:
            return f"{a / b:.2f}" if a and b else "-"

        iqr = row.get("iqr")
        sizes = row.get("bytes") or {}
        report.add(
            f"| {name} | {_fmt(cpu)} | {_fmt(iqr[0]) + '-' + _fmt(iqr[1]) if iqr else '-'} "
            f"| {_fmt(row.get('wall'))} | {ratio(cpu, floor)} "
            f"| {ratio(refs[cases.NAIVE], cpu)} | {ratio(refs[cases.PIL_THUMBNAIL], cpu)} "
            f"| {ratio(refs[cases.PYVIPS], cpu)} | {_fmt(row.get('rss_mb'))} "
            f"| {_fmt(row.get('rss_delta_mb'))} "
            f"| {', '.join(f'{k} {v}' for k, v in sizes.items()) or '-'} |"
        )


def check_render_goals(
    results: dict[inputs.BenchInput, dict[str, dict[str, Any]]], report: Report
) -> None:
    engine = cases.ENGINE_ONE
    for item, rows in results.items():
        one = rows.get(engine, {}).get("cpu")
        every = rows.get(cases.ENGINE_ALL, {}).get("cpu")
        floor = rows.get(_floor(item), {}).get("cpu")
        label = item.name
        if item.headline and one and floor:
            naive = rows[cases.NAIVE]["cpu"]
            pyvips = rows[cases.PYVIPS]["cpu"]
            report.goal(
                f"{label}: default rendition / draft floor <= 1.25",
                f"{one / floor:.2f}",
                one / floor <= 1.25,
            )
            report.goal(
                f"{label}: naive / default rendition >= 3.5",
                f"{naive / one:.2f}",
                naive / one >= 3.5,
            )
            report.goal(
                f"{label}: default rendition faster than pyvips",
                f"{one:.1f} vs {pyvips:.1f} ms",
                one < pyvips,
            )
        if item.headline and one and every:
            report.goal(
                f"{label}: all renditions / default rendition <= 1.3",
                f"{every / one:.2f}",
                every / one <= 1.3,
            )
        if item.kind != "jpeg" and one and floor:
            # Formats decoded at full size: the thumbnail work on top of the decode.
            report.goal(
                f"{label}: default rendition / full decode <= {FULL_DECODE_GOAL}",
                f"{one / floor:.2f}",
                one / floor <= FULL_DECODE_GOAL,
            )
            if every:
                report.goal(
                    f"{label}: all renditions / full decode <= {FULL_DECODE_GOAL}",
                    f"{every / floor:.2f}",
                    every / floor <= FULL_DECODE_GOAL,
                )
        with_webp = rows.get(cases.ENGINE_ALL_WEBP, {}).get("cpu")
        if every and with_webp:
            report.goal(
                f"{label}: WebP variants add (all renditions, CPU)",
                f"+{with_webp - every:.1f} ms (+{(with_webp / every - 1) * 100:.0f}%)",
                None,
            )
        rss = rows.get(cases.ENGINE_ALL, {}).get("rss_mb")
        if item.headline and rss is not None:
            report.goal(
                f"{label}: peak RSS of a render < 150 MB (absolute)", f"{rss:.0f} MB", rss < 150
            )
        if item.megapixels > 40 and rss is not None:
            report.goal(
                f"{label}: peak RSS < worker memory {WORKER_MEMORY_MB} MB",
                f"{rss:.0f} MB",
                rss < WORKER_MEMORY_MB,
            )


def bench_quality(items: list[inputs.BenchInput], report: Report) -> None:
    report.add(
        "",
        "## Quality: SSIM against a LANCZOS rendition of the full decode",
        "",
        "Luma SSIM, 11x11 Gaussian window; 1.000 = identical to the reference. Output bytes "
        "are the encoded thumbnail. `vs same encoder` = the case's SSIM minus that of the "
        "reference itself put through the engine's encoder with the engine's settings (JPEG q82 "
        "optimized; WebP q82 method 2 for transparent output; the WebP variant's settings for "
        "`.webp` outputs): what the resampling costs, encoding loss taken out.",
        "",
        "| input | case | rendition | SSIM | vs same encoder | bytes | format |",
        "|---|---|---|---:|---:|---:|---|",
    )
    from PIL import Image

    for item in items:
        if item.memory_only or item.megapixels > 30:
            continue  # a LANCZOS reference of 50 MP takes seconds per rendition
        _reference_rows(item, report)
        for name in _cases_for(item):
            if name.startswith("floor-") or name == cases.ENGINE_INSPECT:
                continue
            try:
                produced = cases.outputs(cases.prepare(name)(item.path.read_bytes()))
            except Exception as exc:  # reported in the table; the run goes on
                report.add(f"| {item.name} | {name} | - | failed: {exc} | - | - | - |")
                continue
            for output, encoded in produced.items():
                rendition = cases.rendition_of(output)
                box = cases.RENDITIONS.get(rendition, cases.RENDITIONS[cases.DEFAULT])
                score = quality.score(str(item.path), box, encoded)
                fmt = Image.open(io.BytesIO(encoded)).format
                delta = "-"
                if name in (cases.ENGINE_ONE, cases.ENGINE_ALL, cases.ENGINE_ALL_WEBP):
                    base = _same_encoder_score(item, box, fmt or "", output)
                    delta = f"{score - base:+.4f}"
                    if output == rendition and name != cases.ENGINE_ALL_WEBP:
                        report.goal(
                            f"{item.name} {rendition}: SSIM within {SSIM_GOAL} of plain Lanczos "
                            f"(same encoder), {name}",
                            delta,
                            score - base >= -SSIM_GOAL,
                        )
                report.add(
                    f"| {item.name} | {name} | {output} | {score:.4f} | {delta} "
                    f"| {len(encoded)} | {fmt} |"
                )
        quality.forget()


def _same_encoder_score(item: inputs.BenchInput, box: proto.Box, fmt: str, output: str) -> float:
    """SSIM of the plain Lanczos reference encoded the way the engine encoded `output`."""
    engine = cases.engine_module()
    assert engine is not None
    size, _ = proto.fitted(item.width, item.height, box)
    ref = quality.reference(str(item.path), box, size)
    buf = io.BytesIO()
    if output.endswith(cases.WEBP_SUFFIX):
        ref.convert("RGB").save(
            buf,
            "WEBP",
            quality=engine.WEBP_VARIANT_QUALITY,
            method=engine.WEBP_VARIANT_METHOD,
        )
    elif fmt == "WEBP":
        ref.save(buf, "WEBP", quality=engine.JPEG_QUALITY, method=engine.WEBP_METHOD)
    else:
        ref.convert("RGB").save(buf, "JPEG", quality=engine.JPEG_QUALITY, optimize=True)
    return quality.score(str(item.path), box, buf.getvalue())


def _reference_rows(item: inputs.BenchInput, report: Report) -> None:
    """The reference itself through the JPEG encoder: the best SSIM a JPEG at that quality
    can reach, so the rows below separate resampling loss from encoding loss."""
    from PIL import Image

    with Image.open(item.path) as probe:
        if probe.mode in ("RGBA", "LA", "PA") or "transparency" in probe.info:
            return
    for rendition, box in cases.RENDITIONS.items():
        size, _ = proto.fitted(item.width, item.height, box)
        ref = quality.reference(str(item.path), box, size).convert("RGB")
        for q in (82, 85):
            buf = io.BytesIO()
            ref.save(buf, "JPEG", quality=q)
            score = quality.score(str(item.path), box, buf.getvalue())
            report.add(
                f"| {item.name} | reference encoded at JPEG q{q} | {rendition} | {score:.4f} "
                f"| - | {buf.tell()} | JPEG |"
            )


def bench_webp(items: list[inputs.BenchInput], report: Report) -> None:
    engine = cases.engine_module()
    if engine is None:
        return
    photos = [i for i in items if not i.memory_only and i.megapixels <= 30]
    report.add(
        "",
        "## WebP variants against JPEG q82, at equal SSIM",
        "",
        "Per photo and opaque rendition: the engine's resized pixels before encoding are the "
        "reference; JPEG as the engine writes it (q82, optimized) sets the SSIM to reach; the "
        "lowest WebP quality reaching it is found per effort (`method`). Times: CPU ms per "
        "encode (median of 7).",
        "",
        "| photo | rendition | JPEG bytes | JPEG SSIM | JPEG ms "
        + " ".join(f"| m{m}: q | m{m}: bytes saved | m{m}: ms " for m in webp.METHODS)
        + "|",
        "|---|---|---:|---:|---:" + "|---:|---:|---:" * len(webp.METHODS) + "|",
    )
    matched: list[webp.Match] = []
    for item in photos:
        for found in webp.match(item.name, item.path.read_bytes()):
            matched.append(found)
            cells = " ".join(
                f"| {q} | {1 - size / found.jpeg_bytes:.0%} | {ms:.1f} "
                for q, size, _, ms in found.webp.values()
            )
            report.add(
                f"| {found.photo} | {found.rendition} | {found.jpeg_bytes} "
                f"| {found.jpeg_ssim:.4f} | {found.jpeg_ms:.1f} {cells}|"
            )
    if not matched:
        return
    report.add("", "| method | median matched quality | median bytes saved | median extra ms |")
    report.add("|---:|---:|---:|---:|")
    for method in webp.METHODS:
        qualities = [m.webp[method][0] for m in matched]
        saved = [1 - m.webp[method][1] / m.jpeg_bytes for m in matched]
        extra = [m.webp[method][3] for m in matched]
        report.add(
            f"| {method} | {statistics.median(qualities):.0f} | {statistics.median(saved):.0%} "
            f"| {statistics.median(extra):.1f} |"
        )
    fixed_q, fixed_m = engine.WEBP_VARIANT_QUALITY, engine.WEBP_VARIANT_METHOD
    report.add(
        "",
        f"At the engine's fixed setting (quality {fixed_q}, method {fixed_m}): SSIM minus the "
        "JPEG's, and bytes saved.",
        "",
        "| photo | rendition | SSIM - JPEG's | bytes saved |",
        "|---|---|---:|---:|",
    )
    deltas: list[float] = []
    savings: list[float] = []
    for item in photos:
        for rendition, delta, fraction in webp.at_quality(item.path.read_bytes(), fixed_q, fixed_m):
            deltas.append(delta)
            savings.append(fraction)
            report.add(f"| {item.name} | {rendition} | {delta:+.4f} | {fraction:.0%} |")
    if savings:
        report.goal(
            f"WebP variants (q{fixed_q}, m{fixed_m}): median bytes saved against JPEG q82",
            f"{statistics.median(savings):.0%} (SSIM {statistics.median(deltas):+.4f})",
            None,
        )


def bench_coldstart(settings: Settings, report: Report) -> None:
    rounds = 5 if settings.quick else 7
    result = coldstart.measure(rounds)
    medians: dict[str, float] = result["median_ms"]
    spread: dict[str, tuple[float, float]] = result["spread_ms"]
    base = medians["baseline"]
    report.add(
        "",
        f"## Cold start (fresh interpreter each, {rounds} rounds interleaved)",
        "",
        "CPU time from the first import to the module being ready (interpreter start-up "
        "excluded; .pyc files warm; CPU rather than wall time because other processes on this "
        "shared machine inflate wall time). Baseline: `import boto3` + `boto3.client('s3')`.",
        "",
        "| module | median ms | min-max | above baseline ms | goal | imports PIL "
        "| RSS after import MB |",
        "|---|---:|---:|---:|---|---|---:|",
        f"| baseline (boto3 + 1 client) | {base:.0f} | {spread['baseline'][0]:.0f}-"
        f"{spread['baseline'][1]:.0f} | - | - | - | {result['rss_mb']['baseline']:.0f} |",
    )
    for module, name in result["names"].items():
        if module in result["errors"]:
            report.add(f"| {module} | import failed: {result['errors'][module]} | | | | | |")
            report.goal(f"cold start {name}", "import failed", False)
            continue
        extra = medians[module] - base
        limit = 200 if name.startswith("worker") else 120
        pil = result["pil_imported"][module]
        report.add(
            f"| {module} | {medians[module]:.0f} | {spread[module][0]:.0f}-{spread[module][1]:.0f}"
            f" | {extra:.0f} | <= {limit} | {'yes' if pil else 'no'} "
            f"| {result['rss_mb'][module]:.0f} |"
        )
        report.goal(
            f"cold start {name}: import adds <= {limit} ms over baseline",
            f"{extra:.0f} ms",
            extra <= limit,
        )
        if module in coldstart.DOWNLOADS:
            report.goal(
                f"cold start {name}: no Pillow imported", "PIL" if pil else "no PIL", not pil
            )
    for module in coldstart.HEIF_MODULES:
        with_heif = f"{module}{coldstart.HEIF_SUFFIX}"
        if module in medians and with_heif in medians:
            report.add(
                f"| first HEIC in {module} (lazy import, measured as the difference) "
                f"| {medians[with_heif] - medians[module]:.0f} | | | | | |"
            )
    missing = set(coldstart.MODULES) - set(result["names"])
    for module in sorted(missing):
        report.add(f"| {module} | not available yet | | | | | |")
    report.add(
        "",
        f"Compiling `lambda_src/` (paid on every Lambda cold start: the asset has no .pyc and "
        f"the code directory is read-only): {result['compile_ms']:.0f} ms.",
        "",
        "Heaviest packages per module (`python -X importtime`, cumulative ms, one run):",
        "",
    )
    for module, top in result["top_imports"].items():
        listed = ", ".join(f"{pkg} {ms:.0f}" for pkg, ms in top)
        report.add(f"- `{module}`: {listed}")

    bench_authorizer(rounds, report)
    bench_resolver(settings, report)


def bench_authorizer(rounds: int, report: Report) -> None:
    """The optional authorizer's cold start (import, then the first verification) and a warm
    verification, in CPU time on this machine."""
    timings = coldstart.authorizer_timings(rounds)
    median, spread = timings["median"], timings["spread"]
    rows = (
        ("import (PyJWT, cryptography, Powertools' logger)", "import_cpu_ms", "ms", 1),
        ("first verification (key parsed, RS256 checked)", "first_cpu_ms", "ms", 1),
        ("warm: the handler with a valid ID token", "warm_handler_us", "us", 1),
        ("warm: the verification alone", "warm_verify_us", "us", 1),
        ("warm: the handler without a token (anonymous)", "anonymous_handler_us", "us", 1),
        ("RSS after all of it", "rss_kb", "MB", 1024),
    )
    report.add(
        "",
        f"### The optional authorizer ({rounds} fresh interpreters, "
        f"{timings['warm_calls']} warm calls each)",
        "",
        "An ID token and its signing key are made in another process; the JWKS fetch is "
        "served locally. Import and first verification in CPU time, warm calls in wall time "
        "(medians).",
        "",
        "| step | median | min-max |",
        "|---|---:|---:|",
    )
    for label, name, unit, scale in rows:
        low, high = spread[name]
        report.add(
            f"| {label} | {median[name] / scale:.1f} {unit} | {low / scale:.1f}-"
            f"{high / scale:.1f} |"
        )


def bench_resolver(settings: Settings, report: Report) -> None:
    """What Powertools' REST resolver costs each API function at cold start, against the
    hand-made adapter it replaced, measured in one interleaved run."""
    for revision in (BEFORE_RESOLVER, WITH_RESOLVER):
        known = subprocess.run(
            ["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=ROOT, check=False
        )
        if known.returncode != 0:
            report.add("", f"Resolver A/B skipped: revision {revision} is not in this clone.")
            return
    rounds = 9 if settings.quick else 21
    figures = coldstart.compare(BEFORE_RESOLVER, rounds, WITH_RESOLVER)
    before, after = figures[BEFORE_RESOLVER], figures[WITH_RESOLVER]
    report.add(
        "",
        f"### Powertools' REST resolver ({rounds} rounds, {BEFORE_RESOLVER} against "
        f"{WITH_RESOLVER}, interleaved)",
        "",
        f"CPU ms above the baseline (boto3 + client: {after['baseline (boto3 + client)']:.0f} ms)"
        f" with the hand-made adapter ({BEFORE_RESOLVER}) and on the resolver ({WITH_RESOLVER}).",
        "",
        "| function | adapter | resolver | difference |",
        "|---|---:|---:|---:|",
    )
    for name in ("upload", "download-image", "download-thumbnail"):
        extra = after[name] - before[name]
        report.add(f"| {name} | {before[name]:.1f} | {after[name]:.1f} | {extra:+.1f} |")
        report.goal(
            f"cold start {name}: the resolver adds <= {RESOLVER_BUDGET_MS} ms",
            f"{extra:+.1f} ms",
            extra <= RESOLVER_BUDGET_MS,
        )


def bench_calls(report: Report) -> None:
    measured = calls.measure()
    report.add(
        "",
        "## AWS calls per operation",
        "",
        "Counted from botocore's `before-call` events, the functions running against moto; the "
        "minimum is the fewest calls the design needs (reasons in `bench/calls.py`).",
        "",
        *calls.table(measured),
    )
    report.goal(
        "every operation makes its minimum of AWS calls",
        ", ".join(op for op, minimum in calls.MINIMUM.items() if measured.get(op) != minimum)
        or "all at the minimum",
        measured == calls.MINIMUM,
    )


def bench_direct(settings: Settings, report: Report) -> None:
    """Direct uploads: upload-to-ready by route, and the worker's 48 MP ingest."""
    ingest = direct.measure_ingest(1 if settings.quick else 3)
    report.add(
        "",
        "## Direct uploads",
        "",
        "The worker's ingest (validate and render both renditions, JPEG and WebP, from one "
        "decode) of a 48 MP JPEG against a full decode and against the 1/8 draft decode the "
        "engine uses, and of the worst case for memory: a 50 MP WebP with alpha padded to the "
        "50 MB a ticket allows. CPU ms and peak RSS of a fresh interpreter, medians.",
        "",
        "| photo | full decode ms | draft decode ms | ingest ms | ingest / draft "
        "| peak RSS MB: decode / ingest |",
        "|---|---:|---:|---:|---:|---:|",
    )
    for label, f in ingest.items():
        jpeg = "JPEG" in label  # only JPEG has a draft (DCT-scaled) decode
        draft = f"{f['draft_ms']:.0f}" if jpeg else "-"
        ratio = f"{f['ingest_ms'] / f['draft_ms']:.2f}" if jpeg else "-"
        report.add(
            f"| {label} | {f['decode_ms']:.0f} | {draft} | {f['ingest_ms']:.0f} "
            f"| {ratio} | {f['decode_rss_mb']:.0f} / {f['ingest_rss_mb']:.0f} |"
        )
        report.goal(
            f"{label}: ingest within the worker's {WORKER_MEMORY_MB} MB",
            f"{f['ingest_rss_mb']:.0f} MB",
            f["ingest_rss_mb"] < WORKER_MEMORY_MB,
        )
    rounds = 5 if settings.quick else 20
    routes = direct.measure_routes(rounds)
    report.add(
        "",
        f"Upload to `ready` through the local runner, one upload at a time, {rounds} each, "
        "interleaved (first request to the record answering `ready`, polled every 50 ms):",
        "",
        "| photo and route | p50 ms | p95 ms |",
        "|---|---:|---:|",
        *(f"| {label} | {f['p50']:.0f} | {f['p95']:.0f} |" for label, f in routes.items()),
    )


def bench_load(items: list[inputs.BenchInput], settings: Settings, report: Report) -> None:
    report.add("", "## Local runner: upload to thumbnail ready", "")
    why_not = load.runner_available()
    if why_not:
        report.add(f"Skipped: {why_not}.")
        return
    jpegs = sorted((i for i in items if i.kind == "jpeg"), key=lambda i: i.megapixels)
    if not jpegs:
        report.add("Skipped: no JPEG input to upload.")
        return
    image = jpegs[0]
    plan = [(1, 10), (20, 40)] if settings.quick else [(1, 20), (20, 200)]
    log = inputs.CACHE.parent / "local-runner.log"
    try:
        phases = load.measure(image.path, plan, log)
    except load.RunnerUnavailable as exc:
        report.add(f"Skipped: {exc} (log: {log.relative_to(ROOT)}).")
        return
    report.add(
        f"Image: {image.label()}, uploaded raw; latency = POST start to the first 200 of the "
        f"default thumbnail, polled every {load.POLL_SECONDS * 1000:.0f} ms. Runner, emulator "
        f"and clients share this machine's {os.cpu_count()} cores.",
        "",
        "| concurrent clients | uploads | p50 ms | p95 ms | max ms | uploads/s "
        "(thumbnail ready) | failures |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    )
    for phase in phases:
        s = load.summary(phase)
        report.add(
            f"| {phase.clients} | {phase.uploads} | {_fmt(s.get('p50'), 0)} "
            f"| {_fmt(s.get('p95'), 0)} | {_fmt(s.get('max'), 0)} "
            f"| {_fmt(s.get('per_second'), 2)} | {len(phase.failures)} |"
        )
        for failure in phase.failures[:3]:
            report.add(f"  - failure: {failure}")


def bench_derive(items: list[inputs.BenchInput], settings: Settings, report: Report) -> None:
    """Widths on demand (bench/derive.py), in a process of its own pinned to one core."""
    engine = cases.engine_module()
    report.add("", "## Widths on demand: renders from the intermediate")
    if engine is None or not hasattr(engine, "derive"):
        report.add("", "Skipped: the engine has no `derive` yet.")
        return
    jpegs = [i for i in items if i.kind == "jpeg" and not i.memory_only and i.megapixels <= 30]
    if not jpegs:
        report.add("", "Skipped: no JPEG photo among the inputs.")
        return
    headline = next((i for i in jpegs if i.headline), jpegs[0])
    heic = [i for i in items if i.kind == "heic" and not settings.quick]
    plan = {
        "quick": settings.quick,
        "render": str(headline.path),
        "photos": [str(headline.path)] if settings.quick else [str(i.path) for i in jpegs],
        "worker": [str(i.path) for i in ([headline] if settings.quick else jpegs[1:] + heic)],
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.derive", json.dumps(plan)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.derive failed:\n{done.stderr[-2000:]}")
    lines, goals = derive.tables(json.loads(done.stdout), engine)
    report.add(*lines)
    for goal in goals:
        report.goal(*goal)


def _environment_lines(settings: Settings) -> list[str]:
    import PIL
    from PIL import features

    try:
        import pyvips

        vips = f"pyvips {pyvips.__version__}, libvips {pyvips.version(0)}.{pyvips.version(1)}"
    except ImportError:
        vips = "pyvips not installed"
    cpu = "unknown CPU"
    with Path("/proc/cpuinfo").open() as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return [
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, tree at commit {commit or '?'}",
        f"- Machine: {cpu}, {os.cpu_count()} cores (shared), {platform.machine()}",
        f"- Python {platform.python_version()}, Pillow {PIL.__version__} "
        f"(libjpeg-turbo {features.version('jpg')}), {vips} (VIPS_CONCURRENCY=1)",
        f"- Mode: {'QUICK' if settings.quick else 'full'}, inputs: "
        f"{settings.images or 'generated (bench/inputs.py)'}",
        "- Each timing: one process pinned to one core, every case called once to warm up, "
        "then the cases interleaved round-robin; CPU time per call (process time, so other "
        "processes on the shared machine barely move it) and wall time.",
        "- Peak RSS: a fresh process per case, one render; absolute `ru_maxrss`, and above the "
        "baseline taken after the imports and after reading the input.",
    ]


def main() -> None:
    settings = Settings.from_env()
    started = time.perf_counter()
    report = Report()
    print("Preparing inputs ...", flush=True)
    if settings.images:
        items = inputs.from_folder(settings.images)
    else:
        items = inputs.generated(settings.quick)
    if settings.quick:
        items = [i for i in items if not i.memory_only]
    engine = cases.engine_module() is not None
    report.add("# Benchmark results", "", *_environment_lines(settings))
    if not engine:
        report.add(
            "- **engine not available**: `image_service.imaging.render_renditions` "
            "does not exist yet; its rows are missing."
        )
    results: dict[inputs.BenchInput, dict[str, dict[str, Any]]] = {}
    if {"render", "memory"} & set(settings.parts):
        report.add(
            "",
            "## Render: median per call",
            "",
            "Ratios use the CPU medians of the same run. `x floor` = case / floor (the JPEG "
            "draft decode for JPEG, the plain full decode otherwise); `naive / case` etc. = "
            "how many times faster the case is than that baseline. Thumbnail: 256x256 contain; "
            "`/all` and `engine-all-renditions` also make 320x320 cover.",
        )
        for item in items:
            results[item] = bench_render(item, settings, report)
        check_render_goals(results, report)
    timings = {"inputs and render/memory": time.perf_counter() - started}
    parts: tuple[tuple[str, Callable[[], None]], ...] = (
        ("quality", lambda: bench_quality(items, report)),
        ("webp", lambda: bench_webp(items, report)),
        ("coldstart", lambda: bench_coldstart(settings, report)),
        ("calls", lambda: bench_calls(report)),
        ("direct", lambda: bench_direct(settings, report)),
        ("load", lambda: bench_load(items, settings, report)),
        ("derive", lambda: bench_derive(items, settings, report)),
    )
    for part, run in parts:
        if part in settings.parts:
            t0 = time.perf_counter()
            run()
            timings[part] = time.perf_counter() - t0
    if report.goals:
        report.add("", "## Goals in this run", "", "| goal | measured | met |", "|---|---|---|")
        for what, measured, met in report.goals:
            verdict = "-" if met is None else "yes" if met else "NO"
            report.add(f"| {what} | {measured} | {verdict} |")
    elapsed = time.perf_counter() - started
    spent = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    report.add("", f"Total benchmark time: {elapsed:.0f} s ({spent}).")
    full = not settings.quick and settings.images is None and set(settings.parts) == set(PARTS)
    out = RESULTS if full else QUICK_RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report.lines) + "\n")
    print(f"\nWritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
