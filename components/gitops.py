"""GitopsStack: Argo CD, the projects that confine teams, and the GitOps Bridge cluster Secret.

    gitops = GitopsStack("gitops", GitopsConfig.for_environment("local", host="argocd.localtest.me"),
                         cluster=ClusterFacts(name="kind-gitops", environment="local", ...))

Pulumi owns the platform; Argo CD owns what teams put in their repositories. This
component is the hand-off: Argo CD itself (secure defaults), an AppProject per team
(its repositories, its namespaces, no cluster-scoped kinds), the built-in `default`
project emptied, and the in-cluster cluster Secret carrying the GitOps Bridge labels
and annotations, so existing ApplicationSets (cluster generator) work unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pydantic import Field, ValidationInfo, field_validator, model_validator

from .charts import CHARTS, install_chart
from .model import DNS_DOMAIN, DNS_LABEL, KeyProblem, Model, ProfiledModel, Profiles, ResourcesConfig, given_in_plain_text
from .netpol import NamespaceIsolation
from .podsecurity import pod_security_labels

NAMESPACE = "argocd"
RELEASE = "argocd"
SERVER_PORT = 8080
"""argocd-server's container port (plain HTTP behind the gateway: `server.insecure`)."""
IN_CLUSTER = "https://kubernetes.default.svc"
_GIT_URL = re.compile(r"^(https://[^\s/]+/\S+|ssh://[^\s@]+@[^\s/]+/\S+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+)$")


def _git_url(value: str) -> str:
    if not _GIT_URL.match(value) or value.endswith("/"):
        raise ValueError("expected a git repository URL: https://host/org/repo(.git), ssh://git@host/org/repo or git@host:org/repo")
    return value


CONTROLLER = "argocd-application-controller"
"""The application controller's StatefulSet (and its pods' `app.kubernetes.io/name`)."""


class OidcConfig(Model):
    """Single sign-on through an OIDC provider (then the local `admin` is disabled)."""

    issuer: str = Field(description="The provider's issuer URL (https).")
    client_id: str = Field(min_length=1, description="The client ID registered for Argo CD.")
    client_secret: str = Field(min_length=1, description="The client secret: secret config only.")
    admin_groups: list[str] = Field(default_factory=list, description="Groups (from the `groups` claim) granted role:admin.")

    @field_validator("issuer")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.match(r"^https://[^\s/]+(/\S*)?$", value):
            raise ValueError("must be an https:// URL")
        return value


class ProjectConfig(Model):
    """One team's AppProject: what it may deploy from, and where."""

    name: str = Field(description="Project name (DNS-1123 label).")
    source_repos: list[str] = Field(min_length=1, description="Git repositories the team's Applications may use.")
    namespaces: list[str] = Field(min_length=1, description="App namespaces of this stack the team may deploy to.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not DNS_LABEL.match(value) or value in ("default", "bootstrap"):
            raise ValueError("must be a DNS-1123 label other than `default` (kept empty) and `bootstrap` (the app-of-apps' own)")
        return value

    @field_validator("source_repos")
    @classmethod
    def _repos(cls, value: list[str]) -> list[str]:
        return [_git_url(v) for v in value]

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not DNS_LABEL.match(v)]
        if bad:
            raise ValueError(f"not namespace names: {', '.join(bad)}")
        return value


class RepoCredentialsConfig(Model):
    """How Argo CD reads a private repository: secret config only."""

    username: str | None = Field(None, description="HTTPS user name (with `password`, e.g. a token's owner).")
    password: str | None = Field(None, description="HTTPS password or token: secret.")
    ssh_private_key: str | None = Field(None, description="SSH private key (PEM) for ssh:// and git@ URLs: secret.")

    @model_validator(mode="after")
    def _one_kind(self) -> RepoCredentialsConfig:
        if (self.password is None) == (self.ssh_private_key is None):
            raise KeyProblem("password", "give either password (HTTPS, with username) or sshPrivateKey (SSH), not both and not neither")
        if self.password is not None and not self.username:
            raise KeyProblem("username", "required with password (HTTPS basic auth; for a token, any non-empty name such as git)")
        return self


class RepoConfig(Model):
    """A path in a git repository (GitOps Bridge `<kind>_repo_url|basepath|path|revision`)."""

    repo_url: str = Field(description="Git repository URL.")
    basepath: str = Field("", description="Base path in the repository (ends with `/` when set).")
    path: str = Field("bootstrap", description="Path of what to sync, under basepath.")
    revision: str = Field("HEAD", min_length=1, description="Branch, tag or commit.")
    credentials: RepoCredentialsConfig | None = Field(None, description="For a private repository: secret config only.")

    @field_validator("repo_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _git_url(value)


class GitopsConfig(ProfiledModel):
    """`gitops-platform:gitops`: Argo CD and the hand-off to it."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "host": "argocd.localtest.me",
            "environment": "development",
            "replicas": 1,
            "controllerResources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "resources": {"requests": {"cpu": "10m", "memory": "48Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        },
        "aws": {
            "environment": "production",
            "replicas": 2,
            "controllerResources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        },
    }
    enabled: bool = Field(True, description="Install Argo CD and the GitOps hand-off.")
    host: str | None = Field(None, description="Host of the Argo CD UI at the mesh gateway: local argocd.localtest.me; required on aws.")
    environment: str = Field(description="The cluster's `environment` label for ApplicationSets (local development, aws production).")
    oidc: OidcConfig | None = Field(None, description="SSO; without it the local admin's password is generated (stack output).")
    projects: list[ProjectConfig] = Field(default_factory=list, description="One AppProject per team.")
    addons: RepoConfig | None = Field(None, description="Where the add-ons' ApplicationSets live (bridge annotations addons_repo_*).")
    workloads: RepoConfig | None = Field(None, description="Where the workloads live (bridge annotations workload_repo_*).")
    replicas: int = Field(ge=1, le=5, description="Replicas of the server, repo server and ApplicationSet controller (2+ get PodDisruptionBudgets).")
    controller_resources: ResourcesConfig = Field(description="Application controller requests/limits.")
    resources: ResourcesConfig = Field(description="Requests/limits of each other Argo CD container (server, repo server, ApplicationSet, Redis).")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not DNS_DOMAIN.match(value):
            raise ValueError("must be a host name like argocd.example.com")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        if not DNS_LABEL.match(value):
            raise ValueError("must be a label value like production (lower case letters, digits and '-')")
        return value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> GitopsConfig:
        if self.enabled and self.host is None:
            raise KeyProblem("host", "required when gitops is enabled: the Argo CD UI's host at the gateway (e.g. argocd.example.com)")
        if self.oidc is not None and given_in_plain_text(info, "gitops.oidc.clientSecret"):
            raise KeyProblem(
                "oidc.clientSecret",
                "is a secret: remove it from plain config and set it with "
                "`pulumi config set --secret --path gitops-platform:gitops.oidc.clientSecret <secret>`",
                "(plain text)",
            )
        for kind, repo in (("addons", self.addons), ("workloads", self.workloads)):
            if repo is not None and repo.credentials is not None and given_in_plain_text(info, f"gitops.{kind}.credentials"):
                raise KeyProblem(
                    f"{kind}.credentials",
                    "are secrets: remove them from plain config and set each with "
                    f"`pulumi config set --secret --path gitops-platform:gitops.{kind}.credentials.<key> <value>`",
                    "(plain text)",
                )
        names = [p.name for p in self.projects]
        if len(set(names)) != len(names):
            raise KeyProblem("projects", "project names must be unique", names)
        return self


@dataclass(frozen=True)
class ClusterFacts:
    """What the cluster Secret tells ApplicationSets about the cluster (GitOps Bridge keys)."""

    name: pulumi.Input[str]
    kubernetes_version: str
    addons: Mapping[str, bool]
    """Add-on name (bridge spelling, e.g. `cert_manager`) -> installed by the platform."""
    endpoints: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Platform endpoints ApplicationSets need (registry, Prometheus, gateway)."""
    aws: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """aws: `aws_cluster_name`, `aws_region`, `aws_account_id`, `aws_vpc_id`."""
    irsa: Mapping[str, tuple[pulumi.Input[str], str, str]] = field(default_factory=dict)
    """Add-on -> (IAM role ARN, namespace, service account) for add-ons with an IRSA role."""


def argocd_values(config: GitopsConfig, service_monitors: bool) -> dict[str, Any]:
    """Values of the argo-cd chart (keys checked against the pinned chart by the render).

    No secret reaches them: `argocd-secret` is the program's own Secret (`argocd_secret_data`),
    so the values stay plain and every preview shows Argo CD's configuration, not `[secret]`."""
    ha = config.replicas > 1
    pdb = {"enabled": ha, "minAvailable": 1} if ha else {"enabled": False}
    cm: dict[str, Any] = {
        "admin.enabled": config.oidc is None,
        "exec.enabled": False,
        "users.anonymous.enabled": False,
        "url": f"https://{config.host}",
        # Argo Rollouts owns a canary's route weights and subset hash labels while it shifts
        # traffic: an Application that also manages the service must not revert them.
        "resource.customizations.ignoreDifferences.networking.istio.io_VirtualService": "jqPathExpressions:\n- .spec.http[].route[].weight\n",
        "resource.customizations.ignoreDifferences.networking.istio.io_DestinationRule": (
            'jqPathExpressions:\n- .spec.subsets[].labels["rollouts-pod-template-hash"]\n'
        ),
    }
    rbac: dict[str, Any] = {"policy.default": "role:readonly"}
    if config.oidc is not None:
        cm["oidc.config"] = pulumi.Output.all(config.oidc.issuer, config.oidc.client_id).apply(
            lambda v: f"name: SSO\nissuer: {v[0]}\nclientID: {v[1]}\nclientSecret: $oidc.clientSecret\nrequestedScopes: [openid, profile, email, groups]\n"
        )
        rbac["policy.csv"] = "".join(f"g, {g}, role:admin\n" for g in config.oidc.admin_groups)
    metrics = {"enabled": True, "serviceMonitor": {"enabled": service_monitors}}
    component = {"resources": config.resources.values(), "metrics": metrics}
    return {
        "crds": {"install": True, "keep": True},
        "global": {"domain": config.host},
        "configs": {
            "cm": cm,
            # TLS ends at the mesh gateway; behind it the server speaks plain HTTP.
            "params": {"server.insecure": True},
            "rbac": rbac,
            # The program creates argocd-secret (admin hash, SSO client secret): a secret in
            # the values would make all of them secret, and the chart stamps the admin
            # password's mtime with the render time, a diff on every preview.
            "secret": {"createSecret": False},
        },
        "controller": {"replicas": 1, "resources": config.controller_resources.values(), "metrics": metrics},
        "server": {**component, "replicas": config.replicas, "pdb": pdb},
        "repoServer": {**component, "replicas": config.replicas, "pdb": pdb},
        "applicationSet": {**component, "replicas": config.replicas, "pdb": pdb},
        "redis": {"resources": config.resources.values()},
        # The Redis password comes from the Secret the program creates (the chart's init Job is a hook).
        "redisSecretInit": {"enabled": False},
        "dex": {"enabled": False},
        "notifications": {"enabled": False},
    }


def argocd_secret_data(config: GitopsConfig, admin_hash: pulumi.Input[str] | None) -> dict[str, pulumi.Input[str]]:
    """`argocd-secret`'s keys: the admin password's bcrypt hash (without SSO) and the SSO client
    secret (`$oidc.clientSecret` in argocd-cm). Argo CD adds its own `server.secretkey` at start;
    server-side apply leaves that field to it."""
    data: dict[str, pulumi.Input[str]] = {}
    if admin_hash is not None:
        data["admin.password"] = admin_hash
    if config.oidc is not None:
        data["oidc.clientSecret"] = pulumi.Output.secret(config.oidc.client_secret)
    return data


def chart_urn(parent_urn: str, chart_name: str) -> str:
    """The URN of a `helm.v4.Chart` named `chart_name` whose parent has `parent_urn`."""
    prefix, project, chain, _ = parent_urn.split("::", 3)
    return f"{prefix}::{project}::{chain}$kubernetes:helm.sh/v4:Chart::{chart_name}"


def cluster_secret_metadata(config: GitopsConfig, facts: ClusterFacts) -> tuple[dict[str, Any], dict[str, Any]]:
    """(labels, annotations) of the in-cluster cluster Secret, keyed exactly as the GitOps Bridge does."""
    labels: dict[str, Any] = {
        "argocd.argoproj.io/secret-type": "cluster",
        "cluster_name": facts.name,
        "environment": config.environment,
        "kubernetes_version": facts.kubernetes_version,
        **{f"enable_{addon}": "true" if on else "false" for addon, on in sorted(facts.addons.items())},
    }
    annotations: dict[str, Any] = {}
    if "aws_cluster_name" in facts.aws:
        labels["aws_cluster_name"] = facts.aws["aws_cluster_name"]
    for kind, repo in (("addons", config.addons), ("workload", config.workloads)):
        if repo is not None:
            annotations.update({
                f"{kind}_repo_url": repo.repo_url, f"{kind}_repo_basepath": repo.basepath,
                f"{kind}_repo_path": repo.path, f"{kind}_repo_revision": repo.revision,
            })
    annotations.update({k: v for k, v in facts.aws.items() if k != "aws_cluster_name"})
    for addon, (role, namespace, account) in sorted(facts.irsa.items()):
        annotations.update({f"{addon}_iam_role_arn": role, f"{addon}_namespace": namespace, f"{addon}_service_account": account})
    annotations.update(facts.endpoints)
    return labels, annotations


def project_spec(project: ProjectConfig) -> dict[str, Any]:
    """A team's AppProject: its repositories, its namespaces on this cluster, namespaced kinds only."""
    return {
        "description": f"Team project {project.name}",
        "sourceRepos": project.source_repos,
        "destinations": [{"server": IN_CLUSTER, "namespace": ns} for ns in project.namespaces],
        "clusterResourceWhitelist": [],
        # Quotas, limits and network policies are the platform's.
        "namespaceResourceBlacklist": [
            {"group": "", "kind": "ResourceQuota"},
            {"group": "", "kind": "LimitRange"},
            {"group": "networking.k8s.io", "kind": "NetworkPolicy"},
        ],
    }


def isolation(namespace_input: pulumi.Input[str] | None = None) -> NamespaceIsolation:
    """What Argo CD's namespace must let through (see `components.netpol`); the gateway's
    calls to the UI (port `SERVER_PORT`) are wired by whoever connects the two."""
    return NamespaceIsolation(
        NAMESPACE,
        external={"the repo server fetches git repositories and Helm charts": (22, 443)},
        namespace_input=namespace_input,
    )


class GitopsStack(pulumi.ComponentResource):
    """Argo CD (`helm.v4.Chart` in `argocd`), team projects and the cluster Secret."""

    admin_password: pulumi.Output[str] | None
    """The local admin's password (secret), when no SSO is configured."""
    created_namespaces: list[pulumi.Resource]
    isolation: list[NamespaceIsolation]
    ready: list[pulumi.Resource]
    """What Applications and AppProjects wait for (the chart: CRDs and controllers)."""

    def __init__(
        self,
        name: str,
        config: GitopsConfig,
        *,
        cluster: ClusterFacts,
        gateway: str = "istio-ingress/main",
        service_monitors: bool = False,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`cluster`: the facts the cluster Secret carries. `gateway`: the mesh Gateway serving
        the UI. `after`: what the chart waits for (the mesh's CRDs, the Prometheus CRDs)."""
        super().__init__("gitops-platform:index:GitopsStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Argo CD's pods run as non-root with no capabilities: restricted.
        ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": NAMESPACE, "labels": pod_security_labels("restricted")}, opts=child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        redis = random.RandomPassword(f"{name}-redis-password", length=32, special=False, opts=child)
        redis_password: pulumi.Output[str] = pulumi.Output.secret(redis.result)
        redis_secret = k8s.core.v1.Secret(
            f"{name}-redis-secret",
            metadata={"name": "argocd-redis", "namespace": NAMESPACE},
            string_data={"auth": redis_password},
            opts=in_ns,
        )
        self.admin_password = None
        admin_hash: pulumi.Output[str] | None = None
        if config.oidc is None:
            # Generated, handed to the chart only bcrypt-hashed, exported as a secret output.
            admin = random.RandomPassword(f"{name}-admin-password", length=24, special=False, opts=child)
            self.admin_password = pulumi.Output.secret(admin.result)
            admin_hash = pulumi.Output.secret(admin.bcrypt_hash)
        chart_name = f"{name}-argo-cd"
        argocd_secret = self._argocd_secret(name, chart_name, argocd_secret_data(config, admin_hash), in_ns)
        governing = _governing_service(name, in_ns)
        chart = install_chart(
            chart_name, CHARTS["argo-cd"], NAMESPACE, argocd_values(config, service_monitors),
            pulumi.ResourceOptions(parent=self, depends_on=[ns, redis_secret, argocd_secret, governing, *after]), RELEASE,
        )
        self.ready = [chart]
        after_chart = pulumi.ResourceOptions(parent=self, depends_on=[chart])
        # The built-in project, emptied: an Application must name a team's project.
        _project(f"{name}-project-default", "default", {"sourceRepos": [], "destinations": [], "clusterResourceWhitelist": []}, after_chart)
        for project in config.projects:
            _project(f"{name}-project-{project.name}", project.name, project_spec(project), after_chart)
        if config.workloads is not None:
            self._bootstrap(name, config, config.workloads, after_chart, in_ns)
        labels, annotations = cluster_secret_metadata(config, cluster)
        k8s.core.v1.Secret(
            f"{name}-cluster-secret",
            metadata={"name": "in-cluster", "namespace": NAMESPACE, "labels": labels, "annotations": annotations},
            string_data={"name": "in-cluster", "server": IN_CLUSTER, "config": '{"tlsClientConfig":{"insecure":false}}'},
            opts=in_ns,
        )
        gateway_namespace, gateway_name = gateway.split("/", 1)
        k8s.apiextensions.CustomResource(
            f"{name}-ui",
            api_version="networking.istio.io/v1",
            kind="VirtualService",
            metadata={"name": "argocd-server", "namespace": NAMESPACE},
            spec={
                "hosts": [config.host],
                "gateways": [f"{gateway_namespace}/{gateway_name}"],
                "http": [{"route": [{"destination": {"host": f"argocd-server.{NAMESPACE}.svc.cluster.local", "port": {"number": 80}}}]}],
            },
            # The VirtualService CRD comes with the mesh (`after`).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, *after]),
        )
        self.created_namespaces = [ns]
        self.isolation = [isolation(ns.metadata.apply(lambda m: m["name"]))]
        self.register_outputs({"admin_password": self.admin_password})


    def _argocd_secret(self, name: str, chart_name: str, data: dict[str, pulumi.Input[str]], opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        """`argocd-secret`, the program's (the chart's is off): its values then hold no secret."""
        return k8s.core.v1.Secret(
            f"{name}-argocd-secret",
            metadata={"name": "argocd-secret", "namespace": NAMESPACE,
                      "labels": {"app.kubernetes.io/name": "argocd-secret", "app.kubernetes.io/part-of": "argocd", "app.kubernetes.io/component": "server"}},
            type="Opaque",
            string_data=pulumi.Output.secret(data),
            # Until now the chart made this Secret: an existing stack adopts it in place
            # instead of creating a second object of the same name.
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[
                pulumi.Alias(name=f"{chart_name}:{NAMESPACE}/argocd-secret", parent=self.urn.apply(lambda urn: chart_urn(urn, chart_name))),
            ])),
        )

    def _bootstrap(self, name: str, config: GitopsConfig, repo: RepoConfig, after_chart: pulumi.ResourceOptions, in_ns: pulumi.ResourceOptions) -> None:
        """The app-of-apps: one Application syncing the workloads path, whose Applications
        (in `argocd`, each naming a team's project) deploy the teams' services."""
        if repo.credentials is not None:
            k8s.core.v1.Secret(
                f"{name}-workloads-repository",
                metadata={"name": "workloads-repository", "namespace": NAMESPACE, "labels": {"argocd.argoproj.io/secret-type": "repository"}},
                string_data=repository_secret(repo),
                opts=in_ns,
            )
        _project(f"{name}-project-bootstrap", BOOTSTRAP_PROJECT, bootstrap_project_spec(repo), after_chart)
        k8s.apiextensions.CustomResource(
            f"{name}-bootstrap",
            api_version="argoproj.io/v1alpha1",
            kind="Application",
            metadata={
                "name": "workloads",
                "namespace": NAMESPACE,
                # Deleting the Application deletes what it synced: it goes before Argo CD on
                # destroy (it depends on the chart), so the finalizer never waits on nothing.
                "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            },
            spec=bootstrap_application_spec(config, repo),
            opts=after_chart,
        )


BOOTSTRAP_PROJECT = "bootstrap"


def _governing_service(name: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
    """The Service the application controller's StatefulSet names (spec.serviceName), which the
    API requires to exist and the chart does not create: headless, no ports — it only gives the
    controller's pods their DNS identity."""
    return k8s.core.v1.Service(
        f"{name}-controller-governing",
        metadata={"name": CONTROLLER, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "argocd"}},
        spec={"clusterIP": "None", "selector": {"app.kubernetes.io/name": CONTROLLER}},
        opts=opts,
    )


def repository_secret(repo: RepoConfig) -> dict[str, Any]:
    """Argo CD's repository Secret for `repo` (every credential wrapped as a secret)."""
    creds = repo.credentials
    assert creds is not None
    data: dict[str, Any] = {"type": "git", "url": repo.repo_url}
    if creds.password is not None:
        data.update(username=creds.username, password=pulumi.Output.secret(creds.password))
    if creds.ssh_private_key is not None:
        data["sshPrivateKey"] = pulumi.Output.secret(creds.ssh_private_key)
    return data


def bootstrap_project_spec(repo: RepoConfig) -> dict[str, Any]:
    """What the app-of-apps may do: read the workloads repository, write Applications into `argocd`."""
    return {
        "description": "The workloads app-of-apps: Applications only, each naming a team's project",
        "sourceRepos": [repo.repo_url],
        "destinations": [{"server": IN_CLUSTER, "namespace": NAMESPACE}],
        "clusterResourceWhitelist": [],
        "namespaceResourceWhitelist": [{"group": "argoproj.io", "kind": "Application"}],
    }


def bootstrap_application_spec(config: GitopsConfig, repo: RepoConfig) -> dict[str, Any]:
    """The app-of-apps Application. Production syncs by hand; elsewhere Argo CD prunes and self-heals."""
    sync: dict[str, Any] = {
        "syncOptions": ["CreateNamespace=true", "ServerSideApply=true", "PrunePropagationPolicy=foreground"],
        "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
    }
    if config.environment != "production":
        sync["automated"] = {"prune": True, "selfHeal": True}
    return {
        "project": BOOTSTRAP_PROJECT,
        "source": {"repoURL": repo.repo_url, "targetRevision": repo.revision, "path": f"{repo.basepath}{repo.path}"},
        "destination": {"server": IN_CLUSTER, "namespace": NAMESPACE},
        "syncPolicy": sync,
    }


def _project(resource_name: str, name: str, spec: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
    k8s.apiextensions.CustomResource(
        resource_name, api_version="argoproj.io/v1alpha1", kind="AppProject", metadata={"name": name, "namespace": NAMESPACE}, spec=spec, opts=opts
    )
