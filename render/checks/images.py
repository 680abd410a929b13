"""The `images` layer: every image the stack's pods (and operator-run custom resources) use, with a
fixed tag, and in images.lock unless the stack builds it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..engine.deployed import Deployed
from ..engine.workloads import containers, pod_spec


def _image_parts(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of an image reference (tag "" when none is given)."""
    rest, _, digest = image.partition("@")
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, _, tag = rest.rpartition(":")
    else:
        tag = ""
    return rest, tag, digest


def istio_proxy_image(objects: Sequence[Deployed]) -> str | None:
    """The proxy image istiod's injector puts where a pod says `image: auto` (its gateway pods)."""
    for d in objects:
        if d.kind == "ConfigMap" and d.name.startswith("istio-sidecar-injector") and "values" in (d.obj.get("data") or {}):
            values = (json.loads(d.obj["data"]["values"]) or {}).get("global") or {}
            proxy = (values.get("proxy") or {}).get("image")
            if values.get("hub") and values.get("tag") and proxy:
                return f"{values['hub']}/{proxy}:{values['tag']}"
    return None


def image_inventory(objects: Sequence[Deployed], own_registries: Sequence[str] = (), locked: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every image the stack's pods (and operator-run custom resources) use; `latest` or no tag is an error,
    and so is an image `locked` (images.lock) does not list, unless the stack builds it
    (pinned by digest under one of `own_registries`).

    `image: auto` is Istio's placeholder that its injector replaces at admission with the
    mesh's proxy image: it counts as that image (and is an error when no istiod is there
    to replace it).
    """
    uses: dict[str, set[str]] = {}
    proxy = istio_proxy_image(objects)
    for d in objects:
        if d.origin == "dropped-hook":
            continue
        spec = pod_spec(d.obj)
        images = [str(c.get("image")) for _, c in containers(spec or {}) if c.get("image")]
        images = [proxy if image == "auto" and proxy else image for image in images]
        if spec is None and d.kind in ("Prometheus", "Alertmanager") and (d.obj.get("spec") or {}).get("image"):
            images.append(str(d.obj["spec"]["image"]))
        for image in images:
            uses.setdefault(image, set()).add(d.ref)
    entries, errors = [], []
    for image, refs in sorted(uses.items()):
        repository, tag, digest = _image_parts(image)
        entries.append({"image": image, "repository": repository, "tag": tag, "digest": digest, "used_by": sorted(refs)})
        if not digest and tag in ("", "latest"):
            errors.append({"check": "tag", "image": image, "used_by": sorted(refs), "message": f"{image} has no fixed tag ({tag or 'none'}): pin a version tag or a digest"})
        elif locked is not None and image not in locked and not (digest and any(image.startswith(p) for p in own_registries)):
            known = sorted(i for i in locked if i.rsplit(":", 1)[0] == image.rsplit(":", 1)[0].split("@")[0])
            hint = f" (locked: {', '.join(known)})" if known else ""
            errors.append({"check": "lock", "image": image, "used_by": sorted(refs), "message": f"{image} is not in images.lock{hint}: a mistyped tag is never pulled; "
                           "fix the tag, or after a deliberate upgrade run `make images-lock`"})
    return {"images": entries, "errors": errors, **({"locked": len(locked)} if locked is not None else {})}
