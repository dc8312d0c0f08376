"""The pinned CDK CLI, as a user runs it: synth and diff work with no AWS account at all."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

SNAPSHOTS = Path(__file__).resolve().parent / "__snapshots__" / "test_snapshot"
# Lines a user would have to wonder about: Node end-of-life banners, unconfigured feature
# flags, notices, telemetry prompts, pip's complaints about the machine's configuration.
NOISE = re.compile(r"end-of-life|feature flag|NOTICES|telemetry|WARNING|deprecated", re.I)


def npx_cdk(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "AWS_EC2_METADATA_DISABLED": "true",  # no credential probing of a metadata endpoint
    }
    return subprocess.run(
        ["npx", "--no-install", "cdk", "--no-notices", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_cli_synth_and_diff_against_the_snapshot_run_offline(stage: str, tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    synth = npx_cdk("synth", "--quiet", "-c", f"stage={stage}", "--output", str(outdir))
    assert synth.returncode == 0, synth.stderr
    assert not NOISE.search(synth.stdout + synth.stderr), synth.stdout + synth.stderr
    assert (outdir / f"ImageService-{stage}.template.json").is_file()

    snapshot = SNAPSHOTS / f"test_template_matches_snapshot[{stage}].json"
    diff = npx_cdk(
        "diff", "--app", str(outdir), "--template", str(snapshot), f"ImageService-{stage}"
    )
    assert diff.returncode == 0, diff.stderr
    report = diff.stdout + diff.stderr
    # The committed snapshot describes the same resources the CLI synthesizes: the diff shows
    # only metadata and code asset keys, never a resource added or removed.
    assert "Number of stacks with differences" in report or "no differences" in report, report
    assert not re.search(r"^\[[+-]\] AWS::", report, re.M), report
