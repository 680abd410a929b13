"""What a rule sees: plain data, however the engine handed the resource over.

Under `pulumi preview --policy-pack`, the pack's analyzer server gives rules read-only
`Mapping`/`Sequence` proxies (that raise on unknown values), secrets as
`pulumi_policy.Secret`-like wrappers or the engine's secret signature, and unknowns as
sentinel strings. The offline render and the tests hand in plain dicts and lists. Every
rule reads `plain(props)`, so `isinstance(x, dict)` means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The engine's marker for a secret value inside serialized properties.
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"
SPECIAL_SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"


class Unknown:
    """A value not known until the update (a preview of a resource that depends on an output)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()


def plain(value: Any) -> Any:
    """`value` as dicts, lists and scalars: proxies unwrapped, secrets revealed, unknowns as `UNKNOWN`."""
    from pulumi_policy.proxy import UnknownValueError, _is_unknown

    if hasattr(value, "value") and type(value).__name__ == "Secret":
        return plain(value.value)
    if isinstance(value, Mapping):
        if value.get(SPECIAL_SIGNATURE_KEY) == SECRET_SIGNATURE and "value" in value:
            return plain(value["value"])
        out = {}
        for key in value:
            try:
                out[str(key)] = plain(value[key])
            except UnknownValueError:
                out[str(key)] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for i in range(len(value)):
            try:
                items.append(plain(value[i]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    if isinstance(value, str) and _is_unknown(value):
        return UNKNOWN
    return value
