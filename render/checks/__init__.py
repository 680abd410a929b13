"""The render's checks, as a registry: every check has one shape, and the report iterates them.

    python -m render --list-checks          # name, layer, severity, description, remediation
    python -m render local --out build/x --disable network.external
    metadata.annotations["gitops-platform.io/ignore-check.<name>"] = "<why>"   # on one object

A `Layer` computes one section of `report.json` from a `Context` (the stack's objects,
admitted objects, facts and run) once; a `Check` turns part of it into `Finding`s, each
with the check's name and remediation. `judge` runs every check, sets aside what a
`--disable` or an object's ignore annotation (with its reason) excludes, and returns
the rest: an error among them fails the render. A check added to `CHECKS` (with its own
`run`) is run, reported, disabled and ignored like the built-in ones.
"""

from .registry import (
    CHECKS,
    IGNORE_ANNOTATION,
    LAYERS,
    Check,
    Context,
    Finding,
    Judgement,
    UnknownCheck,
    judge,
    sarif,
)

__all__ = ["CHECKS", "IGNORE_ANNOTATION", "LAYERS", "Check", "Context", "Finding", "Judgement", "UnknownCheck", "judge", "sarif"]
