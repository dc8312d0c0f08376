"""Shared by every test: fake credentials, so nothing can ever sign a request for real AWS."""

import os
from pathlib import Path

import pytest

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
