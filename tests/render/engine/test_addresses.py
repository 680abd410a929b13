"""render.engine.addresses: in-cluster and external addresses found in the texts objects carry."""

from __future__ import annotations

from render.engine.addresses import addresses_in, external_addresses_in, namespaces_of, service_of_host, strings_in, wired_texts
from render.engine.deployed import Deployed

NAMESPACES = {"monitoring", "apps"}


def test_service_addresses_with_their_port_or_the_schemes_default():
    text = "http://prometheus.monitoring:9090/api and grpc to jaeger.monitoring.svc.cluster.local:4317, https://vault.vault.svc"

    found = [(svc, ns, port) for svc, ns, port, _ in addresses_in(text, NAMESPACES)]

    assert found == [("prometheus", "monitoring", 9090), ("jaeger", "monitoring", 4317), ("vault", "vault", 443)]


def test_a_text_is_searched_when_it_names_a_namespace_or_a_svc_suffix_alone():
    # The quick test that skips a text must never skip one of these.
    assert [a[:3] for a in addresses_in("vault.vault.svc:8200", set())] == [("vault", "vault", 8200)]
    assert [a[:3] for a in addresses_in("http://api.apps", {"apps"})] == [("api", "apps", 80)]
    assert list(addresses_in("http://api.apps:80", {"monitoring"})) == []


def test_public_names_file_names_and_label_keys_are_not_services():
    text = "registry.k8s.io/pause:3.9 app.kubernetes.io/name config.yaml backend.apps"

    assert list(addresses_in(text, NAMESPACES)) == []


def test_external_addresses_are_public_names_only():
    text = "https://api.github.com/repos http://backend.apps:8080 https://kms.eu-west-1.amazonaws.com x.svc.cluster.local"

    assert [(h, p) for h, p, _ in external_addresses_in(text, NAMESPACES)] == [("api.github.com", 443), ("kms.eu-west-1.amazonaws.com", 443)]


def test_istio_hosts_name_a_service_in_the_mesh_or_nothing():
    assert service_of_host("backend", "apps") == ("apps", "backend")
    assert service_of_host("backend.shop", "apps") == ("shop", "backend")
    assert service_of_host("backend.shop.svc.cluster.local", "apps") == ("shop", "backend")
    assert service_of_host("*.shop.svc.cluster.local", "apps") is None
    assert service_of_host("api.example.com", "apps") is None


def test_strings_are_found_with_their_path_and_texts_where_pods_are_wired():
    assert list(strings_in({"a": ["x", {"b": "y"}], "n": 1})) == [("a[0]", "x"), ("a[1].b", "y")]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps"},
           "spec": {"containers": [{"name": "c", "env": [{"name": "URL", "value": "http://backend.apps:8080"}], "args": ["--x=1"]}]}}

    assert list(wired_texts(Deployed(pod, "urn:p", "program"))) == [("container c env URL", "http://backend.apps:8080"), ("container c args[0]", "--x=1")]


def test_the_stacks_namespaces_are_the_built_in_ones_and_its_namespace_objects():
    namespace = Deployed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}, "urn:ns", "program")

    found = namespaces_of([namespace], "local")

    assert {"apps", "kube-system", "default"} <= found
