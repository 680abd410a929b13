"""The image lock (`images.lock`): every third-party image any stack runs, and kind's node images.

    from components.images import LOCKED_IMAGES, KIND_NODE_IMAGES

The render fails on any image a rendered pod runs that the lock does not list (a
mistyped tag is caught offline), except the platform's own builds, which the stack
pins by digest in its own registry. `cluster.nodeImage` must be one of the node images
the pinned kind release publishes. Digests are "" until `make images-lock` (online)
resolves them from the registries; after that the policy pack and Gatekeeper can require
them. Shipped in the wheel beside this module, like `charts.lock`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .charts import read_shipped, shipped_file

LOCK_FILE = "images.lock"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_NODE_IMAGE = re.compile(r"^kindest/node:v(\d+\.\d+\.\d+)@(sha256:[0-9a-f]{64})$")


class ImageLockError(ValueError):
    """The image lock is missing or malformed: what is wrong, and where."""


@dataclass(frozen=True)
class ImageLock:
    images: dict[str, str]
    """Image as the pods name it (`repository:tag`) -> its digest ("" until resolved)."""
    kind_release: str
    """The kind minor release (`v0.33`) the node images are built for."""
    node_images: tuple[str, ...]
    """kind's published node images for that release (`kindest/node:vX.Y.Z@sha256:...`), the default first."""


def lock_path() -> Path:
    """The image lock: inside the installed package (wheel), else at the top of the checkout."""
    return shipped_file(LOCK_FILE)


def parse_lock(text: str, source: str = LOCK_FILE) -> ImageLock:
    """An image lock's text, every entry checked (a tag or digest per image, digest form, node image form)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ImageLockError(f"{source}: not YAML: {error}") from None
    if not isinstance(data, dict) or set(data) != {"images", "kind"}:
        raise ImageLockError(f"{source}: expected exactly `images:` and `kind:`")
    images: dict[str, str] = {}
    for index, entry in enumerate(data["images"] or []):
        where = f"{source}: images[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"image", "digest"}:
            raise ImageLockError(f"{where}: each entry has exactly image and digest")
        image, digest = str(entry["image"] or ""), str(entry["digest"] or "")
        last = image.split("@", 1)[0].rsplit("/", 1)[-1]
        if ":" not in last or last.endswith((":latest", ":")) or image in images:
            raise ImageLockError(f"{where}: image {image!r} needs one fixed tag (never latest) and may be listed once")
        if digest and not _DIGEST.match(digest):
            raise ImageLockError(f"{where} ({image}): digest {digest!r} must be sha256:<64 lowercase hex> or \"\" (not resolved yet)")
        images[image] = digest
    kind = data["kind"]
    if not isinstance(kind, dict) or set(kind) != {"release", "nodeImages"} or not re.fullmatch(r"v\d+\.\d+", str(kind["release"])):
        raise ImageLockError(f"{source}: kind: needs release (vX.Y) and nodeImages")
    nodes = tuple(str(n) for n in kind["nodeImages"] or [])
    bad = [n for n in nodes if not _NODE_IMAGE.match(n)]
    if not nodes or bad:
        raise ImageLockError(f"{source}: kind.nodeImages must list kindest/node:vX.Y.Z@sha256:<64 hex> images (bad: {', '.join(bad) or 'none listed'})")
    return ImageLock(images, str(kind["release"]), nodes)


def _read_lock() -> ImageLock:
    path = lock_path()
    return parse_lock(read_shipped(path, "image lock", ImageLockError), str(path))


LOCK: ImageLock = _read_lock()
LOCKED_IMAGES: dict[str, str] = LOCK.images
KIND_RELEASE: str = LOCK.kind_release
KIND_NODE_IMAGES: tuple[str, ...] = LOCK.node_images


def node_image_version(image: str) -> str | None:
    """`1.35.8` of `kindest/node:v1.35.8@sha256:...` (None for another form)."""
    match = _NODE_IMAGE.match(image)
    return match.group(1) if match else None


def render_lock(images: dict[str, str], lock: ImageLock, header: str) -> str:
    """The lock's text for `images` (kind's entries kept), sorted, with `header` on top."""
    body = {
        "images": [{"image": image, "digest": images[image]} for image in sorted(images)],
        "kind": {"release": lock.kind_release, "nodeImages": list(lock.node_images)},
    }
    return header + yaml.safe_dump(body, sort_keys=False)
