"""components.registry: the one surface components use of a registry, whichever backs it."""

from __future__ import annotations

from components.ecr import EcrRegistry
from components.local_registry import LocalRegistry
from components.registry import Registry


def test_both_registries_offer_the_registry_surface():
    for registry in (LocalRegistry, EcrRegistry):
        assert callable(getattr(registry, "repository_url", None)), registry
        assert "host" in registry.__annotations__, registry


def test_anything_with_a_host_and_repository_urls_is_a_registry():
    # Plain values stand in for Outputs: an Output made outside a program run would outlive the test.
    class Mirror:
        host = "mirror.example.com"

        def repository_url(self, service: str) -> str:
            return f"{self.host}/{service}"

    class NoUrls:
        host = "mirror.example.com"

    assert isinstance(Mirror(), Registry)
    assert not isinstance(NoUrls(), Registry)
