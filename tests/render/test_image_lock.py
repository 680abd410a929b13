"""render.image_lock: `make images-lock` — references spelt out, digests resolved through a registry's token challenge, what it cannot resolve reported."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from components.images import LOCK
from render.image_lock import reference, relock, resolve_digest

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("image", "expected"), [
    ("curlimages/curl:8.20.0", ("registry-1.docker.io", "curlimages/curl", "8.20.0")),
    ("redis:8", ("registry-1.docker.io", "library/redis", "8")),
    ("docker.io/istio/pilot:9.9.9", ("registry-1.docker.io", "istio/pilot", "9.9.9")),
    ("quay.io/argoproj/argocd:v3.4.4", ("quay.io", "argoproj/argocd", "v3.4.4")),
    ("localhost:5001/app:1", ("localhost:5001", "app", "1")),
])
def test_references_spell_out_docker_hubs_implicit_parts(image, expected):
    assert reference(image) == expected


@pytest.fixture
def registry() -> Iterator[str]:
    """A registry on 127.0.0.1 that asks for an anonymous bearer token, as Docker Hub does."""
    class Registry(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # the token endpoint
            assert "scope=repository:team/app:pull" in self.path
            body = json.dumps({"token": "t0ken"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self) -> None:
            host = f"127.0.0.1:{self.server.server_address[1]}"
            if self.headers.get("Authorization") != "Bearer t0ken":
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'Bearer realm="http://{host}/token",service="registry",scope="repository:team/app:pull"')
                self.end_headers()
            elif self.path == "/v2/team/app/manifests/1.0" and "oci.image.index" in self.headers.get("Accept", ""):
                self.send_response(200)
                self.send_header("Docker-Content-Digest", DIGEST)
                self.end_headers()
            else:
                self.send_response(404)
                self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_digest_is_resolved_through_the_registrys_token_challenge(registry):
    assert resolve_digest(f"{registry}/team/app:1.0", scheme="http") == DIGEST


def test_an_unpublished_tag_is_named(registry):
    with pytest.raises(RuntimeError) as error:
        resolve_digest(f"{registry}/team/app:1.1", scheme="http")

    assert f"{registry}/team/app:1.1: {registry} answered 404 for tag 1.1 (is the tag published?)" == str(error.value)


def test_relock_keeps_recorded_digests_and_reports_what_it_cannot_resolve(monkeypatch):
    monkeypatch.setitem(LOCK.images, "quay.io/a/kept:1", "sha256:" + "c" * 64)
    asked = []

    def resolve(image: str) -> str:
        asked.append(image)
        if image.endswith("broken:1"):
            raise RuntimeError(f"{image}: quay.io answered 404")
        return DIGEST

    images, problems = relock({"quay.io/a/kept:1", "quay.io/a/new:1", "quay.io/a/broken:1"}, resolve)

    assert images == {"quay.io/a/kept:1": "sha256:" + "c" * 64, "quay.io/a/new:1": DIGEST, "quay.io/a/broken:1": ""}
    assert asked == ["quay.io/a/broken:1", "quay.io/a/new:1"] and problems == ["quay.io/a/broken:1: quay.io answered 404"]
