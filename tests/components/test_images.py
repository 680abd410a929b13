"""components.images: images.lock — one fixed tag per image, digests in sha256 form, kind's node images; the shipped lock parses."""

from __future__ import annotations

import pytest
import yaml

from components.images import LOCK, LOCKED_IMAGES, ImageLockError, parse_lock

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
