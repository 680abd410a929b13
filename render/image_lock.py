"""`make images-lock`: write `images.lock` from what the shipped stacks run, digests resolved online.

    python -m render.image_lock            # check: every image the shipped stacks run is locked (offline)
    python -m render.image_lock --lock     # rewrite images.lock: add new images, drop unused ones,
                                       # resolve missing digests from the registries (online)

The stacks are rendered offline as `make render` does (local, aws, aws with the sample
apps); the platform's own builds (digest-pinned in the stack's registry) are not locked.
A digest already recorded is kept: a tag that now points elsewhere is for review, not
for a silent rewrite (`--lock` says so and exits 1).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from components.charts import runtime_repository
from components.images import LOCK, lock_path, parse_lock, render_lock

SHIPPED: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("local", "Pulumi.local.yaml", {}),
    ("aws", "Pulumi.aws.yaml", {}),
    ("aws-apps", "Pulumi.aws.yaml", {"apps": {"enabled": True, "host": "app.example.com"}, "registry": {"services": ["backend", "frontend"]}}),
)
"""The stacks whose images the lock holds: (name, stack file, extra gitops-platform keys)."""

_ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
))


def built_by_stack(image: str, registries: Iterable[str]) -> bool:
    """The platform's own build: pinned by digest in one of the stack's registries."""
    return "@sha256:" in image and any(image.startswith(prefix) for prefix in registries)


def reference(image: str) -> tuple[str, str, str]:
    """(registry host, repository, tag) of `repository:tag`, Docker Hub's implicit parts spelled out."""
    host, _, repository = runtime_repository(image).partition("/")
    return ("registry-1.docker.io" if host == "docker.io" else host), repository, image.rpartition(":")[2]


def resolve_digest(image: str, scheme: str = "https", opener: Callable[..., Any] = urllib.request.urlopen) -> str:
    """The digest a registry serves for `image`'s tag (the OCI distribution API, anonymous bearer token if asked)."""
    host, repository, tag = reference(image)
    url = f"{scheme}://{host}/v2/{repository}/manifests/{tag}"
    headers = {"Accept": _ACCEPT}
    for _ in range(2):
        request = urllib.request.Request(url, method="HEAD", headers=headers)
        try:
            with opener(request, timeout=30) as response:
                digest = response.headers.get("Docker-Content-Digest", "")
                if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                    raise RuntimeError(f"{image}: {host} sent no digest for tag {tag}")
                return str(digest)
        except urllib.error.HTTPError as error:
            challenge = error.headers.get("WWW-Authenticate", "") if error.code == 401 else ""
            if not challenge.startswith("Bearer ") or "Authorization" in headers:
                raise RuntimeError(f"{image}: {host} answered {error.code} for tag {tag} (is the tag published?)") from None
            fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
            query = "&".join(f"{k}={fields[k]}" for k in ("service", "scope") if k in fields)
            with opener(urllib.request.Request(f"{fields['realm']}?{query}"), timeout=30) as response:
                body = json.loads(response.read())
            headers = {**headers, "Authorization": f"Bearer {body.get('token') or body.get('access_token')}"}
    raise RuntimeError(f"{image}: {host} refused the token it issued")


def shipped_images(root: Path) -> set[str]:
    """Every third-party image the shipped stacks run (rendered offline with the pinned charts)."""
    from .checks.images import image_inventory
    from .engine.charts import available
    from .engine.deployed import deployed_objects
    from .engine.facts import stack_registries
    from .engine.harness import read_stack_file, run_program
    from .engine.injection import as_admitted

    charts = available()
    found: set[str] = set()
    for name, stack_file, extra in SHIPPED:
        config, secrets = read_stack_file(root / stack_file)
        config.update({f"gitops-platform:{k}": v for k, v in extra.items()})
        run = run_program(name.split("-")[0], config, secret_keys=secrets)
        own = stack_registries(run)
        inventory = image_inventory(as_admitted(deployed_objects(run, charts).objects))
        found |= {i["image"] for i in inventory["images"] if not built_by_stack(i["image"], own)}
    return found


def relock(found: set[str], resolve: Callable[[str], str] = resolve_digest) -> tuple[dict[str, str], list[str]]:
    """(the lock's new images, problems): recorded digests kept, missing ones resolved."""
    images, problems = {}, []
    for image in sorted(found):
        digest = LOCK.images.get(image, "")
        if not digest:
            try:
                digest = resolve(image)
            except (RuntimeError, OSError) as error:
                problems.append(str(error))
        images[image] = digest
    return images, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m render.image_lock", description=__doc__.split("\n")[0])
    parser.add_argument("--lock", action="store_true", help="rewrite images.lock (online: resolves missing digests)")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    found = shipped_images(root)
    missing, unused = sorted(found - set(LOCK.images)), sorted(set(LOCK.images) - found)
    if not args.lock:
        for image in missing:
            print(f"  NOT LOCKED {image}: run `make images-lock`")
        for image in unused:
            print(f"  UNUSED     {image}: no shipped stack runs it; `make images-lock` drops it")
        print(f"images: {len(found)} run by the shipped stacks, {len(missing)} not in images.lock, {len(unused)} locked but unused")
        return 1 if missing or unused else 0
    images, problems = relock(found)
    path = lock_path()
    text = path.read_text()
    start = re.search(r"^images:", text, re.MULTILINE)
    header = text[: start.start()] if start else ""
    path.write_text(render_lock(images, LOCK, header))
    parse_lock(path.read_text(), str(path))
    for problem in problems:
        print(f"  NO DIGEST {problem}", file=sys.stderr)
    print(f"images.lock: {len(images)} images ({len(missing)} added, {len(unused)} dropped), {sum(1 for d in images.values() if d)} with digests")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
