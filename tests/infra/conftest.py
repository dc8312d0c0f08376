"""Synthesized templates, one per stage, shared by every infrastructure test."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app as cdk_app
from stacks.image_service_stack import ImageServiceStack

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")
# A stage as committed with some settings changed: what the committed stages do not show.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    # No accounts: the template as it was before there were any.
    "dev-accounts-off": ("dev", {"accounts": "off"}),
    # Accounts and an API key: every route needs the key, writes a person too.
    "prod-api-key": ("prod", {"apiKeyRequired": True}),
}


def cdk_json_context() -> dict[str, Any]:
    """The context `cdk synth` gets: feature flags and per-stage settings from cdk.json."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def synthesize(stage: str, **context: Any) -> ImageServiceStack:
    """The stage's stack as app.py builds it, with layer bundling skipped (their asset hashes
    are computed from their pins, so the template is the same as a bundled synth)."""
    app = cdk.App(
        context={
            **cdk_json_context(),
            "stage": stage,
            "aws:cdk:bundling-stacks": [],
            # As the CLI does: construct paths in resource metadata, which also feed the API
            # deployment's logical id, so the snapshot holds the ids a real deploy uses.
            "aws:cdk:enable-path-metadata": True,
            **context,
        }
    )
    return cdk_app.build(app, environ={})


# id(template) -> (the template, kept so its id is never reused; its JSON text)
_template_json: dict[int, tuple[Template, str]] = {}


def template_json(template: Template) -> dict[str, Any]:
    """`template.to_json()`, which is a round trip of the whole template through the jsii
    runtime (about 0.15 s each time): made once per template, then parsed afresh for every
    caller, who may change its own copy."""
    found = _template_json.get(id(template))
    if found is None:
        found = _template_json[id(template)] = (template, json.dumps(template.to_json()))
    parsed: dict[str, Any] = json.loads(found[1])
    return parsed


def stage_settings(stage: str, **changes: Any) -> dict[str, Any]:
    """Every stage's settings from cdk.json, with `changes` made to `stage`'s."""
    stages: dict[str, Any] = copy.deepcopy(cdk_json_context()["stages"])
    stages[stage].update(changes)
    return stages


@functools.cache
def variant_stack(name: str) -> ImageServiceStack:
    stage, changes = VARIANTS[name]
    return synthesize(stage, stages=stage_settings(stage, **changes))


@functools.cache
def variant(name: str) -> Template:
    return Template.from_stack(variant_stack(name))


@functools.cache
def synthesized_stack(stage: str) -> ImageServiceStack:
    """The stage synthesized once per test session, for the infrastructure tests and the
    runner's template tests alike."""
    return synthesize(stage)


def synthesized_assembly(stage: str) -> Path:
    """The cloud assembly folder of `synthesized_stack(stage)` (synthesized once, then cached)."""
    return _assembly(synthesized_stack(stage))


def variant_assembly(name: str) -> Path:
    """The cloud assembly folder of `variant_stack(name)`."""
    return _assembly(variant_stack(name))


def _assembly(stack: ImageServiceStack) -> Path:
    stage_construct = cdk.Stage.of(stack)
    assert stage_construct is not None
    return Path(stage_construct.synth().directory)


@pytest.fixture(scope="session")
def stacks() -> dict[str, ImageServiceStack]:
    return {stage: synthesized_stack(stage) for stage in STAGES}


@pytest.fixture(scope="session")
def templates(stacks: dict[str, ImageServiceStack]) -> dict[str, Template]:
    return {stage: Template.from_stack(stack) for stage, stack in stacks.items()}


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest) -> str:
    stage_name: str = request.param
    return stage_name


@pytest.fixture
def template(templates: dict[str, Template], stage: str) -> Template:
    """Each stage in turn, for properties every stage must have."""
    return templates[stage]
