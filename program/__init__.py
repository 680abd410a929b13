"""The gitops-platform program: read and validate the stack's config, build the platform, export.

`__main__.py` calls `main()`; the offline render and the tests run it under mocks.

    from program import main
    platform = main()          # inside a Pulumi program
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.config import NAMESPACE, NOT_A_VALUE, ConfigError, PlatformConfig, Problem, parse_config
from components.platform import Platform


def _decode(value: Any) -> Any:
    # The engine hands structured config to the program as JSON text; scalars as plain text.
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def raw_config() -> dict[str, Any]:
    """Every `gitops-platform:` key the engine passed to this program, decoded."""
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix):]: _decode(v) for k, v in merged.items() if k.startswith(prefix)}


def secret_config_keys() -> set[str]:
    """Top-level `gitops-platform:` keys whose value came from secret config."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix):] for k in keys if k.startswith(prefix)}


def load_config() -> PlatformConfig:
    """Read and validate this stack's configuration (call before creating any resource)."""
    source = f"Pulumi.{pulumi.get_stack()}.yaml"
    secure: set[str] | None = None
    if Path(source).is_file():
        secure = secure_paths(refuse_duplicate_keys(Path(source).read_text(), source))
    return parse_config(raw_config(), source=source, secret_keys=secret_config_keys(), secure_paths=secure)


def secure_paths(document: Any) -> set[str]:
    """Dotted paths (below `gitops-platform:`) a parsed stack file holds as `secure:` values.

    The engine tells the program only which top-level keys hold a secret; the file says
    which exact settings do, so a plain value beside a secure sibling can be refused.
    """
    config = document.get("config") if isinstance(document, dict) else None
    found: set[str] = set()

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict) and set(value) == {"secure"}:
            found.add(path)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    for key, value in (config or {}).items() if isinstance(config, dict) else ():
        namespace, _, name = str(key).rpartition(":")
        if namespace in ("", NAMESPACE):
            walk(value, name)
    return found


class _DuplicateKeyLoader(yaml.SafeLoader):
    """Records every mapping key that appears twice in the same mapping, with both lines."""

    duplicates: list[tuple[str, int, int]]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.duplicates.append((str(key), seen[key], line))
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def refuse_duplicate_keys(text: str, source: str) -> Any:
    """The parsed stack file (as `yaml.safe_load`); one that sets a key twice (the engine
    silently keeps the last) is an error."""
    loader = _DuplicateKeyLoader(text)
    loader.duplicates = []
    try:
        document = loader.get_single_data()
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError(
            [Problem(path=key, value=NOT_A_VALUE, message=f"set twice, on lines {first} and {second}; the engine would silently keep the second: keep one")
             for key, first, second in loader.duplicates],
            source,
        )
    return document


OUTPUTS: dict[str, str] = {
    "environment": "`local` or `aws`: which environment the stack built.",
    "clusterName": "The cluster's name: the kind cluster, the EKS cluster, or the kubeconfig context of an `existing` cluster.",
    "kubeconfig": "Kubeconfig of the platform's cluster (secret): `pulumi stack output kubeconfig --show-secrets > kubeconfig`.",
    "registryHost": "`host[:port]` the platform's images are pushed to and pulled from (`docker push <registryHost>/<image>:<tag>`).",
    "frontendUrl": "The sample app's URL at the mesh gateway (when the sample apps are deployed).",
    "argocdAdminPassword": "Argo CD's `admin` password (secret), when Argo CD runs without SSO.",
    "grafanaAdminPassword": "Grafana's `admin` password (secret), when observability is on.",
    "platformCaCertificate": "The platform CA's certificate (PEM), with tls on: trust it to reach the gateway on local and every in-cluster TLS endpoint.",
}
"""Every output the program may export, with what it is for (the generated stack outputs page reads this)."""


def main() -> Platform:
    """The program: load and validate config, build the platform, export its outputs."""
    config = load_config()
    platform = Platform("platform", config)
    pulumi.export("environment", config.environment)
    pulumi.export("clusterName", platform.cluster_name)
    pulumi.export("kubeconfig", platform.kubeconfig)
    pulumi.export("registryHost", platform.registry_host)
    if platform.frontend_url is not None:
        pulumi.export("frontendUrl", platform.frontend_url)
    if platform.gitops is not None and platform.gitops.admin_password is not None:
        pulumi.export("argocdAdminPassword", platform.gitops.admin_password)  # secret
    if platform.grafana_admin_password is not None:
        pulumi.export("grafanaAdminPassword", platform.grafana_admin_password)  # secret: Grafana's `admin`
    if platform.certificates is not None:
        # Trust it to reach the gateway on local and every in-cluster TLS endpoint (README: TLS).
        pulumi.export("platformCaCertificate", platform.certificates.ca_certificate)
    return platform
