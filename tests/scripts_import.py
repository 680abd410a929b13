"""Import helpers from scripts/ (not a package) for the tests."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("check_lock", Path(__file__).resolve().parents[1] / "scripts" / "check_lock.py")
check_lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_lock)
