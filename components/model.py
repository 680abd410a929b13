"""Base of every config model, and the error cross-field validators raise."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Base of every config model: frozen, unknown keys rejected, camelCase in YAML.

    Python callers (app teams building a config in code) may use the snake_case field
    names; the stack-file loader accepts only the camelCase spelling, so each key has
    exactly one way to be written in `Pulumi.<stack>.yaml`.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        validate_default=True,
    )


MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
"""Stands for a key that was not given at all (as opposed to given as null)."""


class KeyProblem(ValueError):
    """Raised by cross-field validators to point at the exact key that must change.

    `key` is relative to the model that raises (camelCase, dots for nesting); the
    loader appends it to the model's own path, so the message names the full key.
    """

    def __init__(self, key: str, message: str, value: Any = MISSING) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.value = value
