"""components.security.vault_access: Vault for apps: the bootstrap and per-service Jobs, the pod's CSI wiring, and every bad input refused."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from components import MicroserviceConfig, MicroserviceStack, PlatformWiring
from components.security.vault_access import (
    CONFIGURATOR_POLICY,
    DEV_ACCESS,
    INIT_SCRIPT,
    STORE_RECOVERY_KEYS,
    VaultAccess,
    VaultSecretConfig,
    bootstrap_script,
    job_spec,
    role_name,
    role_script,
    secret_provider_class_spec,
)
from helpers import aws, local
from render.engine.harness import run_program

BASE = {"name": "api", "image": "localhost:5001/api:1.4.0"}
SIGNING = {"path": "apps/api/signing", "keys": ["SIGNING_KEY"], "as": "env"}
CERTS = {"path": "apps/api/tls", "keys": ["client.pem"], "as": "file", "mountPath": "/etc/api"}


def service(**config):
    def program():
        MicroserviceStack("api", MicroserviceConfig(**{**BASE, **config}), PlatformWiring(vault=VaultAccess()))

    return run_program("local", local(), program=program)


@pytest.fixture(scope="module")
def with_secrets():
    return service(secrets=[SIGNING, {**CERTS, "mountPath": "/vault/secrets"}])


def pod(run):
    [deployment] = run.of_type("kubernetes:apps/v1:Deployment")
    return deployment, deployment.inputs["spec"]["template"]["spec"]


# --- the pod --------------------------------------------------------------------------------


def test_the_pod_mounts_its_secrets_read_only_and_reads_env_keys_from_the_synced_secret(with_secrets):
    _, spec = pod(with_secrets)
    [container] = spec["containers"]

    assert {"name": "vault-secrets", "csi": {"driver": "secrets-store.csi.k8s.io", "readOnly": True,
                                             "volumeAttributes": {"secretProviderClass": "api-vault"}}} in spec["volumes"]
    assert {"name": "vault-secrets", "mountPath": "/vault/secrets", "readOnly": True} in container["volumeMounts"]
    assert {"name": "SIGNING_KEY", "valueFrom": {"secretKeyRef": {"name": "api-vault", "key": "SIGNING_KEY"}}} in container["env"]


def test_the_secret_provider_class_uses_the_services_own_role(with_secrets):
    [spc] = [r for r in with_secrets.resources if r.type.endswith(":SecretProviderClass")]
    spec = spc.inputs["spec"]

    assert spec["provider"] == "vault"
    assert spec["parameters"]["roleName"] == "svc-apps-api" and spec["parameters"]["audience"] == "vault"
    assert spec["parameters"]["vaultCACertPath"] == "/vault/tls/ca.crt"
    assert json.loads(spec["parameters"]["objects"]) == [
        {"objectName": "SIGNING_KEY", "secretPath": "secret/data/apps/api/signing", "secretKey": "SIGNING_KEY"},
        {"objectName": "client.pem", "secretPath": "secret/data/apps/api/tls", "secretKey": "client.pem"},
    ]
    # Only env keys are synced into a Kubernetes Secret.
    assert spec["secretObjects"] == [{"secretName": "api-vault", "type": "Opaque", "data": [{"objectName": "SIGNING_KEY", "key": "SIGNING_KEY"}]}]


def test_the_role_job_binds_the_role_to_the_services_account_only_and_runs_before_the_workload(with_secrets):
    [job] = [r for r in with_secrets.of_type("kubernetes:batch/v1:Job")]
    deployment, _ = pod(with_secrets)
    [spc] = [r for r in with_secrets.resources if r.type.endswith(":SecretProviderClass")]
    pod_spec = job.inputs["spec"]["template"]["spec"]
    script = pod_spec["containers"][0]["command"][2]

    assert job.inputs["metadata"]["namespace"] == "vault" and pod_spec["serviceAccountName"] == "vault-configurator"
    assert "bound_service_account_names=api bound_service_account_namespaces=apps audience=vault token_policies=svc-apps-api" in script
    assert 'path "secret/data/apps/api/*" {\n  capabilities = ["read"]\n}' in script
    # The workload does not wait for them (the kubelet retries the volume): no longer critical path.
    assert job.urn not in deployment.dependencies and spc.urn not in deployment.dependencies
    assert pod_spec["automountServiceAccountToken"] is False  # Vault gets a projected token for its own audience
    assert pod_spec["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "vault"


def test_without_secrets_nothing_of_vault_is_created():
    run = service()

    assert not run.of_type("kubernetes:batch/v1:Job")
    assert not [v for v in pod(run)[1]["volumes"] if "csi" in v]


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secrets", "key", "words"),
    [
        ([{**SIGNING, "path": "apps/billing/signing"}], "secrets[0].path", "outside the service's own Vault prefix"),
        ([{**SIGNING, "path": "secret/apps/api/x"}], "secrets[0].path", "outside the service's own Vault prefix"),
        ([{**SIGNING, "path": "/apps/api/x"}], "secrets[0].path", "KV path"),
        ([{**SIGNING, "path": "apps/api/ok", "as": "stdin"}], "secrets[0].as", "'env' or 'file'"),
        ([{**SIGNING, "keys": ["signing-key"]}], "secrets[0].keys", "cannot be environment variable names"),
        ([{**SIGNING, "keys": []}], "secrets[0].keys", "at least 1"),
        ([{**CERTS, "mountPath": "/tmp"}], "secrets[0].mountPath", "absolute path of its own"),
        ([SIGNING, CERTS], "secrets", "shares one mountPath"),
        ([SIGNING, {**SIGNING, "path": "apps/api/other"}], "secrets", "set twice"),
    ],
)
def test_bad_secrets_are_refused_naming_the_key(secrets, key, words):
    from components.config import config_problems

    with pytest.raises(ValidationError) as caught:
        MicroserviceConfig.model_validate({**BASE, "secrets": secrets})

    problems = {p.path.removeprefix("gitops-platform:"): p.message for p in config_problems(caught.value, MicroserviceConfig)}
    assert key in problems, problems
    assert words in problems[key]


def test_an_env_key_clashing_with_plain_env_is_refused():
    with pytest.raises(ValidationError, match="set twice"):
        MicroserviceConfig(**BASE, env={"SIGNING_KEY": "x"}, secrets=[SIGNING])


# --- the scripts ----------------------------------------------------------------------------


def test_ha_bootstrap_initialises_once_stores_the_keys_first_and_keeps_no_valid_root_token():
    script = bootstrap_script("ha")
    spec = job_spec(script, VaultAccess(), store_recovery_keys=True)["template"]["spec"]

    assert [c["name"] for c in spec["initContainers"]] == ["initialise", "store-recovery-keys"]  # keys are safe before anything else
    assert "vault operator init -format=json -recovery-shares=5 -recovery-threshold=3 > /work/init.json" in INIT_SCRIPT
    assert 'root = init.pop("root_token")' in STORE_RECOVERY_KEYS and "json.dumps(init" not in STORE_RECOVERY_KEYS.split("else:")[-1]
    # The root token is used only while it is valid, for the privileged steps, and revoked after them.
    privileged, signed_in = script.split("else\n")
    assert "vault auth enable kubernetes" in privileged and "vault token revoke -self" in privileged
    assert "vault auth enable" not in signed_in and "auth/kubernetes/login role=platform-configurator" in signed_in
    [configure] = spec["containers"]
    assert {"name": "VAULT_ROOT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "vault-recovery-keys", "key": "root-token", "optional": True}}} in configure["env"]
    assert spec["automountServiceAccountToken"] is True  # only the store step uses it (a Role allowing `create` on Secrets)


def test_dev_bootstrap_uses_the_dev_root_token_and_never_initialises():
    script = bootstrap_script("dev")

    assert 'export VAULT_TOKEN="root"' in script and "operator init" not in script


def test_the_configurator_cannot_widen_itself_or_bind_roles_in_vaults_namespace():
    assert 'path "sys/policies/acl/svc-*"' in CONFIGURATOR_POLICY
    assert 'path "sys/policies/acl/*"' not in CONFIGURATOR_POLICY and "platform-configurator" not in CONFIGURATOR_POLICY
    assert "sys/auth" not in CONFIGURATOR_POLICY and "sys/mounts" not in CONFIGURATOR_POLICY
    assert 'denied_parameters = { "bound_service_account_namespaces" = ["vault"] }' in CONFIGURATOR_POLICY
    assert 'path "secret/data/*" { capabilities = ["create"] }' in CONFIGURATOR_POLICY  # seeds, never reads


def test_seeds_are_written_only_where_nothing_exists():
    script = role_script("apps", "backend", {"apps/backend/signing": ["SIGNING_KEY"]})

    assert 'vault kv put -mount=secret -cas=0 apps/backend/signing SIGNING_KEY="$SEED_APPS_BACKEND_SIGNING_SIGNING_KEY"' in script
    assert role_name("apps", "backend") == "svc-apps-backend"


def test_dev_vault_is_reached_over_plain_http_without_a_ca():
    spec = secret_provider_class_spec("apps", "api", [VaultSecretConfig.model_validate(SIGNING)], DEV_ACCESS)

    assert spec["parameters"]["vaultAddress"] == "http://vault.vault.svc:8200" and "vaultCACertPath" not in spec["parameters"]


# --- the platform ---------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "config", "mode"), [("local", local(), "dev"), ("aws", aws(apps={"enabled": True, "host": "app.example.com"}), "ha")])
def test_the_sample_backend_reads_its_signing_key_from_vault(stack, config, mode):
    run = run_program(stack, config)
    [rollout] = [r for r in run.resources if r.type.endswith(":Rollout")]
    [bootstrap] = [r for r in run.of_type("kubernetes:batch/v1:Job") if r.inputs["metadata"]["name"] == "vault-bootstrap"]
    [role_job] = [r for r in run.of_type("kubernetes:batch/v1:Job") if r.inputs["metadata"]["name"] == "svc-apps-backend-role"]
    [container] = rollout.inputs["spec"]["template"]["spec"]["containers"]

    assert {"name": "SIGNING_KEY", "valueFrom": {"secretKeyRef": {"name": "backend-vault", "key": "SIGNING_KEY"}}} in container["env"]
    assert bootstrap.urn in role_job.dependencies  # the role is written by the configurator the bootstrap creates
    seeded = role_job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    assert any(e["name"] == "SEED_APPS_BACKEND_SIGNING_SIGNING_KEY" for e in seeded)
    steps = [c["name"] for c in bootstrap.inputs["spec"]["template"]["spec"].get("initContainers") or []]
    assert steps == (["initialise", "store-recovery-keys"] if mode == "ha" else [])


def test_ha_vault_peers_join_each_other_and_the_csi_provider_trusts_vaults_ca(aws_defaults):
    run = aws_defaults
    [vault] = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "vault"]
    values = vault.inputs["values"]

    config = values["server"]["ha"]["raft"]["config"]
    assert config.count("retry_join {") == 3 and 'leader_api_addr     = "https://vault-2.vault-internal.vault.svc:8200"' in config
    assert values["csi"]["volumeMounts"] == [{"name": "vault-ca", "mountPath": "/vault/tls", "readOnly": True}]
