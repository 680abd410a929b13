"""Cluster states for `make verify`'s tests: the local stack as it runs when everything works, and a gateway serving it."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

from kubernetes import config

from fake_api import Cluster, serving_gateway

FALCO_METRICS = """# HELP falcosecurity_falco_version_info https://falco.org/docs/metrics/
# TYPE falcosecurity_falco_version_info gauge
falcosecurity_falco_version_info{version="0.44.1"} 1
# TYPE falcosecurity_falco_sha256_rules_files_info gauge
falcosecurity_falco_sha256_rules_files_info{file_name="falco_rules.yaml",sha256="58a4f1"} 1
falcosecurity_falco_sha256_rules_files_info{sha256="6f0078",file_name="platform-rules.yaml"} 1
"""


def falco_pod(name, labels, phase="Running"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "falco", "labels": dict(labels)}, "status": {"phase": phase},
            "spec": {"containers": [{"name": "falco", "image": "docker.io/falcosecurity/falco:0.44.1"}]}}


def healthy(objects, expected) -> Cluster:
    """The local stack as it runs when everything works."""
    cluster = Cluster()
    wanted = set(expected.workloads)
    for d in objects:
        if (d.kind, d.namespace, d.name) in wanted:
            cluster.workload(d.obj)
        elif d.kind == "CustomResourceDefinition" and d.name in expected.crds:
            cluster.crd(d.obj)
    for d in objects:
        if (d.kind, d.name) in expected.webhooks:
            cluster.objects[f"/apis/admissionregistration.k8s.io/v1/{d.kind.lower()}s/{d.name}"] = d.obj
            for webhook in d.obj.get("webhooks") or []:
                service = (webhook.get("clientConfig") or {}).get("service")
                if service:
                    cluster.endpoints(service["namespace"], service["name"])
    services = {(d.namespace, d.name): d.obj for d in objects if d.kind == "Service"}
    cluster.service(services[("monitoring", "kps-prometheus")], {
        "api/v1/targets": {"status": "success", "data": {"activeTargets": [
            {"scrapePool": "serviceMonitor/monitoring/istiod/0", "health": "up", "labels": {"namespace": "istio-system", "pod": "istiod-1"}},
        ]}},
        "api/v1/rules": {"status": "success", "data": {"groups": [{"name": g} for g in expected.rule_groups]}},
    })
    cluster.service(services[("vault", "vault")], {"v1/sys/seal-status": {"initialized": True, "sealed": False, "type": "shamir"}})
    cluster.pod_security = {expected.app_namespace: expected.app_pod_security}
    cluster.reports = [{"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReport", "metadata": {"name": "r", "namespace": "apps"}}]
    for _, namespace, service, _, path in expected.ui:
        cluster.service(services[(namespace, service)], {path: {"status": "ok"}})
    falco_labels = dict(term.split("=") for term in expected.falco.selector.split(","))
    cluster.pods = [falco_pod("falco-x7k2p", falco_labels)]
    cluster.pod_http[("falco", "falco-x7k2p", 8765)] = {"metrics": FALCO_METRICS}
    return cluster


def gateway_answers(expected):
    """What a working gateway answers: each routed host's first path, and the sample's data."""
    answers = {(host, path): 200 for host, path in zip(expected.gateway.hosts, expected.gateway.paths, strict=True)}
    answers[expected.gateway.sample] = 200
    return answers


@contextmanager
def gateway_for(expected, pki, tmp_path, answers=None, names=("localhost", "*.localtest.me")):
    """A gateway serving `answers` with a certificate from `pki`; yields `expected` pointing at it and trusting the platform CA."""
    cert, key = pki.issue(list(names), tmp_path)
    with serving_gateway(gateway_answers(expected) if answers is None else answers, cert, key) as address:
        yield dataclasses.replace(expected, gateway=dataclasses.replace(expected.gateway, address=address, ca_pem=pki.ca_pem))


def client_for(kubeconfig):
    return config.new_client_from_config(config_file=str(kubeconfig))


def state_export(objects):
    """A `pulumi stack export` of a stack that deployed `objects`: each a resource under its
    Chart or ConfigGroup (or the stack), a v3 Release's objects only as its `resourceNames`."""
    stack = "urn:pulumi:local::gitops-platform::pulumi:pulumi:Stack::gitops-platform-local"
    resources = [{"urn": stack, "type": "pulumi:pulumi:Stack", "custom": False},
                 {"urn": f"{stack}$random:index/randomPassword:RandomPassword::p", "type": "random:index/randomPassword:RandomPassword", "custom": True,
                  "parent": stack, "outputs": {"result": "x"}},
                 {"urn": f"{stack}$kubernetes:core/v1:ConfigMap::gone", "type": "kubernetes:core/v1:ConfigMap", "custom": True, "delete": True,
                  "parent": stack, "outputs": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone", "namespace": "apps"}}}]
    releases: dict[str, dict] = {}
    for i, d in enumerate(objects):
        group, _, version = d.obj["apiVersion"].rpartition("/")
        if d.origin == "release":
            names = [o.namespace for o in objects if o.origin == "release" and o.release == d.release]
            release = releases.setdefault(d.release, {
                "urn": f"{stack}$kubernetes:helm.sh/v3:Release::{d.release}", "type": "kubernetes:helm.sh/v3:Release", "custom": True, "parent": stack,
                "outputs": {"namespace": max(set(names), key=names.count), "resourceNames": {}},
            })
            key = f"{d.kind}{'.' + group if group else ''}/{d.obj['apiVersion']}"
            short = d.name if d.namespace in ("", release["outputs"]["namespace"]) else f"{d.namespace}/{d.name}"
            release["outputs"]["resourceNames"].setdefault(key, []).append(short)
            continue
        if d.origin not in ("program", "chart", "crds", "config-group"):
            continue  # hooks: never resources of the state
        parent = stack
        if d.origin in ("chart", "crds"):
            parent = f"{stack}$kubernetes:helm.sh/v4:Chart::{d.release}"
            resources.append({"urn": parent, "type": "kubernetes:helm.sh/v4:Chart", "custom": False, "parent": stack})
        elif d.origin == "config-group":
            parent = f"{stack}$kubernetes:yaml/v2:ConfigGroup::crds"
            resources.append({"urn": parent, "type": "kubernetes:yaml/v2:ConfigGroup", "custom": False, "parent": stack})
        resources.append({"urn": f"{parent}$kubernetes:{group or 'core'}/{version}:{d.kind}::{i}", "type": f"kubernetes:{group or 'core'}/{version}:{d.kind}",
                          "custom": True, "parent": parent, "outputs": {**d.obj, "__inputs": {"kind": d.kind}}})
    return {"version": 3, "deployment": {"resources": resources + list(releases.values())}}
