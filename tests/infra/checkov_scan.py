"""checkov's CloudFormation checks over both stages' templates; any unskipped finding fails.

    .venv/bin/python -m tests.infra.checkov_scan    # what `make lint` runs

checkov pins its own boto3 and packaging far from this project's pins, so it lives in a venv
of its own (`.venv-checkov`, from requirements-checkov.txt) and runs as a program. Findings the
design accepts are skipped in the resources' metadata, each with its reason
(`stacks/acknowledgements.py`'s `skip_checkov`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@dataclass(frozen=True)
class Report:
    passed: int
    failed: list[str]  # "<check id> <resource>: <check name>"
    skipped: list[str]  # "<check id> <resource>: <reason>"


def scan(templates: dict[str, Path]) -> dict[str, Report]:
    """Run checkov once over every stage's template file; one report per stage."""
    if not CHECKOV.is_file():
        raise FileNotFoundError(f"{CHECKOV} is missing: `make setup` installs it")
    command = [str(CHECKOV), "--framework", "cloudformation", "--output", "json"]
    for path in templates.values():
        command += ["--file", str(path)]
    # Offline: no policy metadata download, no version check against PyPI.
    command.append("--skip-download")
    environment = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if result.returncode not in (0, 1):  # 1: findings; anything else: checkov itself failed
        raise RuntimeError(f"checkov exited {result.returncode}:\n{result.stderr[-3000:]}")
    output: Any = json.loads(result.stdout)
    results = output["results"]
    if results.get("parsing_errors"):
        raise RuntimeError(f"checkov could not parse {results['parsing_errors']}")
    stage_of = {path.name: stage for stage, path in templates.items()}
    reports = {}
    for stage in templates:

        def of_this_stage(kind: str, stage: str = stage) -> list[dict[str, Any]]:
            return [c for c in results[kind] if stage_of[Path(c["file_path"]).name] == stage]

        reports[stage] = Report(
            passed=len(of_this_stage("passed_checks")),
            failed=sorted(
                f"{c['check_id']} {c['resource']}: {c['check_name']}"
                for c in of_this_stage("failed_checks")
            ),
            skipped=sorted(
                f"{c['check_id']} {c['resource']}: {c['check_result']['suppress_comment']}"
                for c in of_this_stage("skipped_checks")
            ),
        )
    return reports


def main() -> int:
    from aws_cdk.assertions import Template

    from tests.infra.conftest import STAGES, synthesize

    with tempfile.TemporaryDirectory(prefix="checkov-") as folder:
        templates = {}
        for stage in STAGES:
            stack = synthesize(stage)
            path = Path(folder) / f"{stack.stack_name}.template.json"
            path.write_text(json.dumps(Template.from_stack(stack).to_json()))
            templates[stage] = path
        reports = scan(templates)
    for stage, report in reports.items():
        print(
            f"checkov {stage}: {report.passed} passed, {len(report.failed)} failed, "
            f"{len(report.skipped)} skipped (each with its reason in the template)"
        )
        for finding in report.failed:
            print(f"  FAILED {finding}")
    return 1 if any(report.failed for report in reports.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
