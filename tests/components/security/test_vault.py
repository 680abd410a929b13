"""components.security.vault: Vault — one dev pod on local; HA raft with TLS, audit storage and KMS auto-unseal on aws; the Secrets Store CSI driver its provider plugs into."""

from __future__ import annotations

import json

from helpers import installed_chart, local, pinned
from render.engine.harness import run_program

CHART = "kubernetes:helm.sh/v4:Chart"
RELEASE = "kubernetes:helm.sh/v3:Release"


def test_ha_vault_on_aws_unseals_itself_with_its_own_kms_key(aws_defaults):
    [key] = [r for r in aws_defaults.of_type("aws:kms/key:Key") if r.name.endswith("vault-unseal")]
    [role] = [r for r in aws_defaults.of_type("aws:iam/role:Role") if "vault-unseal" in r.name]
    [policy] = [r for r in aws_defaults.of_type("aws:iam/rolePolicy:RolePolicy") if "vault-unseal" in r.name]
    server = installed_chart(aws_defaults, "vault", "SecurityStack").inputs["values"]["server"]

    assert key.protect and key.inputs["enableKeyRotation"] is True
    statement = json.loads(policy.inputs["policy"])["Statement"]
    assert statement == [{"Sid": "UnsealWithThisKeyOnly", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
                          "Resource": key.outputs["arn"]}]
    assert "system:serviceaccount:vault:vault" in role.inputs["assumeRolePolicy"]
    assert 'seal "awskms"' in server["ha"]["raft"]["config"] and 'region     = "eu-west-1"' in server["ha"]["raft"]["config"]
    assert server["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    # Vault's namespace lets it reach KMS and STS (443).
    egress = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in aws_defaults.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
              if r.inputs["metadata"]["namespace"] == "vault"}
    assert egress["allow-external"]["egress"][0]["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_vaults_csi_provider_has_the_secrets_store_driver_it_plugs_into(local_defaults):
    driver = next(r for r in local_defaults.of_type(CHART) if r.inputs["chart"] == "secrets-store-csi-driver")
    values = driver.inputs["values"]

    assert (driver.inputs["version"], driver.inputs["namespace"]) == (pinned("secrets-store-csi-driver"), "kube-system")
    assert values["tokenRequests"] == [{"audience": "vault"}]  # each pod's own token, for Vault's Kubernetes auth
    assert values["syncSecret"] == {"enabled": True} and values["enableSecretRotation"] is True
    assert values["linux"]["crds"] == {"enabled": False}  # no Helm hook: the engine owns the CRDs from crds/
    assert installed_chart(local_defaults, "vault", "SecurityStack").inputs["values"]["injector"]["enabled"] is False  # secrets come through CSI


def test_without_the_csi_provider_there_is_no_driver():
    run = run_program("local", local(security={"vault": {"csi": False}}))

    assert not [r for r in run.of_type(CHART) if r.inputs["chart"] == "secrets-store-csi-driver"]


def test_vault_is_a_single_dev_pod_on_local(local_defaults):
    vault = installed_chart(local_defaults, "vault", "SecurityStack")
    values = vault.inputs["values"]

    assert vault.type == RELEASE and vault.inputs["version"] == pinned("vault")
    assert values["server"]["dev"] == {"enabled": True}
    assert "ha" not in values["server"]
    assert values["ui"] == {"enabled": True, "serviceType": "ClusterIP"}
    assert values["injector"]["replicas"] == 1 and values["csi"]["enabled"] is True


def test_vault_is_ha_raft_with_tls_and_audit_storage_on_aws(aws_defaults):
    values = installed_chart(aws_defaults, "vault", "SecurityStack").inputs["values"]
    server = values["server"]

    assert server["ha"]["enabled"] is True and server["ha"]["replicas"] == 3
    assert server["ha"]["raft"]["enabled"] is True
    assert 'tls_cert_file = "/vault/userconfig/tls/tls.crt"' in server["ha"]["raft"]["config"]
    assert "tls_disable" not in server["ha"]["raft"]["config"]
    assert server["volumes"] == [{"name": "tls", "secret": {"secretName": "vault-server-tls"}}]
    assert server["auditStorage"] == {"enabled": True, "size": "10Gi"}
    assert values["global"]["tlsDisable"] is False
    assert values["injector"]["replicas"] == 2
