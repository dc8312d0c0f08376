"""The suite's own arrangement: the modules that synthesize the app are the ones scheduled
together (tests/conftest.py), so the fast loop pays jsii's start in one process only."""

from __future__ import annotations

import pytest

from tests import conftest
from tests.infra import conftest as infra

# What reaches a synthesized stack: the fixtures and helpers that make one.
SYNTH_FIXTURES = frozenset(
    {"stacks", "templates", "template", "stage_assemblies", "dev_service", "prod_service"}
    | {"keyed_service", "dev_site"}
)
SYNTHESIZERS = (
    infra.synthesize,
    infra.synthesized_stack,
    infra.synthesized_assembly,
    infra.variant,
    infra.variant_stack,
    infra.variant_assembly,
)


def synthesizes(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return bool(SYNTH_FIXTURES & set(getattr(item, "fixturenames", ()))) or any(
        any(value is synthesizer for synthesizer in SYNTHESIZERS) for value in vars(module).values()
    )


def test_the_modules_that_synthesize_are_the_ones_scheduled_together(
    request: pytest.FixtureRequest,
) -> None:
    items = request.session.items
    if len({item.nodeid.split("::")[0] for item in items}) < 10:
        pytest.skip("needs the whole suite collected (run with the others)")
    modules = {item.nodeid.split("::")[0]: synthesizes(item) for item in items}
    for item in items:
        path = item.nodeid.split("::")[0]
        modules[path] = modules[path] or synthesizes(item)
    scheduled = {path for path in modules if conftest.synthesizing_scope(path) == "synth"}
    synthesizing = {path for path, does in modules.items() if does}
    assert synthesizing - scheduled == set(), "add these to tests/conftest.py's SYNTHESIZING"
    assert scheduled - synthesizing == set(), "these synthesize nothing: leave them out there"
