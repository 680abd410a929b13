"""render.engine.processes: work on the other core comes back as it would have in-process."""

from __future__ import annotations

import os
import threading

import pytest

from render.engine.processes import ChildFailed, forked


def test_the_result_comes_back_from_another_process():
    join = forked(lambda: {"pid": os.getpid(), "section": [1, "two", {"three": 3.0}]})

    result = join()

    assert result["section"] == [1, "two", {"three": 3.0}]
    assert result["pid"] != os.getpid()
    assert join() is result  # a second join returns the same result without waiting again


def test_a_large_result_does_not_block_on_the_pipe():
    join = forked(lambda: "x" * 5_000_000)

    assert len(join()) == 5_000_000


def test_the_childs_exception_is_raised_in_the_parent():
    def work() -> None:
        raise ValueError("bad section")

    with pytest.raises(ValueError, match="bad section"):
        forked(work)()


def test_an_unpicklable_result_fails_loudly():
    with pytest.raises(ChildFailed, match="pickle"):
        forked(lambda: threading.Lock())()


def test_a_child_yields_the_cpu_to_its_parent():
    from render.engine.processes import CHILD_NICENESS

    parent = os.nice(0)

    assert forked(lambda: os.nice(0))() == min(parent + CHILD_NICENESS, 19)
    assert os.nice(0) == parent  # the parent keeps its own priority
