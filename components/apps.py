"""SampleApps: the platform's sample services, built, pushed and deployed through MicroserviceStack.

Images are built with pulumi-docker from `apps/<name>/`, tagged with a hash of their
sources (never `latest`), pushed to the stack's registry, and deployed by digest — the
reference that runs is the one that was pushed. They are not built during `pulumi
preview` (`buildOnPreview: false`), so PR checks need no Docker daemon.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pydantic import Field, field_validator, model_validator

from ._extras import optional_module
from .delivery import DeliveryConfig
from .microservice import HOST, MicroserviceConfig, MicroserviceStack, depends_on_list
from .model import DNS_LABEL, KeyProblem, Model, ProfiledModel, Profiles
from .wiring import PlatformWiring

if TYPE_CHECKING:
    import pulumi_aws as aws
    import pulumi_docker as docker
else:
    aws = optional_module("pulumi_aws", "SampleApps with ECR")
    docker = optional_module("pulumi_docker", "SampleApps")

APPS_DIR = Path(__file__).resolve().parents[1] / "apps"
APPS = ("backend", "frontend")
SAMPLE_ENDPOINT = "/api/data"
"""The backend's data, reached through the frontend at the gateway: the whole path a user's request takes (`make verify` asks it)."""
_SMALL = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def _image_name(repository: str, *, tag: str) -> str:
    return f"{repository}:{tag}"


def source_hash(directory: Path) -> str:
    """A content hash of an app's build context (relative names and bytes, tests excluded): its image tag."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if not path.is_file() or relative.parts[0] == "tests" or "__pycache__" in relative.parts:
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


class ChaosConfig(Model):
    """A Litmus pod-delete experiment against the backend (Litmus must be installed in the cluster)."""

    enabled: bool = Field(False, description="Create the ChaosEngine; off by default.")
    pods_affected_percent: int = Field(50, ge=1, le=100, description="Share of backend pods deleted.")
    duration_seconds: int = Field(30, ge=5, le=3600, description="How long the experiment runs.")
    interval_seconds: int = Field(10, ge=1, le=600, description="Time between deletions.")

    @model_validator(mode="after")
    def _fits(self) -> ChaosConfig:
        if self.interval_seconds > self.duration_seconds:
            raise KeyProblem("intervalSeconds", f"must not exceed durationSeconds ({self.duration_seconds})", self.interval_seconds)
        return self


class SampleAppsConfig(ProfiledModel):
    """`gitops-platform:apps`: the sample backend and frontend."""

    PROFILES: ClassVar[Profiles] = {"local": {"enabled": True, "host": "app.localtest.me"}, "aws": {"enabled": False}}
    enabled: bool = Field(description="Build and deploy the sample apps: on by default on local, opt-in on aws.")
    namespace: str = Field("apps", description="The mesh namespace to deploy into (one of mesh.namespaces).")
    host: str | None = Field(None, description="The frontend's host at the gateway: local app.localtest.me; required on aws when enabled.")
    delivery: DeliveryConfig = Field(
        default_factory=lambda: DeliveryConfig(strategy="canary"),
        description="How a new backend version rolls out: an analysed canary (Argo Rollouts) by default; `strategy: rolling` to turn it off.",
    )
    chaos: ChaosConfig = Field(default_factory=ChaosConfig, description="Litmus pod-delete experiment.")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not HOST.match(value):
            raise ValueError("must be a host name like app.example.com")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        # Checked with the apps off too: turning them on later must not be the moment a typo shows.
        if not DNS_LABEL.match(value):
            raise ValueError("must be a namespace name (DNS-1123 label: lowercase letters, digits and '-')")
        return value

    @model_validator(mode="after")
    def _needs_host(self) -> SampleAppsConfig:
        if self.enabled and self.host is None:
            raise KeyProblem("host", "required when the apps are enabled: the frontend's host at the gateway (e.g. app.example.com)")
        return self


class SampleApps(pulumi.ComponentResource):
    """The backend (an analysed canary rollout, HPA; reached only inside the mesh) and the frontend (exposed at the gateway).

    The frontend's nginx proxies `/api/` to the backend in the mesh, so only one service
    is exposed per host: two VirtualServices sharing a gateway host are merged by Istio
    in creation order, and a `/` route could shadow `/api`.
    """

    frontend_url: pulumi.Output[str]
    """Where the frontend is reached through the gateway."""
    images: dict[str, pulumi.Output[str]]
    """Pushed image reference (`repository@sha256:...`) per app."""

    def __init__(
        self,
        name: str,
        config: SampleAppsConfig,
        platform: PlatformWiring,
        *,
        repository_urls: dict[str, pulumi.Input[str]],
        ecr_registry_id: pulumi.Input[str] | None = None,
        monitoring: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`platform`: where the services plug in (environment, mesh, egress gateway, Vault);
        with `platform.vault`, the backend reads its signing key from Vault. `repository_urls`:
        `host/repository` per app in the stack's registry. With `ecr_registry_id`, images are
        pushed with an ECR authorization token. `monitoring`: create the services'
        ServiceMonitors and alerts (the Prometheus operator's CRDs must be installed: off when
        observability is)."""
        super().__init__("gitops-platform:index:SampleApps", name, None, opts)
        # The services wait for what this component was told to wait for (mesh, CRDs, namespace).
        services = self._services = pulumi.ResourceOptions(parent=self, depends_on=depends_on_list(opts))
        tags = self._build(name, repository_urls, ecr_registry_id)

        backend_host = f"backend.{config.namespace}.svc.cluster.local"
        backend = MicroserviceConfig(
            name="backend",
            namespace=config.namespace,
            image=f"backend:{tags['backend']}",
            version=tags["backend"],
            resources=_SMALL,
            env={"VERSION": tags["backend"], "CLUSTER": platform.environment},
            delivery=config.delivery,
            allowed_callers=[{"namespace": config.namespace, "serviceAccount": "frontend"}],
            egress=[],  # calls nothing outside the cluster (the render's egress check proves it)
            # Its response-signing key, from Vault (seeded once with a random value).
            secrets=[{"path": f"{config.namespace}/backend/signing", "keys": ["SIGNING_KEY"], "as": "env"}] if platform.vault else [],
            autoscaling={"mode": "hpa", "minReplicas": 2, "maxReplicas": 6},
            monitoring={"enabled": monitoring},
        )
        MicroserviceStack(
            f"{name}-backend", backend, platform, image=self.images["backend"],
            vault_seeds={f"{config.namespace}/backend/signing": {"SIGNING_KEY": self._signing_key(name)}} if platform.vault else None,
            opts=services,
        )
        frontend = MicroserviceConfig(
            name="frontend",
            namespace=config.namespace,
            image=f"frontend:{tags['frontend']}",
            version=tags["frontend"],
            resources=_SMALL,
            env={"BACKEND_URL": f"http://{backend_host}", "BACKEND_HOST": backend_host},
            exposure={"host": config.host or "", "pathPrefix": "/"},
            dependencies=[{"namespace": config.namespace, "app": "backend", "port": 8080}],
            egress=[],  # only the backend, inside the mesh
            autoscaling={"mode": "hpa", "minReplicas": 2, "maxReplicas": 4},
            monitoring={"enabled": monitoring},
        )
        MicroserviceStack(f"{name}-frontend", frontend, platform, image=self.images["frontend"], opts=services)
        if config.chaos.enabled:
            self._chaos(name, config)
        self.frontend_url = pulumi.Output.from_input(f"https://{config.host}/")
        self.register_outputs({"frontend_url": self.frontend_url, "images": self.images})

    def _signing_key(self, name: str) -> pulumi.Output[str]:
        key = random.RandomPassword(f"{name}-backend-signing-key", length=48, special=False, opts=pulumi.ResourceOptions(parent=self))
        return pulumi.Output.secret(key.result)

    def _build(self, name: str, repository_urls: dict[str, pulumi.Input[str]], ecr_registry_id: pulumi.Input[str] | None) -> dict[str, str]:
        """Build and push each app's image (on `up` only); sets `images`, returns the tags."""
        child = pulumi.ResourceOptions(parent=self)
        registry = None
        if ecr_registry_id is not None:
            token = aws.ecr.get_authorization_token_output(registry_id=ecr_registry_id, opts=pulumi.InvokeOptions(parent=self))
            registry = docker.RegistryArgs(server=token.proxy_endpoint, username=token.user_name, password=pulumi.Output.secret(token.password))
        tags = {app: source_hash(APPS_DIR / app) for app in APPS}
        self.images = {}
        for app in APPS:
            # Relative to the project (where `pulumi` runs): an absolute path would differ per
            # checkout and show as a diff on every machine.
            context = os.path.relpath(APPS_DIR / app)
            image = docker.Image(
                f"{name}-{app}-image",
                image_name=pulumi.Output.from_input(repository_urls[app]).apply(functools.partial(_image_name, tag=tags[app])),
                build=docker.DockerBuildArgs(context=context, dockerfile=os.path.join(context, "Dockerfile"), platform="linux/amd64"),
                registry=registry,
                # PR previews must not need a Docker daemon: build and push on `pulumi up` only.
                build_on_preview=False,
                skip_push=False,
                opts=child,
            )
            self.images[app] = image.repo_digest
        return tags

    def _chaos(self, name: str, config: SampleAppsConfig) -> None:
        chaos = config.chaos
        env = {
            "TOTAL_CHAOS_DURATION": chaos.duration_seconds,
            "CHAOS_INTERVAL": chaos.interval_seconds,
            "PODS_AFFECTED_PERC": chaos.pods_affected_percent,
            "FORCE": "false",
        }
        k8s.apiextensions.CustomResource(
            f"{name}-backend-pod-delete",
            api_version="litmuschaos.io/v1alpha1",
            kind="ChaosEngine",
            metadata={"name": "backend-pod-delete", "namespace": config.namespace},
            spec={
                "engineState": "active",
                "appinfo": {"appns": config.namespace, "applabel": "app=backend", "appkind": "rollout" if config.delivery.strategy == "canary" else "deployment"},
                "chaosServiceAccount": "litmus-admin",
                "experiments": [{"name": "pod-delete", "spec": {"components": {"env": [{"name": k, "value": str(v)} for k, v in env.items()]}}}],
            },
            opts=self._services,
        )
