"""render.checks.paths: paths: every entry point and client address traced to the container that answers; each planted
break fails on the hop that breaks, naming it and the fix."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable

import pytest

from helpers import ROOT
from render.checks.paths import PORT_FORWARDS, container_listens, paths_report
from render.engine.deployed import Deployed
from render.engine.injection import as_admitted

LOCAL_PORTS = {8080: 30080, 8443: 30443}


@pytest.fixture(scope="module")
def local(rendered):
    _, data, deployed = rendered("local")
    return data, as_admitted(deployed.objects)


def planted(objects: list[Deployed], kind: str, namespace: str, name: str, change: Callable[[dict], None]) -> list[Deployed]:
    """`objects` with one object (found by kind, namespace, name) changed by `change`."""
    out, found = [], False
    for d in objects:
        if (d.kind, d.namespace, d.name) == (kind, namespace, name):
            obj = copy.deepcopy(d.obj)
            change(obj)
            d, found = dataclasses.replace(d, obj=obj), True
        out.append(d)
    assert found, f"{kind} {namespace}/{name} is not in the stack"
    return out


def errors(objects: list[Deployed], ports: dict[int, int] | None = LOCAL_PORTS) -> list[dict[str, str]]:
    return paths_report(objects, "local", ports)["errors"]


def only(objects: list[Deployed], ports: dict[int, int] | None = LOCAL_PORTS) -> dict[str, str]:
    [error] = errors(objects, ports)
    return error


@pytest.mark.parametrize("stack", ["local", "aws", "aws-apps"])
def test_every_path_of_the_stacks_resolves(rendered, stack):
    _, data, _ = rendered(stack)

    assert data["paths"]["errors"] == []
    assert data["paths"]["clients"] > 10
    assert all(entry["hops"] for entry in data["paths"]["entries"])


def test_the_sample_app_url_is_traced_from_the_host_port_to_the_container(local):
    data, _ = local
    [app] = [e for e in data["paths"]["entries"] if e["entry"] == "https://app.localtest.me:8443"]

    assert app["hops"][0] == "127.0.0.1:8443 -> kind node port 30443"
    assert any("Certificate istio-ingress/gateway-tls covers app.localtest.me" in h for h in app["hops"])
    assert app["hops"][-1].startswith("Deployment apps/frontend port 8080")


def test_a_certificate_that_does_not_cover_the_host_breaks_the_url(local):
    _, objects = local
    broken = planted(objects, "Certificate", "istio-ingress", "gateway-tls", lambda o: o["spec"].update(dnsNames=["localhost", "*.example.test"]))

    found = [e for e in errors(broken) if e["check"] == "entry"]

    assert {e["object"] for e in found} == {"https://app.localtest.me:8443", "https://argocd.localtest.me:8443"}
    assert "is issued for localhost, *.example.test, not app.localtest.me" in found[0]["message"] + found[1]["message"]
    assert "add the host to its dnsNames" in found[0]["message"]


def test_a_node_port_kind_does_not_map_breaks_every_url(local):
    _, objects = local

    found = errors(objects, {8080: 30080, 8443: 31443})

    assert found and all("kind maps no host port to NodePort 30443" in e["message"] for e in found)


def test_a_gateway_without_an_https_server_breaks_the_url(local):
    _, objects = local
    broken = planted(objects, "Gateway", "istio-ingress", "main", lambda o: o["spec"].update(servers=o["spec"]["servers"][:1]))

    messages = {e["message"] for e in errors(broken) if e["check"] == "entry"}

    assert messages and all("no Gateway server selecting Deployment istio-ingress/istio-ingressgateway" in m and "Service port 443" in m for m in messages)


def test_a_route_to_a_port_the_service_lacks_breaks_the_url(local):
    _, objects = local

    def retarget(o: dict) -> None:
        o["spec"]["http"][0]["route"][0]["destination"]["port"]["number"] = 8081

    error = only(planted(objects, "VirtualService", "argocd", "argocd-server", retarget))

    assert error["object"] == "https://argocd.localtest.me:8443"
    assert "Service argocd/argocd-server (release argocd) has no port 8081" in error["message"]


def test_a_named_target_port_no_container_declares_is_an_error(local):
    _, objects = local

    def rename(o: dict) -> None:
        o["spec"]["ports"][0]["targetPort"] = "htp"

    found = errors(planted(objects, "Service", "apps", "backend", rename))

    assert any(e["check"] == "service-ports" and e["object"] == "Service apps/backend" and "targetPort 'htp' names no port" in e["message"]
               and "name a declared port" in e["message"] for e in found)


def test_a_client_address_whose_target_nothing_answers_is_an_error(local):
    _, objects = local

    def move(o: dict) -> None:
        for p in o["spec"]["ports"]:
            if p["port"] == 9090:
                p["targetPort"] = 9091

    found = [e for e in errors(planted(objects, "Service", "monitoring", "kps-prometheus", move)) if e["check"] in ("client", "entry")]

    assert found and all("nothing in Prometheus monitoring/kps-prometheus" in e["message"] or "not 9091" in e["message"] for e in found)
    assert any(e["object"].startswith("Deployment istio-system/kiali") for e in found)


def test_a_numeric_probe_on_a_port_the_container_does_not_serve_is_an_error(local):
    _, objects = local

    def probe(o: dict) -> None:
        o["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": 9999}}

    found = [e for e in errors(planted(objects, "Deployment", "argocd", "argocd-server", probe)) if e["check"] == "probes"]

    assert len(found) == 1 and "readinessProbe probes port 9999, which it neither declares nor binds" in found[0]["message"]


def test_what_a_container_answers_on_includes_its_own_bind_flags():
    container = {"name": "c", "image": "example.com/x:1",
                 "args": ["--health-probe-bind-address=:8081", "--secure-port=10250", "--metrics-bind-address=127.0.0.1:8080", "--v=2"]}

    # A loopback bind answers only inside the pod: no probe or Service reaches it.
    assert set(container_listens(container)) == {8081, 10250}


def test_the_documented_uis_are_exactly_the_traced_entry_points(local):
    data, _ = local
    readme = (ROOT / "README.md").read_text()
    block = readme.split("[start:uis]", 1)[1].split("[end:uis]", 1)[0]
    documented = set(re.findall(r"`(https?://(?!localhost)[a-z.]+:\d+)`", block)) | set(re.findall(r"`(kubectl -n [a-z-]+ port-forward svc/[a-z-]+ [\d:]+)`", block))
    traced = {e["entry"].split(" -> ")[0] for e in data["paths"]["entries"] if e["entry"].startswith(("https://", "kubectl"))}

    assert documented == traced
    assert {f.command() for f in PORT_FORWARDS} <= traced


def test_a_pod_without_a_sidecar_behind_strict_mtls_breaks_its_paths(rendered):
    _, _, deployed = rendered("local")

    def uninject(o: dict) -> None:
        o["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] = "false"

    # Planted before admission: the injector then leaves the frontend without a sidecar.
    found = errors(as_admitted(planted(list(deployed.objects), "Deployment", "apps", "frontend", uninject)))

    assert any(e["object"] == "https://app.localtest.me:8443" and "makes Deployment istio-ingress/istio-ingressgateway (release istio-ingressgateway)'s sidecar"
               " speak mTLS to Deployment apps/frontend, which has no sidecar" in e["message"] for e in found), found
    assert any(e["check"] == "client" and e["object"].startswith("Deployment apps/frontend ->")
               and "has no sidecar and Rollout apps/backend accepts only mTLS (PeerAuthentication STRICT)" in e["message"] for e in found), found
