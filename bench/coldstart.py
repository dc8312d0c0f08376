"""Cold start: what importing each function's module costs, in fresh interpreters.

The baseline is `import boto3` plus creating one client, which every function pays anyway.
Each module is imported with the environment the stack gives it and fake credentials; the
timer starts after the interpreter is up, so Python's own start-up is not counted. Nothing
talks to AWS: creating a client opens no connection.

The optional authorizer is measured further (`authorizer_timings`): its import, its first
verification (RSA public key parsed, the signature checked), and a warm verification, with
an ID token and signing keys made beforehand in another process and served through its one
network call, the JWKS fetch.

    python -m bench.coldstart authorizer [rounds]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cases import FUNCTION_ENVIRONMENT, LAMBDA_SRC

MODULES = {
    "image_service.upload": "upload",
    "image_service.download_image": "download-image",
    "image_service.download_thumbnail": "download-thumbnail",
    "image_service.catalogue": "catalogue",
    "image_service.tickets": "tickets",
    "image_service.thumbnail_worker": "worker",
    "image_service.authorizer": "authorizer",
}
DOWNLOADS = ("image_service.download_image", "image_service.download_thumbnail")
# Cold start logs at INFO, as the functions do when deployed.
ENV = {**FUNCTION_ENVIRONMENT, "POWERTOOLS_LOG_LEVEL": "INFO"}

# Each script reports its import time, whether Pillow got loaded, and its peak RSS (VmHWM):
# the memory a function's process holds before it handles anything.
_REPORT = """
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
cpu = (time.process_time() - c) * 1000
print(json.dumps({"ms": cpu, "wall_ms": ms, "pil": "PIL" in sys.modules, "rss_kb": hwm}))
"""
BASELINE_SCRIPT = (
    """
import json, sys, time
t, c = time.perf_counter(), time.process_time()
import boto3
boto3.client("s3")
ms = (time.perf_counter() - t) * 1000
"""
    + _REPORT
)
MODULE_SCRIPT = (
    """
import importlib, json, sys, time
t, c = time.perf_counter(), time.process_time()
importlib.import_module(sys.argv[1])
ms = (time.perf_counter() - t) * 1000
"""
    + _REPORT
)
# The same, plus what the first HEIC costs on top: importing and configuring the HEIC decoder
# (pi-heif, libheif, libde265), which the engine does lazily, on the first HEIC only.
WITH_HEIF_SCRIPT = (
    """
import importlib, json, sys, time
t, c = time.perf_counter(), time.process_time()
importlib.import_module(sys.argv[1])
importlib.import_module("image_service.imaging")._heif_plugin()
ms = (time.perf_counter() - t) * 1000
"""
    + _REPORT
)
HEIF_MODULES = ("image_service.upload", "image_service.thumbnail_worker")
HEIF_SUFFIX = " + HEIC decoder"


# The authorizer's cold start and warm verification, in a fresh interpreter: argv[1] is a
# JSON file holding an ID token and the JWKS that verifies it (made by the parent, so that
# no RSA or PyJWT code is imported before the clock starts).
AUTHORIZER_SCRIPT = """
import importlib, json, statistics, sys, time
made = json.load(open(sys.argv[1]))
event = {"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:1:a/dev/GET/images",
         "headers": {"Authorization": "Bearer " + made["token"]}}
class Context:
    function_name = "bench"; memory_limit_in_mb = 256; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:1:function:bench"
t, c = time.perf_counter(), time.process_time()
authorizer = importlib.import_module("image_service.authorizer")
import_cpu, import_wall = time.process_time() - c, time.perf_counter() - t
authorizer.keys.fetch_data = lambda: made["jwks"]
t, c = time.perf_counter(), time.process_time()
answer = authorizer.handler(event, Context())
first_cpu, first_wall = time.process_time() - c, time.perf_counter() - t
assert answer["principalId"] == made["sub"], answer
def timed(call):
    t = time.perf_counter()
    call()
    return time.perf_counter() - t
anonymous = {"type": "REQUEST", "methodArn": event["methodArn"], "headers": {}}
calls = range(int(sys.argv[2]))
warm = [timed(lambda: authorizer.handler(event, Context())) for _ in calls]
verify = [timed(lambda: authorizer.verify(made["token"])) for _ in calls]
nobody = [timed(lambda: authorizer.handler(anonymous, Context())) for _ in calls]
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({
    "import_cpu_ms": import_cpu * 1000, "import_wall_ms": import_wall * 1000,
    "first_cpu_ms": first_cpu * 1000, "first_wall_ms": first_wall * 1000,
    "warm_handler_us": statistics.median(warm) * 1e6,
    "warm_verify_us": statistics.median(verify) * 1e6,
    "anonymous_handler_us": statistics.median(nobody) * 1e6,
    "rss_kb": hwm,
}))
"""
WARM_CALLS = 2000


def _token_and_keys(folder: Path) -> Path:
    """An ID token signed by a fresh 2048-bit RSA key (Cognito's size) and the JWKS with
    that key, in a file for the measuring process."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "bench", "alg": "RS256"}
    now = int(time.time())
    sub = "b0c1d2e3-0000-4000-8000-000000000001"
    claims = {
        "sub": sub,
        "iss": ENV["TOKEN_ISSUER"],
        "aud": ENV["TOKEN_AUDIENCE"],
        "token_use": "id",
        "email": "bench@example.com",
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"})
    path = folder / "token.json"
    path.write_text(json.dumps({"token": token, "jwks": {"keys": [jwk]}, "sub": sub}))
    return path


def authorizer_timings(rounds: int) -> dict[str, Any]:
    """Medians over `rounds` fresh interpreters: the authorizer's import and its first
    verification (CPU and wall ms), a warm verification with and without the handler around
    it, an anonymous request, and the process's peak RSS."""
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        made = _token_and_keys(Path(folder))
        for _ in range(rounds):
            result = _run(AUTHORIZER_SCRIPT, str(made), str(WARM_CALLS))
            if "error" in result:
                raise RuntimeError(f"authorizer: {result['error']}")
            for name, value in result.items():
                samples.setdefault(name, []).append(float(value))  # type: ignore[arg-type]
    return {
        "rounds": rounds,
        "warm_calls": WARM_CALLS,
        "median": {name: statistics.median(values) for name, values in samples.items()},
        "spread": {name: (min(values), max(values)) for name, values in samples.items()},
    }


def _environment(lambda_src: Path = LAMBDA_SRC) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(ENV)
    env["PYTHONPATH"] = str(lambda_src)
    return env


def _run(script: str, *args: str, lambda_src: Path = LAMBDA_SRC) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=_environment(lambda_src),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": last}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def top_imports(module: str, count: int = 6) -> list[tuple[str, float]]:
    """The heaviest top-level packages under `module` by cumulative import time (-X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Lines come children first; the name column is indented two spaces per nesting level.
    # A package's figure is its outermost entry (siblings at that depth added up).
    best: dict[str, tuple[int, float]] = {}
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3:
            continue
        cumulative, raw_name = parts[1].strip(), parts[2]
        if not cumulative.isdigit():
            continue  # the header line
        depth = len(raw_name) - len(raw_name.lstrip())
        top = raw_name.strip().split(".")[0]
        ms = int(cumulative) / 1000
        seen = best.get(top)
        if seen is None or depth < seen[0]:
            best[top] = (depth, ms)
        elif depth == seen[0]:
            best[top] = (depth, seen[1] + ms)
    totals = {top: ms for top, (_, ms) in best.items()}
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
    return ranked[:count]


def compile_ms() -> float:
    """Compiling lambda_src: paid at every cold start, since the asset ships no .pyc files and
    Lambda's code directory is read-only."""
    sources = sorted((LAMBDA_SRC / "image_service").rglob("*.py"))
    start = time.perf_counter()
    for path in sources:
        compile(path.read_text(), str(path), "exec")
    return (time.perf_counter() - start) * 1000


def measure(rounds: int) -> dict[str, Any]:
    present = {
        module: name
        for module, name in MODULES.items()
        if (LAMBDA_SRC / Path(*module.split("."))).with_suffix(".py").exists()
    }
    targets = {m: (MODULE_SCRIPT, m) for m in present}
    targets.update(
        {f"{m}{HEIF_SUFFIX}": (WITH_HEIF_SCRIPT, m) for m in HEIF_MODULES if m in present}
    )
    samples: dict[str, list[float]] = {"baseline": [], **{m: [] for m in targets}}
    pil: dict[str, bool] = {}
    rss_mb: dict[str, float] = {}
    errors: dict[str, str] = {}
    for _ in range(rounds):  # interleaved, so machine load hits every target alike
        result = _run(BASELINE_SCRIPT)
        if "error" in result:
            raise RuntimeError(f"import boto3 failed: {result['error']}")
        samples["baseline"].append(float(result["ms"]))  # type: ignore[arg-type]
        rss_mb["baseline"] = int(result["rss_kb"]) / 1024  # type: ignore[call-overload]
        for module, (script, name) in targets.items():
            if module in errors:
                continue
            result = _run(script, name)
            if "error" in result:
                errors[module] = str(result["error"])
                continue
            samples[module].append(float(result["ms"]))  # type: ignore[arg-type]
            pil[module] = bool(result["pil"])
            rss_mb[module] = int(result["rss_kb"]) / 1024  # type: ignore[call-overload]
    medians = {k: statistics.median(v) for k, v in samples.items() if v}
    return {
        "rounds": rounds,
        "median_ms": medians,
        "spread_ms": {k: (min(v), max(v)) for k, v in samples.items() if v},
        "pil_imported": pil,
        "rss_mb": rss_mb,
        "errors": errors,
        "names": {
            **present,
            **{
                t: f"{present[n]}{HEIF_SUFFIX}" for t, (_, n) in targets.items() if t not in present
            },
        },
        "top_imports": {m: top_imports(m) for m in present if m not in errors},
        "compile_ms": compile_ms(),
    }


def compare(revision: str, rounds: int, against: str | None = None) -> dict[str, dict[str, float]]:
    """Median import CPU ms of each module at `revision` (git) and in the working tree (or at
    `against`), over boto3 + client, interleaved in one run so machine load hits both alike."""
    root = LAMBDA_SRC.parent
    with tempfile.TemporaryDirectory() as tmp:
        trees: dict[str, Path] = {}
        for name in (revision, against):
            if name is None:
                continue
            archive = subprocess.run(
                ["git", "archive", name, "lambda_src"], cwd=root, capture_output=True, check=True
            ).stdout
            (Path(tmp) / name).mkdir()
            subprocess.run(["tar", "-x", "-C", str(Path(tmp) / name)], input=archive, check=True)
            trees[name] = Path(tmp) / name / "lambda_src"
        if against is None:
            trees["tree"] = LAMBDA_SRC
        samples: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
        baseline: list[float] = []
        for _ in range(rounds):
            baseline.append(float(_run(BASELINE_SCRIPT)["ms"]))  # type: ignore[arg-type]
            for tree, source in trees.items():
                for module in MODULES:
                    if not (source / Path(*module.split("."))).with_suffix(".py").exists():
                        continue  # not written yet at that revision
                    result = _run(MODULE_SCRIPT, module, lambda_src=source)
                    if "error" in result:
                        raise RuntimeError(f"{tree} {module}: {result['error']}")
                    samples[tree].setdefault(module, []).append(float(result["ms"]))  # type: ignore[arg-type]
    base = statistics.median(baseline)
    return {
        tree: {MODULES[m]: round(statistics.median(v) - base, 1) for m, v in modules.items()}
        | {"baseline (boto3 + client)": round(base, 1)}
        for tree, modules in samples.items()
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["authorizer"]:
        print(
            json.dumps(authorizer_timings(int(sys.argv[2]) if len(sys.argv) > 2 else 9), indent=1)
        )
        sys.exit(0)
    # python -m bench.coldstart <git revision> [rounds] [other revision]: cold start added
    # over boto3, A/B against the working tree (or the other revision).
    revision = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    figures = compare(revision, rounds, sys.argv[3] if len(sys.argv) > 3 else None)
    print(json.dumps(figures, indent=1))
