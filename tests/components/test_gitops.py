"""components.gitops: Argo CD and the GitOps hand-off: secure defaults, confined projects, the GitOps Bridge cluster Secret."""

from __future__ import annotations

import pytest

from components.config import ConfigError, parse_config
from components.gitops import GitopsConfig, argocd_values
from helpers import AWS_MINIMAL, aws, local, pinned
from render.engine.harness import Secret, reveal, run_program, run_program_recording

APP_PROJECT = "kubernetes:argoproj.io/v1alpha1:AppProject"
TEAM = {"name": "team-a", "sourceRepos": ["https://github.com/example/team-a.git"], "namespaces": ["apps"]}


@pytest.fixture(scope="module")
def local_run():
    return run_program("local", local(gitops={"projects": [TEAM]}))


def chart(run):
    [found] = [r for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.inputs["chart"] == "argo-cd"]
    return found


def cluster_secret(run):
    [found] = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.name.endswith("gitops-cluster-secret")]
    return found


def projects(run):
    return {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in run.of_type(APP_PROJECT)}


def test_argo_cd_is_read_only_by_default_without_exec_anonymous_or_dex(local_run):
    values = reveal(chart(local_run).inputs["values"])
    cm = values["configs"]["cm"]

    assert chart(local_run).inputs["version"] == pinned("argo-cd")
    assert values["configs"]["rbac"]["policy.default"] == "role:readonly"
    assert (cm["exec.enabled"], cm["users.anonymous.enabled"], cm["admin.enabled"]) == (False, False, True)
    assert values["dex"] == {"enabled": False} and values["notifications"] == {"enabled": False}
    assert values["crds"] == {"install": True, "keep": True}
    # TLS ends at the gateway.
    assert values["configs"]["params"] == {"server.insecure": True}
    # The weights and subset labels Argo Rollouts owns are not Argo CD's to revert.
    assert ".spec.http[].route[].weight" in cm["resource.customizations.ignoreDifferences.networking.istio.io_VirtualService"]
    assert "rollouts-pod-template-hash" in cm["resource.customizations.ignoreDifferences.networking.istio.io_DestinationRule"]


def _argocd_secret(run):
    [secret] = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "argocd-secret"]
    return secret


def test_the_admin_password_is_generated_and_only_its_bcrypt_hash_reaches_argo_cd(local_run):
    secret = _argocd_secret(local_run)
    [admin] = [r for r in local_run.of_type("random:index/randomPassword:RandomPassword") if r.name.endswith("gitops-admin-password")]

    assert isinstance(secret.inputs["stringData"], Secret)
    assert reveal(secret.inputs["stringData"]) == {"admin.password": admin.outputs["bcryptHash"]}
    assert admin.outputs["result"] not in str(reveal(secret.inputs))
    # The chart does not make its own argocd-secret, and the secret is there before Argo CD starts.
    assert secret.urn in chart(local_run).dependencies


def test_argo_cds_values_hold_no_secret_so_every_preview_shows_them(local_run):
    values = chart(local_run).inputs["values"]

    assert not isinstance(values, Secret) and "[secret]" not in str(values)
    assert values["configs"]["secret"] == {"createSecret": False}


def test_redis_gets_its_password_from_a_secret_the_program_creates(local_run):
    [redis] = [r for r in local_run.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "argocd-redis"]
    values = reveal(chart(local_run).inputs["values"])

    assert values["redisSecretInit"] == {"enabled": False}  # the chart's init Job is a hook helm.v4.Chart drops
    assert isinstance(redis.inputs["stringData"], Secret) and reveal(redis.inputs["stringData"])["auth"]
    assert redis.urn in chart(local_run).dependencies


def test_sso_turns_the_local_admin_off_and_keeps_the_client_secret_out_of_values():
    oidc = {"issuer": "https://sso.example.com", "clientId": "argocd", "clientSecret": "s3cr3t-value", "adminGroups": ["platform"]}
    run = run_program("local", local(gitops={"oidc": oidc}), secret_keys=["gitops-platform:gitops"])
    values = reveal(chart(run).inputs["values"])

    assert values["configs"]["cm"]["admin.enabled"] is False
    assert "s3cr3t-value" not in str(values) and not isinstance(chart(run).inputs["values"], Secret)
    assert reveal(_argocd_secret(run).inputs["stringData"]) == {"oidc.clientSecret": "s3cr3t-value"}
    assert values["configs"]["rbac"]["policy.csv"] == "g, platform, role:admin\n"
    assert not [r for r in run.of_type("random:index/randomPassword:RandomPassword") if r.name.endswith("gitops-admin-password")]


def test_the_default_project_is_empty_and_a_team_project_is_confined(local_run):
    found = projects(local_run)

    assert found["default"] == {"sourceRepos": [], "destinations": [], "clusterResourceWhitelist": []}
    team = found["team-a"]
    assert team["sourceRepos"] == ["https://github.com/example/team-a.git"]
    assert team["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": "apps"}]
    assert team["clusterResourceWhitelist"] == []
    assert {"group": "networking.k8s.io", "kind": "NetworkPolicy"} in team["namespaceResourceBlacklist"]


def test_the_ui_is_served_by_the_mesh_gateway(local_run):
    [vs] = [r for r in local_run.resources if r.type.endswith(":VirtualService") and r.inputs["metadata"]["name"] == "argocd-server"]

    assert vs.inputs["spec"]["hosts"] == ["argocd.localtest.me"]
    assert vs.inputs["spec"]["gateways"] == ["istio-ingress/main"]
    assert vs.inputs["spec"]["http"][0]["route"][0]["destination"]["host"] == "argocd-server.argocd.svc.cluster.local"


def test_the_cluster_secret_carries_the_gitops_bridge_keys_on_local(local_run):
    secret = cluster_secret(local_run)
    labels, annotations = secret.inputs["metadata"]["labels"], secret.inputs["metadata"]["annotations"]

    assert reveal(secret.inputs["stringData"])["server"] == "https://kubernetes.default.svc"
    assert labels["argocd.argoproj.io/secret-type"] == "cluster"
    assert labels["environment"] == "development" and labels["kubernetes_version"] == "1.35"
    assert labels["enable_argocd"] == labels["enable_cert_manager"] == labels["enable_kube_prometheus_stack"] == "true"
    assert labels["enable_argo_rollouts"] == "true"  # the sample backend's canary
    assert labels["enable_cluster_autoscaler"] == "false"
    assert "aws_cluster_name" not in labels and "aws_region" not in annotations
    assert annotations["platform_registry"] == "localhost:5001"
    assert annotations["platform_prometheus_url"] == "http://kps-prometheus.monitoring.svc.cluster.local:9090"


def test_the_cluster_secret_carries_aws_facts_and_irsa_roles(aws_defaults):
    secret = cluster_secret(aws_defaults)
    labels, annotations = secret.inputs["metadata"]["labels"], secret.inputs["metadata"]["annotations"]

    assert labels["environment"] == "production" and labels["enable_cluster_autoscaler"] == "true"
    assert labels["aws_cluster_name"] and annotations["aws_region"] == "eu-west-1"
    assert annotations["aws_account_id"] == "123456789012" and annotations["aws_vpc_id"]
    for addon, namespace, account in (("cert_manager", "cert-manager", "cert-manager"), ("loki", "monitoring", "loki"),
                                      ("cluster_autoscaler", "kube-system", "cluster-autoscaler")):
        assert annotations[f"{addon}_iam_role_arn"].startswith("arn:aws:iam::")
        assert (annotations[f"{addon}_namespace"], annotations[f"{addon}_service_account"]) == (namespace, account)


def test_repo_annotations_only_when_configured(aws_defaults):
    assert "addons_repo_url" not in cluster_secret(aws_defaults).inputs["metadata"]["annotations"]
    run = run_program("local", local(gitops={"addons": {"repoUrl": "https://github.com/example/addons.git", "basepath": "gitops/", "path": "bootstrap"}}))
    annotations = cluster_secret(run).inputs["metadata"]["annotations"]

    assert (annotations["addons_repo_url"], annotations["addons_repo_basepath"], annotations["addons_repo_path"], annotations["addons_repo_revision"]) == (
        "https://github.com/example/addons.git", "gitops/", "bootstrap", "HEAD")


def test_ha_on_aws():
    values = argocd_values(GitopsConfig.for_environment("aws", host="argocd.example.com"), True)

    for component in ("server", "repoServer", "applicationSet"):
        assert values[component]["replicas"] == 2 and values[component]["pdb"] == {"enabled": True, "minAvailable": 1}
        assert values[component]["metrics"]["serviceMonitor"]["enabled"] is True


# --- bootstrap ----------------------------------------------------------------------------

WORKLOADS = {"repoUrl": "https://github.com/example/workloads.git", "path": "apps"}


def applications(run):
    return [r for r in run.resources if r.type == "kubernetes:argoproj.io/v1alpha1:Application"]


def test_no_bootstrap_without_a_workloads_repository(local_run, aws_defaults):
    assert applications(local_run) == [] and applications(aws_defaults) == []


def test_the_app_of_apps_syncs_the_workloads_path_and_heals_outside_production():
    run = run_program("local", local(gitops={"workloads": WORKLOADS}))
    [app] = applications(run)
    spec = app.inputs["spec"]

    assert spec["source"] == {"repoURL": "https://github.com/example/workloads.git", "targetRevision": "HEAD", "path": "apps"}
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert {"CreateNamespace=true", "ServerSideApply=true"} <= set(spec["syncPolicy"]["syncOptions"])
    assert spec["syncPolicy"]["retry"]["backoff"] == {"duration": "10s", "factor": 2, "maxDuration": "5m"}
    assert app.inputs["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    assert chart(run).urn in app.dependencies  # deleted before Argo CD on destroy
    assert projects(run)["bootstrap"]["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": "argocd"}]
    assert projects(run)["bootstrap"]["namespaceResourceWhitelist"] == [{"group": "argoproj.io", "kind": "Application"}]


def test_production_syncs_by_hand():
    run = run_program("aws", aws(gitops={"host": "argocd.example.com", "workloads": WORKLOADS}))
    [app] = applications(run)

    assert "automated" not in app.inputs["spec"]["syncPolicy"]


def test_repository_credentials_come_from_secret_config_into_a_labelled_secret():
    creds = {**WORKLOADS, "credentials": {"username": "git", "password": "token-123"}}
    run = run_program("local", local(gitops={"workloads": creds}), secret_keys=["gitops-platform:gitops"])
    [repo] = [r for r in run.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "workloads-repository"]

    assert repo.inputs["metadata"]["labels"] == {"argocd.argoproj.io/secret-type": "repository"}
    assert isinstance(repo.inputs["stringData"], Secret)
    assert reveal(repo.inputs["stringData"])["password"] == "token-123"
    run, error = run_program_recording("local", local(gitops={"workloads": creds}))
    assert isinstance(error, ConfigError) and run.resources == [] and "token-123" not in str(error)
    assert "gitops.workloads.credentials" in str(error)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gitops", "key", "text"),
    [
        ({"projects": [{**TEAM, "namespaces": ["kube-system"]}]}, "gitops.projects[0].namespaces", "app namespaces"),
        ({"projects": [{**TEAM, "sourceRepos": ["not a url"]}]}, "gitops.projects[0].sourceRepos", "git repository URL"),
        ({"projects": [{**TEAM, "name": "default"}]}, "gitops.projects[0].name", "other than `default`"),
        ({"projects": [{**TEAM, "name": "bootstrap"}]}, "gitops.projects[0].name", "`bootstrap`"),
        ({"workloads": {"repoUrl": "github.com/example/workloads"}}, "gitops.workloads.repoUrl", "git repository URL"),
        ({"workloads": {**WORKLOADS, "credentials": {"password": "x"}}}, "gitops.workloads.credentials.username", "required with password"),
        ({"workloads": {**WORKLOADS, "credentials": {}}}, "gitops.workloads.credentials.password", "either password"),
        ({"projects": [TEAM, TEAM]}, "gitops.projects", "unique"),
        ({"addons": {"repoUrl": "ftp://example.com/addons"}}, "gitops.addons.repoUrl", "git repository URL"),
        ({"host": "Not A Host"}, "gitops.host", "host name"),
        ({"oidc": {"issuer": "http://sso", "clientId": "a", "clientSecret": "b"}}, "gitops.oidc.issuer", "https://"),
    ],
)
def test_bad_gitops_config_is_refused_naming_the_key(gitops, key, text):
    with pytest.raises(ConfigError) as error:
        parse_config({"environment": "local", "gitops": gitops})
    assert key in str(error.value) and text in str(error.value), str(error.value)


def test_aws_needs_a_ui_host_the_gateway_serves():
    with pytest.raises(ConfigError) as missing:
        parse_config({**AWS_MINIMAL, "gitops": {}})
    assert "gitops.host" in str(missing.value) and "required" in str(missing.value)
    with pytest.raises(ConfigError) as unserved:
        parse_config({**AWS_MINIMAL, "gitops": {"host": "cd.example.com"}})
    assert "gitops.host" in str(unserved.value) and "mesh.gateway.hosts" in str(unserved.value)


def test_a_plain_text_client_secret_is_refused_without_echoing_it():
    oidc = {"issuer": "https://sso.example.com", "clientId": "argocd", "clientSecret": "leaky-value-123"}
    run, error = run_program_recording("local", local(gitops={"oidc": oidc}))

    assert isinstance(error, ConfigError) and run.resources == []
    assert "gitops.oidc.clientSecret" in str(error) and "leaky-value-123" not in str(error)


def test_gitops_without_the_mesh_is_refused():
    with pytest.raises(ConfigError) as error:
        parse_config({"environment": "local", "mesh": {"enabled": False}, "apps": {"enabled": False}})
    assert "gitops.enabled" in str(error.value)


def test_an_existing_stack_adopts_the_charts_argocd_secret_in_place(local_run):
    # The alias names the object the chart made until now, as the engine named it.
    from components.gitops import chart_urn
    from render.checks.policies import child_urn
    from render.engine.deployed import Deployed

    argo = chart(local_run)
    old = Deployed({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "argocd-secret", "namespace": "argocd"}}, argo.urn, "chart")
    # The engine's URNs carry the whole chain of parent types (the mocks only the last one).
    gitops = "urn:pulumi:local::gitops-platform::gitops-platform:index:Platform$gitops-platform:index:GitopsStack::platform-gitops"

    assert chart_urn(gitops, argo.name) == (
        "urn:pulumi:local::gitops-platform::gitops-platform:index:Platform$gitops-platform:index:GitopsStack$kubernetes:helm.sh/v4:Chart::platform-gitops-argo-cd"
    )
    assert child_urn(argo, old)[1] == f"{argo.name}:argocd/argocd-secret"
