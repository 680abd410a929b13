"""render.engine.objects: what objects name of each other, and what exists at run time without being declared."""

from __future__ import annotations

from render.engine.deployed import Deployed
from render.engine.objects import (
    Ref,
    certificate_secrets,
    flag_value,
    hook_created_secrets,
    labelled_namespaces,
    mesh_config,
    namespace_labels_from_hooks,
    pod_references,
    runtime_creator,
)


def job(name, args, origin="hook", namespace="gatekeeper-system"):
    return Deployed({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace},
                     "spec": {"template": {"spec": {"containers": [{"name": "c", "args": args}]}}}}, "urn:job", origin)


def test_a_pod_spec_names_its_account_volumes_and_env_sources_with_the_keys_it_reads():
    spec = {
        "serviceAccountName": "api",
        "volumes": [{"name": "tls", "secret": {"secretName": "api-tls", "items": [{"key": "tls.crt", "path": "c"}]}},
                    {"name": "opt", "configMap": {"name": "maybe", "optional": True}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        "containers": [{"name": "c", "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "token"}}}],
                        "envFrom": [{"configMapRef": {"name": "api-env"}}]}],
    }

    refs = {(r.kind, r.name, r.parts) for r in pod_references(spec, "apps")}

    assert refs == {
        ("ServiceAccount", "api", ()), ("Secret", "api-tls", (("key", "tls.crt"),)), ("PersistentVolumeClaim", "data", ()),
        ("ConfigMap", "api-env", ()), ("Secret", "api-token", (("key", "token"),)),
    }
    assert Ref("Secret", "apps", "x", "w").target() == "Secret apps/x" and Ref("PriorityClass", "", "high", "w").target() == "PriorityClass high"


def test_flags_are_read_in_both_spellings_and_hook_jobs_say_which_secrets_they_create():
    assert flag_value(["--secret-name", "a"], "--secret-name") == "a" and flag_value(["--secret-name=b"], "--secret-name") == "b"
    assert flag_value(["--other"], "--secret-name") is None

    made = hook_created_secrets([job("certgen", ["create", "--secret-name=webhook-tls", "--namespace", "keda"])])

    assert list(made) == [("keda", "webhook-tls")]


def test_namespaces_a_hook_labels_with_kubectl():
    hook = job("label", ["label", "ns", "gatekeeper-system", "kube-system", "admission.gatekeeper.sh/ignore=no-self-managing", "--overwrite"])

    assert namespace_labels_from_hooks([hook]) == {
        "gatekeeper-system": {"admission.gatekeeper.sh/ignore": "no-self-managing"},
        "kube-system": {"admission.gatekeeper.sh/ignore": "no-self-managing"},
    }
    assert list(labelled_namespaces(hook)) == [("c", "gatekeeper-system"), ("c", "kube-system")]


def test_certificates_issue_their_secrets_and_istiods_mesh_config_is_read():
    certificate = Deployed({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "gw", "namespace": "istio-ingress"},
                            "spec": {"secretName": "gateway-tls"}}, "", "program")
    istio = Deployed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
                      "data": {"mesh": "trustDomain: shop.example\nextensionProviders: []\n"}}, "", "chart")

    assert certificate_secrets([certificate]) == {("istio-ingress", "gateway-tls"): certificate}
    assert mesh_config([istio]) == {"trustDomain": "shop.example", "extensionProviders": []}
    assert mesh_config([certificate]) is None


def test_objects_controllers_make_at_run_time_say_who_makes_them():
    assert "serviceaccount controller" in (runtime_creator("ServiceAccount", "apps", "default") or "")
    assert runtime_creator("Service", "default", "kubernetes") == "the API server"
    assert runtime_creator("Secret", "apps", "anything") is None
