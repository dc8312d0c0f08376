"""Unit-level fixtures are the handler tests' own (same environment, same moto session):
each handler module reads its environment once, at import, so every test directory that
calls the handlers in this process must agree on it."""

from tests.functions.conftest import _moto, aws, context, functions

__all__ = ["_moto", "aws", "context", "functions"]
