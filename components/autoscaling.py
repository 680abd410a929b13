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
from .podsecurity import pod_security_labels

if TYPE_CHECKING:
    from .eks import EksCluster

METRICS_SERVER_VERSION = "0.8.1"
"""metrics-server's version: the pinned chart's appVersion, set as the image tag explicitly."""
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
            install_chart(
                f"{name}-metrics-server", CHARTS["metrics-server"], "kube-system",
                metrics_server_values(config.metrics_server, certificates.internal_issuer if certificates else None),
                pulumi.ResourceOptions(parent=self, depends_on=certificates.ready if certificates else None), "metrics-server",
            )
        if config.keda.enabled:
            ns = k8s.core.v1.Namespace(f"{name}-keda-ns", metadata={"name": KEDA_NAMESPACE, "labels": pod_security_labels("restricted")}, opts=child)
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


def metrics_server_values(config: MetricsServerConfig, webhook_issuer: str | None = None) -> dict[str, Any]:
    """metrics-server's chart values. `webhook_issuer`: the ClusterIssuer of its serving
    certificate, whose CA cert-manager injects into the APIService (the API server then
    verifies metrics-server); without it metrics-server signs its own and the APIService
    skips verification (the chart's default)."""
    values: dict[str, Any] = {
        "image": {"tag": f"v{METRICS_SERVER_VERSION}"},
        "resources": config.resources.values(),
        # The chart keeps a single replica from being evicted with its PDB off; updates surge first.
        "updateStrategy": {"rollingUpdate": {"maxUnavailable": 0}},
    }
    if config.kubelet_insecure_tls:
        values["args"] = ["--kubelet-insecure-tls"]  # kind's kubelets serve self-signed certificates
    if webhook_issuer:
        values["tls"] = {"type": "cert-manager", "certManager": {"existingIssuer": {"enabled": True, "kind": "ClusterIssuer", "name": webhook_issuer}}}
        values["apiService"] = {"insecureSkipTLSVerify": False}
    return values


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
