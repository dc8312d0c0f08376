"""Just enough of IAM evaluation to ask "may this function do X to that key?" of a template."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from aws_cdk.assertions import Template

from tests.infra.conftest import template_json


def resources_of(template: Template, kind: str) -> dict[str, Any]:
    """The template's resources of one type, by logical id."""
    return {
        logical_id: found
        for logical_id, found in template_json(template)["Resources"].items()
        if found["Type"] == kind
    }


def function_id(template: Template, handler: str) -> str:
    functions = [
        logical_id
        for logical_id, found in resources_of(template, "AWS::Lambda::Function").items()
        if found["Properties"].get("Handler") == handler
    ]
    assert len(functions) == 1, f"expected one function with handler {handler}"
    return functions[0]


def _render(value: Any) -> str:
    """A resource ARN with intrinsics flattened: GetAtt X.Arn -> `arn:X`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"arn:{value['Fn::GetAtt'][0]}"
    if isinstance(value, dict) and "Ref" in value:
        return f"ref:{value['Ref']}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_render(part) for part in parts)
    return repr(value)


def allowed_statements(template: Template, handler: str) -> list[tuple[list[str], list[str]]]:
    """(actions, resources) of every Allow statement in the policies of the function's role."""
    function = template_json(template)["Resources"][function_id(template, handler)]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            resources = statement["Resource"]
            statements.append(
                (
                    actions if isinstance(actions, list) else [actions],
                    [
                        _render(r)
                        for r in (resources if isinstance(resources, list) else [resources])
                    ],
                )
            )
    return statements


def may(template: Template, handler: str, action: str, resource: str) -> bool:
    """Whether the function's role allows `action` on `resource` (rendered as `_render` does)."""
    return any(
        any(fnmatchcase(action, pattern) for pattern in actions)
        and any(fnmatchcase(resource, pattern) for pattern in resources)
        for actions, resources in allowed_statements(template, handler)
    )
