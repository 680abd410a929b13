"""Import helpers from scripts/ (not a package) for the tests."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "pinned_requirements", Path(__file__).resolve().parents[1] / "scripts" / "pinned_requirements.py"
)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
pinned_requirements = _module.pinned_requirements
