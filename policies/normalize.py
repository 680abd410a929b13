"""What a rule sees: plain data, however the engine handed the resource over.

Under `pulumi preview --policy-pack`, the pack's analyzer server gives rules read-only
`Mapping`/`Sequence` proxies (that raise on unknown values), secrets as
`pulumi_policy.Secret`-like wrappers or the engine's secret signature, and unknowns as
sentinel strings. The offline render and the tests hand in plain dicts and lists. Every
rule reads `plain(props)`, so `isinstance(x, dict)` means the same thing everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

# The engine's marker for a secret value inside serialized properties.
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"
SPECIAL_SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"


class Unknown:
    """A value not known until the update (a preview of a resource that depends on an output).

    Any use of it — truth, comparison, formatting, lookup, iteration — raises the SDK's
    `UnknownValueError`, as the engine's own proxies do when a rule reads an unknown
    property; the rule wrappers (`rules.common`) then skip that rule for that resource at
    preview, and it runs on the known value at update. A verdict never rests on an unknown."""

    def _unknown(self, *args: Any, **kwargs: Any) -> Any:
        from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

        raise UnknownValueError(UNKNOWN_STRING_VALUE, [])

    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _unknown
    __str__ = __repr__ = __format__ = __len__ = __iter__ = __contains__ = __getitem__ = _unknown

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # protocol lookups (copy, pickle) see a plain object
            raise AttributeError(name)
        return self._unknown()


UNKNOWN = Unknown()


class PlainDict(dict[str, Any]):
    """A mapping `plain` already made: normalizing it again returns it as it is."""


_last = threading.local()
"""The last engine proxy normalized on this thread and its result: the engine hands every
rule of a resource the same read-only proxy, and a large object (a CRD) is walked once,
not once per rule. Only proxies: a plain dict may be changed between calls."""


def plain(value: Any) -> Any:
    """`value` as dicts, lists and scalars: proxies unwrapped, secrets revealed, unknowns as `UNKNOWN`."""
    if type(value) is PlainDict:
        return value
    proxy = isinstance(value, Mapping) and not isinstance(value, dict)
    if proxy and getattr(_last, "source", None) is value:
        return _last.result
    result = _plain(value)
    if proxy:
        _last.source, _last.result = value, result
    return result


def _plain(value: Any) -> Any:
    from pulumi_policy.proxy import UnknownValueError, _is_unknown

    scalars = (int, float, bool, type(None))

    def walk(value: Any) -> Any:
        # Exact types first: the render's props are plain dicts, lists and strings, and a CRD
        # has tens of thousands of them; the engine's read-only proxies take the general path.
        kind = type(value)
        if kind is str:
            return UNKNOWN if _is_unknown(value) else value
        if kind in scalars or kind is PlainDict:
            return value
        if kind is Unknown:
            return UNKNOWN
        if kind.__name__ == "Secret" and hasattr(value, "value"):
            return walk(value.value)
        if kind is dict or isinstance(value, Mapping):
            if value.get(SPECIAL_SIGNATURE_KEY) == SECRET_SIGNATURE and "value" in value:
                return walk(value["value"])
            out = PlainDict()
            for key in value:
                try:
                    out[str(key)] = walk(value[key])
                except UnknownValueError:  # a proxy's unknown member
                    out[str(key)] = UNKNOWN
            return out
        if kind is list or (isinstance(value, Sequence) and not isinstance(value, str | bytes)):
            items = []
            for i in range(len(value)):
                try:
                    items.append(walk(value[i]))
                except UnknownValueError:
                    items.append(UNKNOWN)
            return items
        if isinstance(value, str) and _is_unknown(value):
            return UNKNOWN
        return value

    return walk(value)
