"""LocalRegistry: the `local` stack's image registry — a registry container, or an external one.

    registry = LocalRegistry("registry", LocalRegistryConfig(), network=cluster.docker_network,
                             opts=pulumi.ResourceOptions(providers={"kubernetes": cluster.provider}))
    registry.repository_url("backend")   # -> "localhost:5001/backend"
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pydantic import Field, field_validator, model_validator

from ._extras import optional_module
from .ecr import EcrRegistryConfig
from .model import KeyProblem, Model

if TYPE_CHECKING:
    import pulumi_docker as docker
else:
    docker = optional_module("pulumi_docker", "LocalRegistry")

REGISTRY_PORT = 5000
"""Port the registry listens on inside its container (the image's default)."""

_IMAGE_TAGGED = re.compile(r"^[^\s@]+:(?!latest$)[\w][\w.-]{0,127}(@sha256:[0-9a-f]{64})?$|^[^\s@]+@sha256:[0-9a-f]{64}$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")
_CONTAINER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class LocalRegistryConfig(Model):
    """`gitops-platform:registry` on the `local` stack."""

    mode: Literal["container", "external", "ecr"] = Field(
        "container",
        description="`container`: run a registry container on the kind network, published on the host's "
        "loopback at `hostPort`, and configure every kind node to pull from it. "
        "`external`: push to and pull from `host`, which the cluster must already trust. "
        "`ecr`: use ECR repositories (settings under `ecr`; needs `gitops-platform:region` and AWS credentials).",
    )
    name: str = Field(
        "kind-registry",
        min_length=1,
        max_length=63,
        description="`container` mode: container name, also the name kind nodes reach it by.",
    )
    image: str = Field(
        "registry:3.0.0",
        description="`container` mode: registry image, pinned to an exact tag or digest (`latest` and untagged are rejected).",
    )
    host_port: int = Field(
        5001,
        ge=1024,
        le=65535,
        description="`container` mode: host port (loopback only) for `docker push localhost:<port>/...`; "
        "pods pull the same `localhost:<port>/...` reference.",
    )
    host: str | None = Field(
        None,
        description="`external` mode: `host[:port]` of the registry (required there).",
    )
    ecr: EcrRegistryConfig | None = Field(
        None,
        description="`ecr` mode: the ECR repositories (defaults as on `aws`; `forceDelete` is allowed here).",
    )

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if not _IMAGE_TAGGED.match(value):
            raise ValueError("pin the registry image to an exact tag or digest (e.g. 'registry:3.0.0'); 'latest' and untagged are rejected")
        return value

    @field_validator("name")
    @classmethod
    def _container_name(cls, value: str) -> str:
        if not _CONTAINER_NAME.match(value):
            raise ValueError("must be a container name: lowercase letters, digits, '_', '.', '-'")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not _HOST.match(value):
            raise ValueError("must be 'host' or 'host:port' without scheme or path, e.g. 'registry.example.com:5000'")
        return value

    @model_validator(mode="after")
    def _mode_keys(self) -> LocalRegistryConfig:
        if self.mode == "external" and self.host is None:
            raise KeyProblem("host", "required when mode is `external`: the registry host the cluster pulls from")
        if self.mode != "external" and self.host is not None:
            raise KeyProblem("host", "only used when mode is `external`; remove it or set mode: external", self.host)
        if self.mode != "ecr" and self.ecr is not None:
            raise KeyProblem("ecr", "only used when mode is `ecr`; remove it or set mode: ecr", self.ecr.model_dump(by_alias=True, exclude_unset=True))
        return self

    def image_host(self) -> str:
        """The `host[:port]` image references start with (container and external modes)."""
        return self.host if self.mode == "external" and self.host else f"localhost:{self.host_port}"

    def ecr_config(self) -> EcrRegistryConfig:
        """`ecr` mode: the ECR settings (their defaults when `ecr` is not given)."""
        return self.ecr or EcrRegistryConfig()

    def node_mirrors(self) -> dict[str, str]:
        """Image host -> endpoint the kind nodes must use for it (the registry container on the kind network)."""
        if self.mode != "container":
            return {}
        return {self.image_host(): f"http://{self.name}:{REGISTRY_PORT}"}


class LocalRegistry(pulumi.ComponentResource):
    """An image registry for the `local` stack that needs no cloud account.

    Handles `container` and `external` modes (`ecr` mode is an `EcrRegistry`). In `container` mode: a `registry` container joined to the kind network (so nodes
    reach it by name), published on 127.0.0.1 only, with a read-only root filesystem,
    all capabilities dropped and images kept in a named volume; plus the
    `kube-public/local-registry-hosting` ConfigMap (KEP-1755) so tools in the
    cluster discover it. In `external` mode nothing is created.
    """

    host: pulumi.Output[str]
    """`host[:port]` images are pushed to and pulled from."""

    def __init__(
        self,
        name: str,
        config: LocalRegistryConfig,
        *,
        network: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gitops-platform:index:LocalRegistry", name, None, opts)
        host = config.image_host()
        if config.mode == "container":
            if network is None:
                raise ValueError("LocalRegistry in container mode needs the kind cluster's docker network")
            child = pulumi.ResourceOptions(parent=self)
            image = docker.RemoteImage(f"{name}-image", name=config.image, keep_locally=True, opts=child)
            data = docker.Volume(f"{name}-data", name=f"{config.name}-data", opts=child)
            container = docker.Container(
                f"{name}-container",
                name=config.name,
                image=image.image_id,
                restart="unless-stopped",
                ports=[docker.ContainerPortArgs(internal=REGISTRY_PORT, external=config.host_port, ip="127.0.0.1")],
                networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network, aliases=[config.name])],
                volumes=[docker.ContainerVolumeArgs(volume_name=data.name, container_path="/var/lib/registry")],
                read_only=True,
                tmpfs={"/tmp": "rw,noexec,nosuid,size=64m"},
                capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
                security_opts=["no-new-privileges:true"],
                opts=child,
            )
            k8s.core.v1.ConfigMap(
                f"{name}-hosting",
                # Name and namespace fixed by KEP-1755 (tools look the registry up by them).
                metadata=k8s.meta.v1.ObjectMetaArgs(name="local-registry-hosting", namespace="kube-public"),
                data={
                    "localRegistryHosting.v1": yaml.safe_dump(
                        {"host": host, "help": "https://kind.sigs.k8s.io/docs/user/local-registry/"}, sort_keys=False
                    )
                },
                opts=child,
            )
            # Known once the container runs, so image pushes wait for it.
            self.host = container.id.apply(lambda _: host)
        else:
            self.host = pulumi.Output.from_input(host)
        self.register_outputs({"host": self.host})

    def repository_url(self, service: str) -> pulumi.Output[str]:
        """`<host>/<service>`: where the service's images are pushed and pulled."""
        return self.host.apply(lambda host: f"{host}/{service}")
