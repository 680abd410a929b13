"""Optional dependencies: which extra brings which SDK, and a clear error when it is missing.

The library's own dependencies are what `MicroserviceStack` and the in-cluster
components need. The AWS components (`EksCluster`, `EcrRegistry`) need the `aws`
extra; the local cluster and registry (`LocalCluster`, `LocalRegistry`) the `local`
extra. A module that uses such an SDK imports it through `optional_module`, so the
module itself (and its config model) imports without it, and using the component
raises one `MissingExtra` naming the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import NoReturn

EXTRA_OF: dict[str, str] = {"pulumi_aws": "aws", "pulumi_docker": "local", "pulumi_command": "local"}
"""SDK module -> the extra of `gitops-platform` that installs it."""


class MissingExtra(ImportError):
    """A component needs an SDK that is not installed; the message names the extra."""


def missing_extra(module: str, needed_by: str) -> MissingExtra:
    extra = EXTRA_OF[module]
    return MissingExtra(f"{needed_by} needs {module}, which is not installed: pip install 'gitops-platform[{extra}]'")


def installed(module: str) -> bool:
    """Whether `module` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


class _Absent(ModuleType):
    """Stands in for a missing SDK module: any use raises `MissingExtra`."""

    def __init__(self, name: str, needed_by: str) -> None:
        super().__init__(name)
        self._needed_by = needed_by

    def __getattr__(self, attribute: str) -> NoReturn:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise missing_extra(self.__name__, self._needed_by)


def optional_module(module: str, needed_by: str) -> ModuleType:
    """`module` imported, or a stand-in that raises `MissingExtra` (naming the extra) when used."""
    if not installed(module):
        return _Absent(module, needed_by)
    return importlib.import_module(module)
