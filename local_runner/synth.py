"""Synthesizing a stage into a cloud assembly the runner reads."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent


class SynthError(Exception):
    pass


def synthesize(
    stage: str,
    out_dir: Path,
    project: Path = PROJECT,
    changes: Mapping[str, Any] | None = None,
) -> Path:
    """Run the CDK app (the `app` command of cdk.json) for `stage` into `out_dir`, with
    `changes` made to the stage's settings (for tests of a variant of a stage).

    This is what `cdk synth` does, minus layer bundling: the context key
    `aws:cdk:bundling-stacks=[]` (which the CLI refuses from users) skips it, because the
    local functions get the layers' packages from the venv, which pins the same versions.
    """
    cdk_json = json.loads((project / "cdk.json").read_text())
    stages = cdk_json.get("context", {}).get("stages", {})
    if changes and stage in stages:
        stages = {**stages, stage: {**stages[stage], **changes}}
    context = {
        **cdk_json.get("context", {}),
        "stages": stages,
        "stage": stage,
        "aws:cdk:bundling-stacks": [],
    }
    env = {
        key: value
        for key, value in os.environ.items()
        # Env-agnostic, as a synth without credentials would be.
        if key not in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION", "CDK_CONTEXT_JSON")
    }
    env.update(CDK_OUTDIR=str(out_dir), CDK_CONTEXT_JSON=json.dumps(context))
    if (out_dir / "manifest.json").is_file():
        shutil.rmtree(out_dir)  # a previous local synth: stale asset folders would pile up
    out_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        shlex.split(cdk_json["app"]),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SynthError(
            f"synthesizing stage {stage!r} failed:\n{result.stderr.strip() or result.stdout}"
        )
    return out_dir
