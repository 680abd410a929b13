"""Work done beside the render on the machine's other core: a forked child process.

The render is CPU-bound Python (one core per process). Pieces that need nothing back but
their result — emitting the manifests, the admission layer — run in a forked child while
the parent goes on, and the parent collects the result when it needs it. The parent's own
work is the render's critical path, so a child runs at a lower priority (`CHILD_NICENESS`):
on two cores the parent keeps one to itself and the children share the other.

The child only runs Python and C extensions without threads of their own (regopy,
jsonschema, PyYAML): never the Helm library, whose Go threads a fork does not copy. It
leaves with `os._exit`, so nothing of the parent (atexit handlers, buffered files, pytest
workers' channels) runs twice.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")

CHILD_NICENESS = 10
"""How much lower a child's scheduling priority is than its parent's (`os.nice`)."""


class ChildFailed(RuntimeError):
    """The forked work raised, and its exception could not be carried back as it is."""


def forked(work: Callable[[], T]) -> Callable[[], T]:
    """Start `work` in a forked child; the returned `join()` waits for it and returns its result
    (or raises its exception). Without `fork` (Windows), `work` runs when `join()` is called."""
    if not hasattr(os, "fork"):
        return work
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        os.nice(CHILD_NICENESS)
        code = 1
        try:
            outcome: tuple[str, Any] = ("ok", work())
            code = 0
        except BaseException as error:
            traceback.print_exc()
            outcome = ("error", error)
        try:
            payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:  # an unpicklable result or exception
            payload = pickle.dumps(("error", ChildFailed(f"{type(error).__name__}: {error}")))
            code = 1
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(code)
    os.close(write_end)
    done: list[T] = []

    def join() -> T:
        if done:
            return done[0]
        with os.fdopen(read_end, "rb") as pipe:  # read to the end first: the child blocks on a full pipe
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        if not payload:
            raise ChildFailed(f"the child process died without a result (exit status {os.waitstatus_to_exitcode(status)})")
        kind, value = pickle.loads(payload)
        if kind == "error":
            raise value
        done.append(cast(T, value))
        return done[0]

    return join
