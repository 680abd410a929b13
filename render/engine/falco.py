"""Falco's rule conditions, offline: a parser and evaluator for the condition language the
platform's custom rules use, so each rule can be shown to fire on the event it is written
for and to stay quiet on the platform's own.

The grammar is Falco's (https://falco.org/docs/concepts/rules/conditions/): `and`, `or`,
`not`, parentheses, comparisons `field op value` with `=`, `!=`, `<`, `<=`, `>`, `>=`,
`in`, `intersects`, `pmatch`, `startswith`, `endswith`, `contains`, `icontains`, `exists`,
and macro and list names. An event is a mapping from field name (`proc.name`,
`fd.sip.name`, `k8s.ns.name`, ...) to its value; `fd.snet`/`fd.net` `in` CIDRs compare the
event's `fd.sip`. Macros of Falco's default ruleset that the platform's rules use are
given as `DEFAULT_MACROS` (their definitions in falco_rules.yaml, trimmed to the fields
events here carry).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_MACROS = {
    "spawned_process": "evt.type in (execve, execveat) and evt.dir = <",
    "container": "container.id != host",
    "open_read": "evt.type in (open, openat, openat2) and evt.is_open_read = true and fd.typechar = f and fd.num >= 0",
    "container_started": "(evt.type = container or (spawned_process and proc.vpid = 1))",
}

_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op><=|>=|!=|=|<|>|\(|\)|,)|(?P<word>[^\s(),=<>!"\']+))')
_BINARY = {"=", "!=", "<", "<=", ">", ">=", "in", "intersects", "pmatch", "startswith", "endswith", "contains", "icontains"}


class ConditionError(ValueError):
    """A condition Falco would refuse to load."""


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def tokens(condition: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(condition):
        if condition[pos:].strip() == "":
            break
        m = _TOKEN.match(condition, pos)
        if m is None or m.end() == pos:
            raise ConditionError(f"cannot read {condition[pos:pos + 20]!r}")
        kind = m.lastgroup or "word"
        text = m.group(kind)
        out.append(_Tok(kind, text[1:-1] if kind == "string" else text))
        pos = m.end()
    return out


class Rules:
    """Macros and lists (Falco's own defaults plus a rules file's) and the conditions using them."""

    def __init__(self, items: Sequence[Mapping[str, Any]] = (), macros: Mapping[str, str] | None = None) -> None:
        self.macros = dict(DEFAULT_MACROS if macros is None else macros)
        self.lists: dict[str, list[str]] = {}
        self.rules: dict[str, str] = {}
        for item in items:
            if "macro" in item:
                self.macros[item["macro"]] = str(item["condition"])
            elif "list" in item:
                self.lists[item["list"]] = [str(i) for i in item.get("items") or []]
            elif "rule" in item:
                self.rules[item["rule"]] = str(item["condition"])
        for name, condition in {**self.macros, **self.rules}.items():
            try:
                self._parse(condition, set())
            except ConditionError as error:
                raise ConditionError(f"{name}: {error}") from None

    def fires(self, rule: str, event: Mapping[str, Any]) -> bool:
        """Whether `rule` matches `event`."""
        return bool(self._parse(self.rules[rule], set())(event))

    # --- recursive descent: or > and > not > comparison ----------------------------------

    def _parse(self, condition: str, expanding: set[str]) -> Any:
        toks = tokens(condition)
        expr, pos = self._or(toks, 0, expanding)
        if pos != len(toks):
            raise ConditionError(f"unexpected {toks[pos].text!r}")
        return expr

    def _or(self, toks: list[_Tok], pos: int, expanding: set[str]) -> tuple[Any, int]:
        return self._chain(toks, pos, expanding, "or", self._and, lambda a, b: lambda e: a(e) or b(e))

    def _and(self, toks: list[_Tok], pos: int, expanding: set[str]) -> tuple[Any, int]:
        return self._chain(toks, pos, expanding, "and", self._not, lambda a, b: lambda e: a(e) and b(e))

    def _chain(
        self, toks: list[_Tok], pos: int, expanding: set[str], word: str,
        operand: Callable[[list[_Tok], int, set[str]], tuple[Any, int]], combine: Callable[[Any, Any], Any],
    ) -> tuple[Any, int]:
        """Operands joined by `word` (left-associative), each parsed by the next tighter rule."""
        left, pos = operand(toks, pos, expanding)
        while pos < len(toks) and toks[pos].text == word:
            right, pos = operand(toks, pos + 1, expanding)
            left = combine(left, right)
        return left, pos

    def _not(self, toks: list[_Tok], pos: int, expanding: set[str]) -> tuple[Any, int]:
        if pos < len(toks) and toks[pos].text == "not":
            inner, pos = self._not(toks, pos + 1, expanding)
            return (lambda a: lambda e: not a(e))(inner), pos
        return self._atom(toks, pos, expanding)

    def _atom(self, toks: list[_Tok], pos: int, expanding: set[str]) -> tuple[Any, int]:
        if pos >= len(toks):
            raise ConditionError("condition ends too early")
        tok = toks[pos]
        if tok.text == "(":
            inner, pos = self._or(toks, pos + 1, expanding)
            if pos >= len(toks) or toks[pos].text != ")":
                raise ConditionError("missing ')'")
            return inner, pos + 1
        if tok.kind != "word":
            raise ConditionError(f"unexpected {tok.text!r}")
        nxt = toks[pos + 1].text if pos + 1 < len(toks) else None
        if nxt in _BINARY:
            values, end = self._values(toks, pos + 2, nxt)
            return self._compare(tok.text, nxt, values), end
        if nxt == "exists":
            field = tok.text
            return (lambda e: field in e), pos + 2
        if tok.text in self.macros:
            if tok.text in expanding:
                raise ConditionError(f"macro {tok.text} refers to itself")
            return self._parse(self.macros[tok.text], expanding | {tok.text}), pos + 1
        raise ConditionError(f"{tok.text!r} is neither a macro nor a comparison")

    def _values(self, toks: list[_Tok], pos: int, op: str) -> tuple[list[str], int]:
        if pos >= len(toks):
            raise ConditionError(f"{op} needs a value")
        if toks[pos].text != "(":
            if op in ("in", "intersects", "pmatch"):
                raise ConditionError(f"{op} needs a parenthesised list")
            return [toks[pos].text], pos + 1
        values: list[str] = []
        pos += 1
        while pos < len(toks) and toks[pos].text != ")":
            if toks[pos].text != ",":
                name = toks[pos].text
                values += self.lists.get(name, [name]) if toks[pos].kind == "word" else [name]
            pos += 1
        if pos >= len(toks):
            raise ConditionError("missing ')' after a list")
        return values, pos + 1

    @staticmethod
    def _compare(field: str, op: str, values: list[str]) -> Any:
        def test(event: Mapping[str, Any]) -> bool:
            if field in ("fd.snet", "fd.net", "fd.cnet") and op == "in":
                address = event.get("fd.sip") if field != "fd.cnet" else event.get("fd.cip")
                if address is None:
                    return False
                ip = ipaddress.ip_address(str(address))
                return any(ip.version == n.version and ip in n for n in (ipaddress.ip_network(v, strict=False) for v in values))
            if field not in event:
                return False
            actual = event[field]
            text = str(actual).lower() if isinstance(actual, bool) else str(actual)
            if op == "=":
                return text == values[0]
            if op == "!=":
                return text != values[0]
            if op in ("<", "<=", ">", ">="):
                a, b = float(text), float(values[0])
                return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
            if op == "in":
                return text in values
            if op == "intersects":
                return bool(set(actual if isinstance(actual, (list, tuple, set)) else [text]) & set(values))
            if op == "pmatch":
                return any(text == v.rstrip("/") or text.startswith(v.rstrip("/") + "/") for v in values)
            if op == "startswith":
                return text.startswith(values[0])
            if op == "endswith":
                return text.endswith(values[0])
            if op == "contains":
                return values[0] in text
            return values[0].lower() in text.lower()  # icontains

        return test
