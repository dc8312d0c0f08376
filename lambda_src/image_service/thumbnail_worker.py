"""Placeholder until the runtime code lands (issue 3)."""


def handler(event, context):  # type: ignore[no-untyped-def]
    raise NotImplementedError
