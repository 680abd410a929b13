"""CertManager: cert-manager, the platform's issuers, and the certificates they issue.

    tls = CertManager("tls", TlsConfig.for_environment("local"))
    tls.certificate("gateway", namespace="istio-ingress", secret_name="gateway-tls",
                    dns_names=["app.example.com"], issuer=tls.public_issuer)

What it creates:

- cert-manager (`helm.v4.Chart`, its CRDs from the chart's templates so that an
  upgrade upgrades them). The chart's `startupapicheck` is a post-install hook, which
  `helm.v4.Chart` drops; the same check (`cmctl check api`: a dry-run CertificateRequest
  through the webhook) runs as a plain Job the engine waits for, and every issuer waits
  for that Job — so no Issuer or Certificate reaches the API before the webhook answers.
- The platform CA on every stack: a self-signed ClusterIssuer signs a root
  (`platform-root-ca`, ECDSA P-256, 10 years), and the `platform-ca` ClusterIssuer signs
  with it. Everything in-cluster (Vault's listener, webhooks) is issued by it; its
  certificate is `ca_certificate`, for users to trust.
- The public issuer of the gateway's certificate (`issuer`): `platform-ca` (local), an
  ACME ClusterIssuer solving DNS-01 in Route 53 with an IRSA role limited to the
  configured hosted zones (aws), or a ClusterIssuer you name.
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, field_validator, model_validator

from .charts import CHARTS, HOOK_JOB_RESOURCES, install_chart
from .model import DNS_DOMAIN, KeyProblem, Model, ProfiledModel, Profiles, ResourcesConfig
from .netpol import NamespaceIsolation
from .podsecurity import pod_security_labels

if TYPE_CHECKING:
    from .eks import EksCluster

NAMESPACE = "cert-manager"
RELEASE = "cert-manager"
SELF_SIGNED_ISSUER = "platform-selfsigned"
PLATFORM_CA_ISSUER = "platform-ca"
ACME_ISSUER = "platform-acme"
ROOT_CA_SECRET = "platform-root-ca"
SERVICE_ACCOUNT = "cert-manager"
WEBHOOK_PORT = 10250
"""The webhook's container port (the chart's `webhook.securePort`), which the API server calls."""

ACME_SERVERS = {
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "letsencrypt-production": "https://acme-v02.api.letsencrypt.org/directory",
}
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_HOSTED_ZONE = re.compile(r"^Z[A-Z0-9]{1,31}$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class HostedZoneConfig(Model):
    """A Route 53 hosted zone the ACME issuer answers DNS-01 challenges in."""

    id: str = Field(description="Hosted zone ID, e.g. Z0123456789ABCDEFGHIJ.")
    domain: str = Field(description="The zone's domain, e.g. example.com: certificates for it and its subdomains are solved here.")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _HOSTED_ZONE.match(value):
            raise ValueError("expected a Route 53 hosted zone ID like Z0123456789ABCDEFGHIJ (Z, then capital letters and digits)")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not DNS_DOMAIN.match(value):
            raise ValueError("expected a DNS domain like example.com (lower case, no wildcard, no trailing dot)")
        return value

    def serves(self, host: str) -> bool:
        name = host.removeprefix("*.")
        return name == self.domain or name.endswith(f".{self.domain}")


class AcmeConfig(Model):
    """ACME (Let's Encrypt) with DNS-01 in Route 53. HTTP-01 is not offered: its solver
    would need a route through the mesh gateway that the gateway's own HTTPS redirect
    and default-deny authorization refuse."""

    server: str = Field(
        "letsencrypt-staging",
        description="`letsencrypt-staging` (untrusted certificates, generous limits: start here) or `letsencrypt-production`; "
        "another directory URL only with allowCustomServer.",
    )
    allow_custom_server: bool = Field(False, description="Accept `server` as an https directory URL of another ACME CA.")
    email: str = Field(description="Contact for expiry and account notices.")
    hosted_zones: list[HostedZoneConfig] = Field(min_length=1, description="Route 53 zones the issuer may write challenge records in (and nothing else).")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError("expected an email address like platform-team@example.com")
        return value

    @model_validator(mode="after")
    def _server(self) -> AcmeConfig:
        if self.server in ACME_SERVERS:
            return self
        if not self.allow_custom_server:
            raise KeyProblem(
                "server",
                f"must be one of {', '.join(ACME_SERVERS)}; for another ACME CA set its directory URL and allowCustomServer: true",
                self.server,
            )
        if not re.match(r"^https://[^\s/]+(/\S*)?$", self.server):
            raise KeyProblem("server", "expected the ACME directory as an https:// URL", self.server)
        return self

    @property
    def directory(self) -> str:
        return ACME_SERVERS.get(self.server, self.server)


class TlsConfig(ProfiledModel):
    """`gitops-platform:tls`: cert-manager and who issues what."""

    PROFILES: ClassVar[Profiles] = {
        "local": {
            "issuer": "platform-ca",
            "replicas": 1,
            "resources": {"requests": {"cpu": "10m", "memory": "48Mi"}, "limits": {"cpu": "200m", "memory": "192Mi"}},
            "webhookResources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "96Mi"}},
            "cainjectorResources": {"requests": {"cpu": "10m", "memory": "48Mi"}, "limits": {"cpu": "100m", "memory": "192Mi"}},
        },
        "aws": {
            "issuer": "acme",
            "replicas": 2,
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
            "webhookResources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
            "cainjectorResources": {"requests": {"cpu": "20m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "512Mi"}},
        },
    }
    enabled: bool = Field(True, description="Install cert-manager and issue the platform's certificates in the cluster.")
    issuer: Literal["platform-ca", "acme", "existing"] = Field(
        description="Who signs the gateway's certificate: the platform CA (local default), ACME DNS-01 in Route 53 (aws default), "
        "or the ClusterIssuer named by existingIssuer."
    )
    acme: AcmeConfig | None = Field(None, description="ACME settings; required with issuer `acme`.")
    existing_issuer: str | None = Field(None, description="Name of a ClusterIssuer you manage; required with issuer `existing`.")
    gateway_certificate: Literal["issued", "provided"] = Field(
        "issued",
        description="`issued`: the gateway's certificate is a Certificate from `issuer` into the Secret `gateway-tls`. "
        "`provided`: you create the Secret named by mesh.gateway.credentialName yourself.",
    )
    replicas: int = Field(ge=1, le=5, description="Replicas of the controller, the webhook and the CA injector (2+ gets PodDisruptionBudgets).")
    resources: ResourcesConfig = Field(description="Controller requests/limits.")
    webhook_resources: ResourcesConfig = Field(description="Webhook requests/limits.")
    cainjector_resources: ResourcesConfig = Field(description="CA injector requests/limits.")

    @field_validator("existing_issuer")
    @classmethod
    def _existing(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("must be a ClusterIssuer name (lower case DNS subdomain)")
        return value

    @model_validator(mode="after")
    def _issuer_settings(self) -> TlsConfig:
        if self.issuer == "acme" and self.acme is None and self.enabled:
            raise KeyProblem(
                "acme",
                "required with issuer `acme`: set tls.acme.email and tls.acme.hostedZones ([{id, domain}]), "
                "or choose issuer `platform-ca` or `existing`",
            )
        if self.issuer == "existing" and self.existing_issuer is None and self.enabled:
            raise KeyProblem("existingIssuer", "required with issuer `existing`: the name of your ClusterIssuer")
        if self.issuer != "acme" and self.acme is not None:
            raise KeyProblem("acme", f"only used with issuer `acme` (issuer is `{self.issuer}`): remove it or set issuer: acme")
        if self.issuer != "existing" and self.existing_issuer is not None:
            raise KeyProblem("existingIssuer", f"only used with issuer `existing` (issuer is `{self.issuer}`)", self.existing_issuer)
        return self

    @property
    def public_issuer(self) -> str:
        """The ClusterIssuer of the gateway's certificate."""
        if self.issuer == "acme":
            return ACME_ISSUER
        if self.issuer == "existing":
            return self.existing_issuer or ""
        return PLATFORM_CA_ISSUER

    def unserved_hosts(self, hosts: list[str]) -> list[str]:
        """Gateway hosts the public issuer cannot put in a certificate."""
        if self.issuer == "acme" and self.acme is not None:
            return [h for h in hosts if h == "*" or not any(z.serves(h) for z in self.acme.hosted_zones)]
        return []


def cert_manager_values(config: TlsConfig, role_arn: pulumi.Input[str] | None) -> dict[str, Any]:
    """Values of the cert-manager chart (keys checked against the pinned chart by the render)."""
    ha = config.replicas > 1
    pdb = {"enabled": ha, "minAvailable": 1} if ha else {"enabled": False}
    service_account: dict[str, Any] = {"name": SERVICE_ACCOUNT}
    if role_arn is not None:
        service_account["annotations"] = {"eks.amazonaws.com/role-arn": role_arn}
    return {
        # CRDs as templates: applied (and upgraded) with the chart; `keep` leaves them when
        # Helm itself uninstalls, so certificates survive a chart removal.
        "crds": {"enabled": True, "keep": True},
        "replicaCount": config.replicas,
        "podDisruptionBudget": pdb,
        "resources": config.resources.values(),
        "serviceAccount": service_account,
        # The webhook, issuers and certificates must never race the API: the readiness gate
        # below replaces this post-install hook, which helm.v4.Chart drops.
        "startupapicheck": {"enabled": False},
        # Metrics on; the ServiceMonitor is `CertManager.monitor`'s, created once its CRD exists
        # (cert-manager installs before the Prometheus operator, whose webhook it certifies).
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}},
        "webhook": {"replicaCount": config.replicas, "podDisruptionBudget": pdb, "resources": config.webhook_resources.values()},
        "cainjector": {"replicaCount": config.replicas, "podDisruptionBudget": pdb, "resources": config.cainjector_resources.values()},
    }


def route53_policy(zone_ids: list[str]) -> str:
    """What the ACME DNS-01 solver may do: write records in these zones and follow the change."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["route53:GetChange"], "Resource": "arn:aws:route53:::change/*"},
                {
                    "Effect": "Allow",
                    "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                    "Resource": [f"arn:aws:route53:::hostedzone/{z}" for z in zone_ids],
                },
            ],
        }
    )


def isolation(acme: bool, namespace_input: pulumi.Input[str] | None = None) -> NamespaceIsolation:
    """What cert-manager's namespace must let through (see `components.netpol`)."""
    return NamespaceIsolation(
        NAMESPACE,
        api_server_ports=(WEBHOOK_PORT,),
        external={"the ACME directory and Route 53 (DNS-01)": (443,)} if acme else {},
        namespace_input=namespace_input,
    )


class CertManager(pulumi.ComponentResource):
    """cert-manager, the platform CA and the public issuer (see the module docstring)."""

    ready: list[pulumi.Resource]
    """What an Issuer or Certificate must wait for: the readiness gate (the webhook answers)."""
    public_issuer: str
    """ClusterIssuer of the gateway's certificate."""
    internal_issuer: str
    """ClusterIssuer of in-cluster certificates (the platform CA)."""
    ca_certificate: pulumi.Output[str]
    """The platform CA's certificate (PEM): trust it to reach the platform's in-cluster TLS (and, on local, the gateway)."""
    namespace: k8s.core.v1.Namespace
    isolation: list[NamespaceIsolation]
    """What cert-manager's namespace must let through (SecurityStack isolates it)."""

    def __init__(
        self,
        name: str,
        config: TlsConfig,
        *,
        eks: EksCluster | None = None,
        region: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`eks`, `region`: on aws, the cluster whose IRSA role lets the ACME solver write
        the configured Route 53 zones. Call `monitor` once the Prometheus operator's CRDs are
        installed to have the controller scraped."""
        super().__init__("gitops-platform:index:CertManager", name, None, opts)
        self._prefix = name
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": NAMESPACE, "labels": pod_security_labels("restricted")}, opts=child)
        role_arn = None
        if config.issuer == "acme" and config.acme is not None:
            if eks is None:
                raise ValueError("tls.issuer `acme` solves DNS-01 in Route 53 through IRSA: it needs the EKS cluster (aws stack)")
            policy = route53_policy([z.id for z in config.acme.hosted_zones])
            role_arn = eks.irsa_role("cert-manager", namespace=NAMESPACE, service_account=SERVICE_ACCOUNT, policy=policy).arn
        chart = install_chart(
            f"{name}-cert-manager",
            CHARTS["cert-manager"],
            NAMESPACE,
            cert_manager_values(config, role_arn),
            pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]),
            RELEASE,
        )
        gate = self._readiness_gate(name, chart)
        # Everything below waits for the gate only: cert-manager reconciles a Certificate
        # whose issuer, or an issuer whose CA Secret, appears later, so the engine need not
        # order them (only consumers that mount a Secret at start wait for it to be Ready).
        self.ready = [gate]
        after_gate = pulumi.ResourceOptions(parent=self, depends_on=[gate])
        _cluster_issuer(f"{name}-selfsigned", SELF_SIGNED_ISSUER, {"selfSigned": {}}, after_gate)
        root = self.certificate(
            "root-ca", namespace=NAMESPACE, secret_name=ROOT_CA_SECRET, common_name="gitops-platform root CA",
            issuer=SELF_SIGNED_ISSUER, is_ca=True, wait=True,
        )
        _cluster_issuer(f"{name}-ca", PLATFORM_CA_ISSUER, {"ca": {"secretName": ROOT_CA_SECRET}}, after_gate)
        if config.issuer == "acme" and config.acme is not None and region is not None:
            _cluster_issuer(f"{name}-acme", ACME_ISSUER, acme_spec(config.acme, region), after_gate)
        self.public_issuer = config.public_issuer
        self.internal_issuer = PLATFORM_CA_ISSUER
        # Read back once the root is Ready. Its id is unknown until it exists, so a first
        # preview skips the read instead of failing on a Secret that is not there yet.
        secret_id = root.id.apply(lambda _: f"{NAMESPACE}/{ROOT_CA_SECRET}")
        secret = k8s.core.v1.Secret.get(f"{name}-root-ca-secret", secret_id, opts=pulumi.ResourceOptions(parent=self, depends_on=[root]))
        self.ca_certificate = secret.data.apply(lambda data: base64.b64decode((data or {}).get("ca.crt", "")).decode() if data else "")
        self.isolation = [isolation(config.issuer == "acme", self.namespace.metadata.apply(lambda m: m["name"]))]
        self.register_outputs({"ca_certificate": self.ca_certificate})

    def monitor(self, crds_ready: list[pulumi.Resource]) -> None:
        """Have Prometheus scrape the controller (`certmanager_certificate_*` metrics)."""
        labels = {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/component": "controller"}
        k8s.apiextensions.CustomResource(
            f"{self._prefix}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": "cert-manager", "namespace": NAMESPACE, "labels": labels},
            spec={
                "jobLabel": "app.kubernetes.io/name",
                "selector": {"matchLabels": labels},
                "namespaceSelector": {"matchNames": [NAMESPACE]},
                "endpoints": [{"port": "http-metrics", "path": "/metrics", "interval": "60s", "scrapeTimeout": "30s"}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, *crds_ready]),
        )

    def _readiness_gate(self, name: str, chart: pulumi.Resource) -> pulumi.Resource:
        """The chart's startupapicheck, as resources the engine creates and waits for."""
        child = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        check = f"{RELEASE}-startupapicheck"
        k8s.core.v1.ServiceAccount(f"{name}-apicheck-sa", metadata={"name": check, "namespace": NAMESPACE}, automount_service_account_token=True, opts=child)
        k8s.rbac.v1.Role(
            f"{name}-apicheck-role",
            metadata={"name": f"{check}:create-cert", "namespace": NAMESPACE},
            rules=[{"apiGroups": ["cert-manager.io"], "resources": ["certificaterequests"], "verbs": ["create"]}],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-apicheck-binding",
            metadata={"name": f"{check}:create-cert", "namespace": NAMESPACE},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{check}:create-cert"},
            subjects=[{"kind": "ServiceAccount", "name": check, "namespace": NAMESPACE}],
            opts=child,
        )
        labels = {"app.kubernetes.io/name": "startupapicheck", "app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/component": "startupapicheck"}
        version = CHARTS["cert-manager"].version
        # The engine waits for a Job to complete: every issuer below waits for this one.
        job: pulumi.Resource = k8s.batch.v1.Job(
            f"{name}-apicheck",
            metadata={"name": check, "namespace": NAMESPACE, "labels": labels},
            spec={
                "backoffLimit": 4,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "serviceAccountName": check,
                        "nodeSelector": {"kubernetes.io/os": "linux"},
                        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [
                            {
                                "name": "cert-manager-startupapicheck",
                                "image": f"quay.io/jetstack/cert-manager-startupapicheck:{version}",
                                "args": ["check", "api", "--wait=5m", "-v"],
                                "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                                "resources": HOOK_JOB_RESOURCES,
                                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True},
                            }
                        ],
                    },
                },
            },
            # Not after its ServiceAccount and RBAC: the Job controller retries the pod and the
            # check retries the API until they exist, so they need not lengthen the chain.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[chart]),
        )
        return job

    def certificate(
        self,
        resource_name: str,
        *,
        namespace: pulumi.Input[str],
        secret_name: str,
        issuer: str,
        dns_names: list[str] | None = None,
        common_name: str | None = None,
        is_ca: bool = False,
        wait: bool = False,
        parent: pulumi.Resource | None = None,
    ) -> k8s.apiextensions.CustomResource:
        """A `Certificate` whose Secret `secret_name` cert-manager keeps issued and renewed.

        `resource_name`: its Pulumi name — prefixed with this component's name, unless
        `parent` (the component that owns it) is given, whose name the caller includes.
        `wait`: the engine waits until it is Ready (for consumers that mount the Secret at
        start); otherwise consumers pick the Secret up when it appears.
        """
        spec: dict[str, Any] = {
            "secretName": secret_name,
            "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        }
        if is_ca:
            spec.update(isCA=True, commonName=common_name, duration="87600h", renewBefore="720h")
        else:
            spec.update(duration="2160h", renewBefore="720h", usages=["digital signature", "key encipherment", "server auth"])
            if common_name:
                spec["commonName"] = common_name
        if dns_names:
            spec["dnsNames"] = dns_names
        annotations = {"pulumi.com/waitFor": "condition=Ready"} if wait else {"pulumi.com/skipAwait": "true"}
        return k8s.apiextensions.CustomResource(
            resource_name if parent is not None else f"{self._prefix}-{resource_name}",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": secret_name, "namespace": namespace, "annotations": annotations},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=parent or self, depends_on=self.ready),
        )


def acme_spec(acme: AcmeConfig, region: str) -> dict[str, Any]:
    """An ACME ClusterIssuer solving DNS-01 in each configured zone (ambient IRSA credentials)."""
    return {
        "acme": {
            "server": acme.directory,
            "email": acme.email,
            "privateKeySecretRef": {"name": f"{ACME_ISSUER}-account-key"},
            "solvers": [
                {"selector": {"dnsZones": [z.domain]}, "dns01": {"route53": {"region": region, "hostedZoneID": z.id}}}
                for z in acme.hosted_zones
            ],
        }
    }


def _cluster_issuer(resource_name: str, name: str, spec: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        resource_name, api_version="cert-manager.io/v1", kind="ClusterIssuer", metadata={"name": name}, spec=spec, opts=opts
    )
