"""render.checks.images: every image the stacks run is locked, and a mistyped tag fails the render offline, naming the locked one."""

from __future__ import annotations

from components.images import LOCKED_IMAGES
from render.checks.images import image_inventory
from render.engine.deployed import Deployed
from render.engine.facts import stack_registries
from render.image_lock import built_by_stack


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


def test_the_lock_holds_exactly_the_images_the_shipped_stacks_run(rendered):
    run_images = set()
    for stack in ("local", "aws", "aws-apps"):
        run, data, _ = rendered(stack)
        assert data["images"]["errors"] == []
        own = stack_registries(run)
        run_images |= {i["image"] for i in data["images"]["images"] if not built_by_stack(i["image"], own)}

    assert run_images == set(LOCKED_IMAGES), "run `make images-lock` after changing what the stacks run"


# --- make images-lock ---------------------------------------------------------------------------


def test_the_stacks_own_builds_are_not_locked():
    built = "localhost:5001/backend@sha256:" + "1" * 64

    assert image_inventory([_pod(built)], ["localhost:5001/"], {})["errors"] == []
    assert built_by_stack(built, ["localhost:5001/"]) and not built_by_stack("localhost:5001/backend:1", ["localhost:5001/"])
    assert image_inventory([_pod("localhost:5001/backend:1")], ["localhost:5001/"], {})["errors"]
