"""The image lock: every image the stacks run is locked, a mistyped tag fails the render offline,
kind's node images come from the lock, and `make images-lock` resolves digests from a registry."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest
import yaml

from components.images import LOCK, LOCKED_IMAGES, ImageLockError, parse_lock
from render.checks.images import image_inventory
from render.engine.deployed import Deployed
from render.engine.facts import stack_registries
from render.image_lock import built_by_stack, reference, relock, resolve_digest

DIGEST = "sha256:" + "ab" * 32
NODE = "kindest/node:v1.35.8@sha256:" + "0" * 64


def lock_text(images: list[dict], nodes: list[str] | None = None) -> str:
    return yaml.safe_dump({"images": images, "kind": {"release": "v0.33", "nodeImages": nodes if nodes is not None else [NODE]}})


@pytest.mark.parametrize(("images", "nodes", "problem"), [
    ([{"image": "quay.io/x/y:latest", "digest": ""}], None, "needs one fixed tag (never latest)"),
    ([{"image": "quay.io/x/y", "digest": ""}], None, "needs one fixed tag"),
    ([{"image": "quay.io/x/y:1", "digest": "sha256:abc"}], None, "must be sha256:<64 lowercase hex>"),
    ([{"image": "quay.io/x/y:1", "digest": ""}, {"image": "quay.io/x/y:1", "digest": ""}], None, "may be listed once"),
    ([{"image": "quay.io/x/y:1"}], None, "exactly image and digest"),
    ([], ["kindest/node:v1.35.8"], "kind.nodeImages must list kindest/node:vX.Y.Z@sha256"),
    ([], [], "kind.nodeImages must list"),
])
def test_a_malformed_lock_is_refused_naming_the_entry(images, nodes, problem):
    with pytest.raises(ImageLockError) as error:
        parse_lock(lock_text(images, nodes), "images.lock")

    assert problem in str(error.value) and str(error.value).startswith("images.lock")


def test_the_shipped_lock_parses_and_defaults_to_its_first_node_image():
    from components.local_cluster import DEFAULT_NODE_IMAGE

    assert LOCK.node_images[0] == DEFAULT_NODE_IMAGE
    assert LOCKED_IMAGES and all(":" in i.rsplit("/", 1)[-1] for i in LOCKED_IMAGES)


def _pod(image: str) -> Deployed:
    spec = {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}
    return Deployed({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "apps"}, "spec": spec}, "urn:d", "chart")


def test_an_image_not_in_the_lock_fails_the_render_naming_the_locked_tag():
    locked = {"quay.io/prometheus/prometheus:v3.14.0-distroless": ""}

    [error] = image_inventory([_pod("quay.io/prometheus/prometheus:v3.14.0-distroles")], (), locked)["errors"]

    assert error["used_by"] == ["Deployment apps/api"]
    assert "is not in images.lock (locked: quay.io/prometheus/prometheus:v3.14.0-distroless)" in error["message"]
    assert "fix the tag" in error["message"]
    assert image_inventory([_pod("quay.io/prometheus/prometheus:v3.14.0-distroless")], (), locked)["errors"] == []


def test_the_stacks_own_builds_are_not_locked():
    built = "localhost:5001/backend@sha256:" + "1" * 64

    assert image_inventory([_pod(built)], ["localhost:5001/"], {})["errors"] == []
    assert built_by_stack(built, ["localhost:5001/"]) and not built_by_stack("localhost:5001/backend:1", ["localhost:5001/"])
    assert image_inventory([_pod("localhost:5001/backend:1")], ["localhost:5001/"], {})["errors"]


def test_the_lock_holds_exactly_the_images_the_shipped_stacks_run(rendered):
    run_images = set()
    for stack in ("local", "aws", "aws-apps"):
        run, data, _ = rendered(stack)
        assert data["images"]["errors"] == []
        own = stack_registries(run)
        run_images |= {i["image"] for i in data["images"]["images"] if not built_by_stack(i["image"], own)}

    assert run_images == set(LOCKED_IMAGES), "run `make images-lock` after changing what the stacks run"


# --- make images-lock ---------------------------------------------------------------------------


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
