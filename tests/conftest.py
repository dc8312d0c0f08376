"""Shared by every test: fake credentials, so nothing can ever sign a request for real AWS;
and no local runner outside the tests marked `slow` (`make test-fast` leaves those out)."""

import os
from pathlib import Path
from typing import Any

import pytest

from local_runner import harness

ROOT = Path(__file__).resolve().parents[1]

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def pytest_configure(config: pytest.Config) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(FAKE_AWS)
    # Any shared config file on the machine could name real endpoints or profiles.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    # jsii runs `node` from PATH: put the project's supported Node first (as the Makefile
    # does) before any test imports aws_cdk, so no test runs on the machine's end-of-life Node.
    project_bin = ROOT / "node_modules" / ".bin"
    path = os.environ.get("PATH", "")
    if (project_bin / "node").exists() and not path.startswith(str(project_bin)):
        os.environ["PATH"] = f"{project_bin}{os.pathsep}{path}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the test's fixtures: a test not marked `slow` cannot start the local runner, not
    even through a shared fixture or a child process, so it cannot slip into the fast loop."""
    if item.get_closest_marker("slow") is None:
        os.environ[harness.REFUSE_ENV] = (
            f"{item.nodeid} is not marked slow; mark every test that starts the local runner"
            " with @pytest.mark.slow (make test-fast leaves those out)"
        )
    else:
        os.environ.pop(harness.REFUSE_ENV, None)


# The test modules that synthesize the app run in one xdist worker: each process that
# synthesizes pays jsii's start and its first synth, several seconds. Every other module goes
# to whichever worker is free, whole, as with `--dist loadfile`. (xdist's own `loadgroup` does
# not group under pytest 9.) tests/test_suite.py checks this list against what the modules do.
SYNTHESIZING = (
    "tests/infra/test_accounts.py",
    "tests/infra/test_checkov.py",
    "tests/infra/test_compliance.py",
    "tests/infra/test_contract.py",
    "tests/infra/test_delivery.py",
    "tests/infra/test_monitoring.py",
    "tests/infra/test_settings.py",
    "tests/infra/test_site.py",
    "tests/infra/test_snapshot.py",
    "tests/infra/test_template.py",
    "tests/test_docs.py",
    "tests/local_runner/test_apigw.py",
    "tests/local_runner/test_site.py",
    "tests/local_runner/test_template.py",
)


def synthesizing_scope(nodeid: str) -> str:
    """The scope a test is scheduled with: `synth` for those modules, else its file."""
    path = nodeid.split("::", 1)[0]
    return "synth" if path in SYNTHESIZING else path


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SynthesizingTogether(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return synthesizing_scope(nodeid)

    return SynthesizingTogether(config, log)
