"""AutoscalingStack: metrics-server, KEDA, the Vertical Pod Autoscaler, and (aws) the cluster autoscaler.

    autoscaling = AutoscalingStack("autoscaling", AutoscalingStackConfig.for_environment("aws"),
                                   eks=cluster, region="eu-west-1",
                                   opts=pulumi.ResourceOptions(providers={"kubernetes": provider, "aws": aws_provider}))
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from .certificates import CertManager
from .charts import CHARTS, HOOK_JOB_RESOURCES, install_chart, install_release
from .model import ProfiledModel, Profiles, ResourcesConfig
from .netpol import NamespaceIsolation

if TYPE_CHECKING:
    from .eks import EksCluster

METRICS_SERVER_IMAGE = "registry.k8s.io/metrics-server/metrics-server:v0.8.0"
"""metrics-server has no chart in the pinned bundle; its manifests are declared here, image pinned."""
KEDA_NAMESPACE = "keda"
KEDA_METRICS_API_PORT, KEDA_WEBHOOK_PORT = 6443, 9443
"""Container ports of KEDA's metrics API server and admission webhooks (chart defaults)."""
VPA_NAMESPACE = "kube-system"
CLUSTER_AUTOSCALER_SA = "cluster-autoscaler"

_SMALL = {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
_MEDIUM = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


class MetricsServerConfig(ProfiledModel):
    PROFILES: ClassVar[Profiles] = {"local": {"resources": _SMALL, "kubeletInsecureTls": True}, "aws": {"resources": _MEDIUM, "kubeletInsecureTls": False}}
    enabled: bool = Field(True, description="Install metrics-server (resource metrics for HPA, `kubectl top`).")
    kubelet_insecure_tls: bool = Field(description="Skip kubelet certificate checks: needed on kind (self-signed kubelet certs), off on EKS.")
    resources: ResourcesConfig = Field(description="Requests/limits.")


class KedaConfig(ProfiledModel):
    PROFILES: ClassVar[Profiles] = {"local": {"resources": _SMALL}, "aws": {"resources": _MEDIUM}}
    enabled: bool = Field(True, description="Install KEDA (event-driven autoscaling, ScaledObjects).")
    resources: ResourcesConfig = Field(description="Requests/limits of each KEDA component (operator, metrics server, webhooks).")


class VpaConfig(ProfiledModel):
    PROFILES: ClassVar[Profiles] = {"local": {"replicas": 1, "resources": _SMALL}, "aws": {"replicas": 2, "resources": _MEDIUM}}
    enabled: bool = Field(True, description="Install the Vertical Pod Autoscaler (recommender, updater, admission controller).")
    replicas: int = Field(ge=1, le=5, description="Replicas of each VPA component: local 1, aws 2.")
    resources: ResourcesConfig = Field(description="Requests/limits of each VPA component.")


class ClusterAutoscalerConfig(ProfiledModel):
    """aws only: the node group grows and shrinks with pending pods (the platform design's scale-down settings)."""

    PROFILES: ClassVar[Profiles] = {"local": {"resources": _SMALL}, "aws": {"resources": _MEDIUM}}
    enabled: bool = Field(True, description="Install the cluster autoscaler (ignored on local: kind has a fixed node count).")
    scale_down_delay_after_add_minutes: int = Field(10, ge=1, le=240, description="No scale-down this long after a scale-up.")
    scale_down_unneeded_minutes: int = Field(10, ge=1, le=240, description="A node is removed after being unneeded this long.")
    scale_down_utilization_threshold: float = Field(0.5, gt=0, lt=1, description="Below this requested/allocatable ratio a node is unneeded.")
    expander: Literal["least-waste", "most-pods", "random", "priority", "price"] = Field("least-waste", description="Which node group grows.")
    balance_similar_node_groups: bool = Field(True, description="Keep similar node groups (e.g. one per AZ) the same size.")
    resources: ResourcesConfig = Field(description="Requests/limits.")


class AutoscalingStackConfig(ProfiledModel):
    """`gitops-platform:autoscaling`."""

    enabled: bool = Field(True, description="Install the autoscaling tooling.")
    metrics_server: MetricsServerConfig = Field(description="metrics-server.")
    keda: KedaConfig = Field(description="KEDA.")
    vpa: VpaConfig = Field(description="Vertical Pod Autoscaler.")
    cluster_autoscaler: ClusterAutoscalerConfig = Field(description="Cluster autoscaler (aws).")


class AutoscalingStack(pulumi.ComponentResource):
    """Everything pods and nodes scale with. All charts are `helm.v4.Chart`s (no hooks needed)."""

    created_namespaces: list[pulumi.Resource]
    """The Namespaces this component creates (Gatekeeper installs after them)."""
    isolation: list[NamespaceIsolation]
    """What KEDA's namespace must let through (SecurityStack isolates it). VPA, metrics-server
    and the cluster autoscaler live in kube-system, which the cluster owns."""

    def __init__(
        self,
        name: str,
        config: AutoscalingStackConfig,
        *,
        eks: EksCluster | None = None,
        region: str | None = None,
        certificates: CertManager | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`eks` and `region`: on aws, the cluster whose node group the cluster autoscaler scales.
        `certificates`: issues the VPA admission controller's certificate (else the chart's hooks do)."""
        super().__init__("gitops-platform:index:AutoscalingStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.created_namespaces = []
        self.isolation = []
        if config.metrics_server.enabled:
            self._metrics_server(name, config.metrics_server)
        if config.keda.enabled:
            ns = k8s.core.v1.Namespace(f"{name}-keda-ns", metadata={"name": KEDA_NAMESPACE}, opts=child)
            self.created_namespaces.append(ns)
            # The API server calls KEDA's metrics API (aggregated) and its admission webhooks.
            self.isolation.append(
                NamespaceIsolation(KEDA_NAMESPACE, api_server_ports=(KEDA_METRICS_API_PORT, KEDA_WEBHOOK_PORT), namespace_input=ns.metadata.apply(lambda m: m["name"]))
            )
            install_chart(f"{name}-keda", CHARTS["keda"], KEDA_NAMESPACE, keda_values(config.keda), pulumi.ResourceOptions(parent=self, depends_on=[ns]), "keda")
        if config.vpa.enabled:
            if certificates is not None:
                # The admission controller's certificate from the platform CA, its webhook's CA
                # injected by cert-manager: no hooks, so a v4 Chart the engine and the pack see.
                install_chart(
                    f"{name}-vpa", CHARTS["vertical-pod-autoscaler"], VPA_NAMESPACE, vpa_values(config.vpa, certificates.internal_issuer),
                    pulumi.ResourceOptions(parent=self, depends_on=certificates.ready), "vpa",
                )
            else:
                # Without cert-manager the serving certificate and the webhook's caBundle come
                # from the chart's certgen hook Jobs, which helm.v4.Chart drops: a v3 Release.
                install_release(f"{name}-vpa", CHARTS["vertical-pod-autoscaler"], VPA_NAMESPACE, vpa_values(config.vpa), child, "vpa")
        if eks is not None and config.cluster_autoscaler.enabled:
            if region is None:
                raise ValueError("AutoscalingStack needs the region for the cluster autoscaler")
            self._cluster_autoscaler(name, config.cluster_autoscaler, eks, region)
        self.register_outputs({})

    def _metrics_server(self, name: str, config: MetricsServerConfig) -> None:
        """metrics-server's upstream manifests (v0.8.0), declared as resources."""
        child = pulumi.ResourceOptions(parent=self)
        labels = {"k8s-app": "metrics-server"}
        meta = {"name": "metrics-server", "namespace": "kube-system", "labels": labels}
        sa = k8s.core.v1.ServiceAccount(f"{name}-metrics-server-sa", metadata=meta, opts=child)
        self._metrics_server_rbac(name, labels)
        service = k8s.core.v1.Service(
            f"{name}-metrics-server-svc",
            metadata=meta,
            spec={"selector": labels, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]},
            opts=child,
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-metrics-server",
            metadata=meta,
            spec=metrics_server_spec(config, labels, sa.metadata.apply(lambda m: m["name"])),
            opts=child,
        )
        k8s.apiregistration.v1.APIService(
            f"{name}-metrics-api",
            metadata={"name": "v1beta1.metrics.k8s.io", "labels": labels},
            spec={
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "insecureSkipTLSVerify": True,
                "service": {"name": service.metadata.apply(lambda m: m["name"]), "namespace": "kube-system"},
            },
            # Registered once the server can answer, or every API discovery call errors meanwhile.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
        )

    def _metrics_server_rbac(self, name: str, labels: dict[str, str]) -> None:
        """Read metrics for `kubectl top` users; let the server read nodes and pods and delegate authn."""
        child = pulumi.ResourceOptions(parent=self)
        k8s.rbac.v1.ClusterRole(
            f"{name}-metrics-reader",
            metadata={"name": "system:aggregated-metrics-reader", "labels": {**labels, "rbac.authorization.k8s.io/aggregate-to-view": "true", "rbac.authorization.k8s.io/aggregate-to-edit": "true", "rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
            rules=[{"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]}],
            opts=child,
        )
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-metrics-server-role",
            metadata={"name": "system:metrics-server", "labels": labels},
            rules=[
                {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
            ],
            opts=child,
        )
        subject = [{"kind": "ServiceAccount", "name": "metrics-server", "namespace": "kube-system"}]
        k8s.rbac.v1.RoleBinding(
            f"{name}-metrics-server-auth-reader",
            metadata={"name": "metrics-server-auth-reader", "namespace": "kube-system", "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "extension-apiserver-authentication-reader"},
            subjects=subject,
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-metrics-server-auth-delegator",
            metadata={"name": "metrics-server:system:auth-delegator", "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
            subjects=subject,
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-metrics-server-binding",
            metadata={"name": "system:metrics-server", "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role.metadata.apply(lambda m: m["name"])},
            subjects=subject,
            opts=child,
        )

    def _cluster_autoscaler(self, name: str, config: ClusterAutoscalerConfig, eks: EksCluster, region: str) -> None:
        cluster_name = eks.cluster_name
        # Scaling actions only on autoscaling groups tagged as this cluster's (EKS tags its
        # managed node groups' ASGs so); describing needs "*" (no resource-level permissions).
        policy = cluster_name.apply(
            lambda cluster: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ScaleOwnNodeGroups",
                            "Effect": "Allow",
                            "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                            "Resource": "*",
                            "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}},
                        },
                        {
                            "Sid": "Describe",
                            "Effect": "Allow",
                            "Action": [
                                "autoscaling:DescribeAutoScalingGroups",
                                "autoscaling:DescribeAutoScalingInstances",
                                "autoscaling:DescribeLaunchConfigurations",
                                "autoscaling:DescribeScalingActivities",
                                "autoscaling:DescribeTags",
                                "ec2:DescribeImages",
                                "ec2:DescribeInstanceTypes",
                                "ec2:DescribeLaunchTemplateVersions",
                                "ec2:GetInstanceTypesFromInstanceRequirements",
                                "eks:DescribeNodegroup",
                            ],
                            "Resource": "*",
                        },
                    ],
                }
            )
        )
        role = eks.irsa_role("cluster-autoscaler", namespace="kube-system", service_account=CLUSTER_AUTOSCALER_SA, policy=policy)
        install_chart(
            f"{name}-cluster-autoscaler",
            CHARTS["cluster-autoscaler"],
            "kube-system",
            cluster_autoscaler_values(config, cluster_name, region, role.arn),
            pulumi.ResourceOptions(parent=self),
            "cluster-autoscaler",
        )


def metrics_server_spec(config: MetricsServerConfig, labels: dict[str, str], service_account: pulumi.Input[str]) -> dict[str, Any]:
    """The metrics-server Deployment's spec (upstream v0.8.0, hardened)."""
    args = [
        "--cert-dir=/tmp",
        "--secure-port=10250",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        "--kubelet-use-node-status-port",
        "--metric-resolution=15s",
    ]
    if config.kubelet_insecure_tls:
        args.append("--kubelet-insecure-tls")  # kind's kubelets serve self-signed certificates
    return {
        "selector": {"matchLabels": labels},
        "strategy": {"rollingUpdate": {"maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "serviceAccountName": service_account,
                "priorityClassName": "system-cluster-critical",
                "containers": [
                    {
                        "name": "metrics-server",
                        "image": METRICS_SERVER_IMAGE,
                        "args": args,
                        "ports": [{"name": "https", "containerPort": 10250, "protocol": "TCP"}],
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"}, "periodSeconds": 10, "failureThreshold": 3, "initialDelaySeconds": 20},
                        "livenessProbe": {"httpGet": {"path": "/livez", "port": "https", "scheme": "HTTPS"}, "periodSeconds": 10, "failureThreshold": 3},
                        "resources": config.resources.values(),
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True,
                            "runAsUser": 1000,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "volumeMounts": [{"name": "tmp-dir", "mountPath": "/tmp"}],
                    }
                ],
                "volumes": [{"name": "tmp-dir", "emptyDir": {}}],
            },
        },
    }


def keda_values(config: KedaConfig) -> dict[str, Any]:
    resources = config.resources.values()
    return {"resources": {"operator": resources, "metricServer": resources, "webhooks": resources}}


def vpa_values(config: VpaConfig, webhook_issuer: str | None = None) -> dict[str, Any]:
    """`webhook_issuer`: the ClusterIssuer of the admission controller's certificate (cert-manager
    injects its CA into the webhook); without it the chart's certgen hook Jobs make both."""
    # A PodDisruptionBudget of minAvailable 1 over a single replica blocks every node drain.
    component = {"replicas": config.replicas, "resources": config.resources.values(), "podDisruptionBudget": {"enabled": config.replicas > 1}}
    if webhook_issuer:
        certificate = {
            "enabled": True,
            "issuerRef": {"name": webhook_issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            "privateKey": {"algorithm": "ECDSA", "size": 256},
        }
        admission = {**component, "certGen": {"enabled": False}, "certManager": certificate}
    else:
        # The admission controller's certificate Jobs (certgen hooks) get requests too.
        admission = {**component, "certGen": {"resources": HOOK_JOB_RESOURCES}}
    return {"recommender": dict(component), "updater": dict(component), "admissionController": admission}


def cluster_autoscaler_values(
    config: ClusterAutoscalerConfig, cluster_name: pulumi.Input[str], region: str, role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        # Finds the node groups by the tags EKS puts on their autoscaling groups.
        "autoDiscovery": {"clusterName": cluster_name},
        "rbac": {"serviceAccount": {"name": CLUSTER_AUTOSCALER_SA, "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        "extraArgs": {
            "scale-down-delay-after-add": f"{config.scale_down_delay_after_add_minutes}m",
            "scale-down-unneeded-time": f"{config.scale_down_unneeded_minutes}m",
            "scale-down-utilization-threshold": str(config.scale_down_utilization_threshold),
            "expander": config.expander,
            "balance-similar-node-groups": str(config.balance_similar_node_groups).lower(),
            "skip-nodes-with-system-pods": "false",
        },
        "resources": config.resources.values(),
    }
