"""How many deploy-breaking changes does the offline render catch? A trial over the local stack.

    .venv/bin/python bench/breakage.py [--verbose]

Each trial is one small change a user could make (through values, config or the
program) that breaks a real `pulumi up` or leaves the platform silently broken. It is
applied to the local stack's objects as rendered, every object layer of the render runs
again (`render.report.object_layers`), and the trial counts as caught when some layer
reports an error the unchanged stack does not have. Prints each trial, the layer that
caught it, and the catch rate; exits 1 below 95 %.

The trials are deliberately not the planted defects of the test suite: they stand for a
new user's mistakes, to measure the render against changes nobody wrote a test for.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

Change = Callable[[dict[str, Any]], None]


@dataclasses.dataclass(frozen=True)
class Trial:
    name: str
    kind: str
    namespace: str
    object: str
    change: Change
    every: bool = False
    """Change every object that matches (kind, namespace), not only the first."""


def _pod(o: dict[str, Any]) -> dict[str, Any]:
    return dict(o["spec"]["template"]["spec"])


def _first(o: dict[str, Any]) -> dict[str, Any]:
    return dict(o["spec"]["template"]["spec"]["containers"][0])


def _set_env(o: dict[str, Any], name: str, ref: dict[str, Any]) -> None:
    o["spec"]["template"]["spec"]["containers"][0].setdefault("env", []).append({"name": name, "valueFrom": ref})


def _rule(o: dict[str, Any], index: int, **fields: Any) -> None:
    o["spec"]["http"][0]["route"][index]["destination"].update(fields)


TRIALS: tuple[Trial, ...] = (
    Trial("env from a Secret that does not exist", "Deployment", "apps", "frontend",
          lambda o: _set_env(o, "API_TOKEN", {"secretKeyRef": {"name": "frontend-token", "key": "token"}})),
    Trial("env from a key the Secret lacks", "Deployment", "argocd", "argocd-server",
          lambda o: _set_env(o, "REDIS_PW", {"secretKeyRef": {"name": "argocd-redis", "key": "password"}})),
    Trial("ConfigMap volume of a misspelt name", "Deployment", "monitoring", "kps-grafana",
          lambda o: o["spec"]["template"]["spec"]["volumes"].append({"name": "extra", "configMap": {"name": "kps-grafana-dashbords"}})),
    Trial("Service selector no longer matches its pods", "Service", "apps", "backend", lambda o: o["spec"]["selector"].update(app="back-end")),
    Trial("Service targetPort names an undeclared port", "Service", "argocd", "argocd-server",
          lambda o: o["spec"]["ports"][0].update(targetPort="http")),
    Trial("container port renamed under its Service", "Deployment", "apps", "frontend",
          lambda o: o["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(name="web")),
    Trial("route to a host with a typo", "VirtualService", "argocd", "argocd-server", lambda o: _rule(o, 0, host="argocd-sever.argocd.svc.cluster.local")),
    Trial("route to a port the Service lacks", "VirtualService", "apps", "frontend", lambda o: _rule(o, 0, port={"number": 8080})),
    Trial("route to an undefined subset", "VirtualService", "apps", "frontend", lambda o: _rule(o, 0, subset="v2")),
    Trial("subset labels no pod has", "DestinationRule", "apps", "frontend", lambda o: o["spec"]["subsets"][0]["labels"].update(version="v2")),
    Trial("Rollout names a renamed route", "Rollout", "apps", "backend",
          lambda o: o["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]["virtualService"].update(routes=["main"])),
    Trial("Rollout canary subset misspelt", "Rollout", "apps", "backend",
          lambda o: o["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]["destinationRule"].update(canarySubsetName="canery")),
    Trial("analysis queries a Prometheus that is not there", "AnalysisTemplate", "apps", "backend-canary-analysis",
          lambda o: o["spec"]["metrics"][0]["provider"]["prometheus"].update(address="http://prometheus.monitoring:9090")),
    Trial("analysis query does not parse", "AnalysisTemplate", "apps", "backend-canary-analysis",
          lambda o: o["spec"]["metrics"][0]["provider"]["prometheus"].update(query="sum(rate(istio_requests_total[5m])")),
    Trial("gateway certificate loses the wildcard", "Certificate", "istio-ingress", "gateway-tls", lambda o: o["spec"].update(dnsNames=["localhost"])),
    Trial("certificate asks a namespaced Issuer that does not exist", "Certificate", "istio-ingress", "gateway-tls",
          lambda o: o["spec"]["issuerRef"].update(kind="Issuer")),
    Trial("CA issuer reads a misspelt Secret", "ClusterIssuer", "", "platform-ca", lambda o: o["spec"]["ca"].update(secretName="platform-root")),
    Trial("gateway TLS Secret misspelt", "Gateway", "istio-ingress", "main", lambda o: o["spec"]["servers"][1]["tls"].update(credentialName="gateway-tsl")),
    Trial("gateway selector matches no gateway pod", "Gateway", "istio-ingress", "main", lambda o: o["spec"].update(selector={"istio": "ingress"})),
    Trial("authorization principal names a ServiceAccount that is not there", "AuthorizationPolicy", "apps", "backend-allow",
          lambda o: o["spec"]["rules"][0]["from"][0]["source"].update(principals=["cluster.local/ns/apps/sa/front"])),
    Trial("authorization policy selects no workload", "AuthorizationPolicy", "apps", "backend-allow",
          lambda o: o["spec"].update(selector={"matchLabels": {"app": "backnd"}})),
    Trial("DNS egress removed from the vault namespace", "NetworkPolicy", "vault", "", lambda o: _drop_port(o, 53), every=True),
    Trial("DNS allowed on UDP only in argocd", "NetworkPolicy", "argocd", "", lambda o: _drop_port(o, 53, "TCP"), every=True),
    Trial("frontend egress to the backend on the wrong port", "NetworkPolicy", "apps", "frontend",
          lambda o: o["spec"]["egress"][1]["ports"][0].update(port=8081)),
    Trial("monitor scrapes a port name the Service lacks", "ServiceMonitor", "apps", "backend", lambda o: o["spec"]["endpoints"][0].update(port="metrics")),
    Trial("alert rule with a PromQL typo", "PrometheusRule", "monitoring", "platform-rules",
          lambda o: o["spec"]["groups"][0]["rules"][0].update(expr="sum(rate(x[5m]) > 1")),
    Trial("two alert groups of the same name", "PrometheusRule", "monitoring", "platform-rules",
          lambda o: o["spec"]["groups"].append(copy.deepcopy(o["spec"]["groups"][0]))),
    Trial("disruption budget that blocks every drain", "PodDisruptionBudget", "apps", "backend", lambda o: o["spec"].update(minAvailable="100%")),
    Trial("autoscaler targets a renamed workload", "HorizontalPodAutoscaler", "apps", "frontend", lambda o: o["spec"]["scaleTargetRef"].update(name="front")),
    Trial("autoscaler minimum above its maximum", "HorizontalPodAutoscaler", "apps", "frontend", lambda o: o["spec"].update(minReplicas=9, maxReplicas=4)),
    Trial("image tag mistyped", "Deployment", "monitoring", "kps-grafana",
          lambda o: o["spec"]["template"]["spec"]["containers"][-1].update(image="docker.io/grafana/grafana:13.20")),
    Trial("image on latest", "Deployment", "argocd", "argocd-server", lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="quay.io/argoproj/argocd:latest")),
    Trial("memory request above its limit", "Deployment", "apps", "frontend",
          lambda o: o["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"].update(memory="1Gi")),
    Trial("nodeSelector no node carries", "Deployment", "apps", "frontend", lambda o: o["spec"]["template"]["spec"].update(nodeSelector={"disktype": "ssd"})),
    Trial("pod asks more memory than a node has", "Deployment", "apps", "frontend",
          lambda o: o["spec"]["template"]["spec"]["containers"][0]["resources"].update(requests={"cpu": "100m", "memory": "64Gi"}, limits={"cpu": "1", "memory": "64Gi"})),
    Trial("ServiceAccount name misspelt", "Deployment", "apps", "frontend", lambda o: o["spec"]["template"]["spec"].update(serviceAccountName="frontnd")),
    Trial("binding names a Role that is not there", "RoleBinding", "", "", lambda o: o["roleRef"].update(name=o["roleRef"]["name"] + "-x", kind="Role")),
    Trial("probe on a port the container does not serve", "Deployment", "apps", "frontend",
          lambda o: o["spec"]["template"]["spec"]["containers"][0].update(readinessProbe={"httpGet": {"path": "/healthz", "port": 9999}})),
    Trial("tracing provider misspelt", "Telemetry", "istio-system", "mesh-default",
          lambda o: o["spec"]["tracing"][0]["providers"][0].update(name="otel")),
    Trial("synced secret key names an object the provider does not fetch", "SecretProviderClass", "", "",
          lambda o: o["spec"]["secretObjects"][0]["data"][0].update(objectName="pasword")),
    Trial("webhook calls a Service that is not there", "ValidatingWebhookConfiguration", "", "cert-manager-webhook",
          lambda o: o["webhooks"][0]["clientConfig"]["service"].update(name="cert-manager-webhok")),
    Trial("selector misses the template", "Deployment", "apps", "frontend", lambda o: o["spec"]["selector"]["matchLabels"].update(app="front")),
    Trial("privileged container in an app namespace", "Deployment", "apps", "frontend",
          lambda o: o["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(privileged=True)),
    Trial("hostPath volume in an app namespace", "Deployment", "apps", "frontend",
          lambda o: o["spec"]["template"]["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}})),
    Trial("object in a namespace that does not exist", "ConfigMap", "istio-system", "istio", lambda o: o["metadata"].update(namespace="istio-sytem")),
    Trial("NodePort outside the range", "Service", "istio-ingress", "istio-ingressgateway", lambda o: o["spec"]["ports"][2].update(nodePort=8443)),
    Trial("NodePort kind does not map", "Service", "istio-ingress", "istio-ingressgateway", lambda o: o["spec"]["ports"][2].update(nodePort=31443)),
    Trial("run as root under runAsNonRoot", "Deployment", "apps", "frontend",
          lambda o: o["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(runAsUser=0)),
    Trial("env var from a ConfigMap key that is not there", "Deployment", "istio-system", "kiali",
          lambda o: _set_env(o, "KIALI_X", {"configMapKeyRef": {"name": "kiali", "key": "settings.yaml"}})),
    Trial("Alertmanager config routes to an undefined receiver", "Secret", "monitoring", "alertmanager-kps-alertmanager", lambda o: _break_receiver(o)),
    Trial("uninjected frontend under STRICT mTLS", "Deployment", "apps", "frontend",
          lambda o: o["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}).update({"sidecar.istio.io/inject": "false"})),
)


def _drop_port(o: dict[str, Any], port: int, protocol: str | None = None) -> None:
    """Drop `port` (of `protocol`, or any) from every egress rule; a rule left without ports goes."""
    rules = []
    for rule in o["spec"].get("egress") or []:
        ports = [p for p in rule.get("ports") or [] if not (p.get("port") == port and protocol in (None, p.get("protocol", "TCP")))]
        if rule.get("ports") and not ports:
            continue
        rules.append({**rule, **({"ports": ports} if rule.get("ports") else {})})
    if "egress" in o["spec"]:
        o["spec"]["egress"] = rules


def _break_receiver(o: dict[str, Any]) -> None:
    import base64

    import yaml

    for field in ("stringData", "data"):
        data = o.get(field) or {}
        for key, value in data.items():
            if key.endswith(".yaml"):
                text = base64.b64decode(value).decode() if field == "data" else value
                config = yaml.safe_load(text)
                config["route"]["receiver"] = "pager-duty"
                dumped = yaml.safe_dump(config)
                data[key] = base64.b64encode(dumped.encode()).decode() if field == "data" else dumped
                return


def apply(objects: list[Any], trial: Trial) -> list[Any]:
    """`objects` with the trial's change made to the first object it names (to all, with `every`), as copies."""
    out, changed = [], 0
    for d in objects:
        if (d.kind == trial.kind and (not trial.namespace or d.namespace == trial.namespace) and (not trial.object or d.name == trial.object)
                and (trial.every or not changed) and not (trial.kind == "SecretProviderClass" and not (d.obj.get("spec") or {}).get("secretObjects"))):
            obj = copy.deepcopy(d.obj)
            trial.change(obj)
            d, changed = dataclasses.replace(d, obj=obj), changed + 1
        out.append(d)
    if not changed:
        raise LookupError(f"{trial.name}: no {trial.kind} {trial.namespace}/{trial.object} in the stack")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print the findings that caught each trial")
    args = parser.parse_args()
    from components.config import NAMESPACE, parse_config
    from render.checks import LAYERS, Context, judge
    from render.engine.charts import available
    from render.engine.deployed import deployed_objects
    from render.engine.harness import read_stack_file, run_program
    from render.report import resources_report, stack_context

    config, secrets = read_stack_file(ROOT / "Pulumi.local.yaml")
    run = run_program("local", config, secret_keys=secrets)
    charts = available()
    stack = deployed_objects(run, charts)
    platform = parse_config({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")})
    context = stack_context(run, platform, stack, charts, resources_report(run)["helm_releases"])
    # The run-level layers (the policy pack, the dependency graph) read the program, which the trials leave alone.
    object_layers = [name for name, layer in LAYERS.items() if not layer.needs_run]

    def findings(objects: list[Any]) -> set[tuple[str, str, str]]:
        ctx = Context(objects, context, run)
        for name in object_layers:
            ctx.layer(name)
        return {(f.check, f.object, f.message) for f in judge(ctx).findings if f.severity == "error" and f.check.split(".")[0] in object_layers}

    base = findings(stack.objects)
    caught = 0
    for trial in TRIALS:
        started = time.perf_counter()
        found = sorted(findings(apply(stack.objects, trial)) - base)
        caught += bool(found)
        layers = ", ".join(sorted({check for check, _, _ in found})) or "MISSED"
        print(f"{'caught' if found else 'MISSED':<7} {trial.name:<70} {layers} ({time.perf_counter() - started:.1f}s)")
        if args.verbose:
            for check, what, message in found[:3]:
                print(f"          [{check}] {what}: {message[:200]}")
    rate = caught / len(TRIALS)
    print(f"caught {caught} of {len(TRIALS)} deploy-breaking changes ({rate:.0%}); target 95 %")
    return 0 if rate >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
