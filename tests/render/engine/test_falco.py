"""render.engine.falco: Falco's condition grammar — operators, lists, macros, and the conditions Falco would refuse to load."""

from __future__ import annotations

import pytest

from render.engine.falco import ConditionError, Rules, tokens


def test_a_broken_condition_is_refused():
    with pytest.raises(ConditionError, match="neither a macro nor a comparison"):
        Rules([{"rule": "r", "desc": "d", "condition": "spawned_proces and container", "output": "o", "priority": "WARNING"}])
    with pytest.raises(ConditionError, match="missing"):
        Rules([{"rule": "r", "desc": "d", "condition": "(container", "output": "o", "priority": "WARNING"}])


def rule(condition, items=()):
    return Rules([*items, {"rule": "r", "desc": "d", "condition": condition, "output": "o", "priority": "WARNING"}])


@pytest.mark.parametrize(("condition", "event", "fires"), [
    ("proc.name = bash", {"proc.name": "bash"}, True),
    ("proc.name != bash", {"proc.name": "bash"}, False),
    ("proc.name in (bash, sh)", {"proc.name": "sh"}, True),
    ("proc.name in (shells)", {"proc.name": "zsh"}, True),
    ("fd.name startswith /etc/", {"fd.name": "/etc/shadow"}, True),
    ("proc.cmdline contains \"stratum+tcp\"", {"proc.cmdline": "miner stratum+tcp://pool"}, True),
    ("not proc.name = bash and proc.tty != 0", {"proc.name": "sh", "proc.tty": 34816}, True),
    ("(proc.name = a or proc.name = b) and evt.dir = <", {"proc.name": "b", "evt.dir": "<"}, True),
    ("is_shell", {"proc.name": "dash"}, True),
])
def test_conditions_evaluate_as_falco_does(condition, event, fires):
    rules = rule(condition, [{"list": "shells", "items": ["bash", "sh", "zsh"]}, {"macro": "is_shell", "condition": "proc.name in (shells, dash)"}])

    assert rules.fires("r", event) is fires


def test_tokens_keep_quoted_strings_and_parentheses_apart():
    assert [(t.kind, t.text) for t in tokens('a in ("x y", b)')] == [
        ("word", "a"), ("word", "in"), ("op", "("), ("string", "x y"), ("op", ","), ("word", "b"), ("op", ")"),
    ]
