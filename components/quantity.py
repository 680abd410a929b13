"""Kubernetes resource quantities ("250m", "0.5", "128Mi", "1G") as numbers."""

from __future__ import annotations

import re
from typing import Any

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)([a-zA-Z]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def cpu_millicores(quantity: Any) -> float:
    """A CPU quantity ("250m", "0.5", 2) in millicores."""
    match = _QUANTITY.match(str(quantity))
    if not match or match.group(2) not in ("", "m"):
        raise ValueError(f"not a CPU quantity: {quantity!r} (use e.g. 250m or 0.5)")
    number = float(match.group(1))
    return number if match.group(2) == "m" else number * 1000


def memory_mib(quantity: Any) -> float:
    """A memory quantity ("128Mi", "1G", 1048576) in MiB."""
    match = _QUANTITY.match(str(quantity))
    factor = (_BINARY.get(match.group(2)) or _DECIMAL.get(match.group(2))) if match else None
    if match is None or factor is None:
        raise ValueError(f"not a memory quantity: {quantity!r} (use e.g. 128Mi or 1Gi)")
    return float(match.group(1)) * factor / 2**20
