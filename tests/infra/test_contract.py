"""The stack and the functions agree on every variable, because neither side can disagree.

Each function's configuration is read from exactly the environment the synthesized template
gives it: every variable it reads is set, every variable set is read, none has a fallback,
and the values are the stage's settings.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from image_service.config import ConfigError

from stacks.image_service_stack import ImageServiceStack
from stacks.settings import Settings
from tests.functions.conftest import Functions, functions
from tests.infra.conftest import ROOT, cdk_json_context

__all__ = ["functions"]

# Read by Powertools itself, not by the service's configuration.
LIBRARY_PREFIXES = ("POWERTOOLS_",)
DEPLOY_TIME = "resolved-at-deploy"


class RecordingEnviron(Mapping[str, str]):
    def __init__(self, variables: Mapping[str, str]) -> None:
        self.variables = dict(variables)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self.variables[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)


def service_functions(stack: ImageServiceStack) -> dict[str, dict[str, str]]:
    """Handler -> the variables the template sets (references to resources as placeholders)."""
    found: dict[str, dict[str, str]] = {}
    resources = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    for resource in resources.values():
        props = resource["Properties"]
        handler = props.get("Handler", "")
        if not handler.startswith("image_service."):
            continue  # CDK's own custom-resource providers
        variables = props.get("Environment", {}).get("Variables", {})
        found[handler] = {
            name: value if isinstance(value, str) else DEPLOY_TIME
            for name, value in variables.items()
        }
    return found


def config_class(functions: Functions, handler: str) -> Any:
    module = importlib.import_module(handler.rsplit(".", 1)[0])
    return type(module.CONFIG)


def own_variables(variables: Mapping[str, str]) -> set[str]:
    return {name for name in variables if not name.startswith(LIBRARY_PREFIXES)}


def test_every_variable_a_function_reads_is_set_and_every_one_set_is_read(
    stacks: dict[str, ImageServiceStack], functions: Functions
) -> None:
    for stage, stack in stacks.items():
        handlers = service_functions(stack)
        assert len(handlers) >= 4, stage
        for handler, variables in handlers.items():
            environ = RecordingEnviron(variables)
            config_class(functions, handler).from_environ(environ)
            assert environ.read == own_variables(variables), f"{stage} {handler}"


def test_no_variable_has_a_fallback(
    stacks: dict[str, ImageServiceStack], functions: Functions
) -> None:
    for handler, variables in service_functions(stacks["dev"]).items():
        for name in own_variables(variables):
            without = {k: v for k, v in variables.items() if k != name}
            with pytest.raises(ConfigError, match=name):
                config_class(functions, handler).from_environ(without)


def test_functions_see_the_stages_settings(
    stacks: dict[str, ImageServiceStack], functions: Functions
) -> None:
    for stage, stack in stacks.items():
        settings = Settings.from_context(stage, cdk_json_context()["stages"][stage])
        for handler, variables in service_functions(stack).items():
            config = config_class(functions, handler).from_environ(variables)
            if hasattr(config, "renditions"):
                assert tuple(config.renditions.values()) == settings.renditions
            if hasattr(config, "default_rendition"):
                assert config.default_rendition == settings.default_rendition
            if hasattr(config, "max_upload_bytes"):
                assert config.max_upload_bytes == settings.max_upload_bytes
            if hasattr(config, "max_image_pixels"):
                assert config.max_image_pixels == settings.max_image_pixels
            if hasattr(config, "cors_origins"):
                assert config.cors_origins == settings.cors_origins
            if hasattr(config, "shared_caches"):
                # Only where no key is needed may any cache keep an image.
                expected = "edge" if settings.api_key_required else "any"
                assert config.shared_caches == expected, f"{stage} {handler}"


def test_the_shared_module_imports_nothing_from_aws() -> None:
    probe = (
        "import sys, json, image_service.contract, image_service.config, image_service.names;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(ROOT / "lambda_src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {name.split(".")[0] for name in json.loads(done.stdout)}
    assert not loaded & {"boto3", "botocore", "aws_lambda_powertools", "PIL", "aws_cdk", "jsii"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_runtime_code_never_imports_the_infrastructure() -> None:
    for path in (ROOT / "lambda_src").rglob("*.py"):
        roots = {name.split(".")[0] for name in _imports(path)}
        assert not roots & {"aws_cdk", "constructs", "stacks"}, path


# The constructs the stack composes; the stack wires them, they never reach into each other.
UNITS = ("storage", "catalogue", "processing", "accounts", "api", "delivery", "monitoring")


def test_constructs_do_not_import_their_siblings() -> None:
    for unit in UNITS:
        imported = _imports(ROOT / "stacks" / f"{unit}.py")
        siblings = {f"stacks.{other}" for other in UNITS if other != unit}
        assert not imported & siblings, unit
