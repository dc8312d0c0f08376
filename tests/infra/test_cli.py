"""The pinned CDK CLI, as a user runs it: synth and diff work with no AWS account at all."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from stacks.python_layer import PLATFORM_TAGS, PipLocalBundling, wheelhouse_for
from stacks.settings import Settings
from tests.infra.conftest import ROOT, cdk_json_context

SNAPSHOTS = Path(__file__).resolve().parent / "__snapshots__" / "test_snapshot"
# Lines a user would have to wonder about: Node end-of-life banners, unconfigured feature
# flags, notices, telemetry prompts, pip's complaints about the machine's configuration.
NOISE = re.compile(r"end-of-life|feature flag|NOTICES|telemetry|WARNING|deprecated", re.I)


# Every index pip could use points at a closed loopback port: any download fails at once.
NO_NETWORK_FOR_PIP = {
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
    "PIP_EXTRA_INDEX_URL": "http://127.0.0.1:9/simple",
    "PIP_RETRIES": "0",
    "PIP_TIMEOUT": "2",
}


def npx_cdk(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "AWS_EC2_METADATA_DISABLED": "true",  # no credential probing of a metadata endpoint
        **extra_env,
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


@pytest.mark.slow
def test_cli_synth_needs_no_network_once_the_wheels_are_kept(tmp_path: Path) -> None:
    """The layers' wheels stay in layers/.wheelhouse/: after the first synth for a platform,
    synth works with no network at all (pip cannot reach any index here)."""
    settings = Settings.from_context("dev", cdk_json_context()["stages"]["dev"])
    platform = PLATFORM_TAGS[settings.architecture]
    for layer in ("pillow", "powertools"):
        source = ROOT / "layers" / layer
        PipLocalBundling(
            source / "requirements.txt",
            platform,
            settings.python_version,
            wheelhouse_for(source, platform, settings.python_version),
        ).download()

    outdir = tmp_path / "cdk.out"
    synth = npx_cdk(
        "synth", "--quiet", "-c", "stage=dev", "--output", str(outdir), **NO_NETWORK_FOR_PIP
    )
    assert synth.returncode == 0, synth.stderr
    (pillow,) = outdir.glob("asset.*/python/PIL")
    assert (pillow / "__init__.py").is_file()
