"""What every image registry of the platform offers, whichever backs it.

Components that deploy images take "a registry" (`LocalRegistry` on `local`,
`EcrRegistry` on `aws`) and use only this surface.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pulumi


@runtime_checkable
class Registry(Protocol):
    """An image registry the cluster pulls from and the platform pushes to."""

    host: pulumi.Output[str]
    """`host[:port]` that image references start with (what pods pull and `docker push` targets)."""

    def repository_url(self, service: str) -> pulumi.Output[str]:
        """`host/<repository>` for a service's images; tag or digest is appended by the caller."""
        ...
