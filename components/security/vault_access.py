"""Vault for apps: Kubernetes auth, a role and a policy per service, secrets through the CSI driver.

How it is configured (in-cluster Jobs the engine waits for, no Vault provider at `up`):

- `bootstrap_job` (SecurityStack, once per change): waits for Vault; on aws initialises it if
  it is not yet (auto-unseal with KMS: recovery keys, no unseal keys), keeps the recovery
  keys in the Secret `vault/vault-recovery-keys` for the operator (the one manual step: move
  them to your password manager and delete the Secret) and revokes the root token when done;
  enables the Kubernetes auth method and the KV v2 engine at `secret/`, and writes the
  `platform-configurator` policy and role, bound to the `vault-configurator` ServiceAccount
  of the `vault` namespace. Later runs sign in with that role (no root token exists any more).
  On local (dev mode) the dev root token signs in.
- `role_job` (MicroserviceStack, per service declaring `secrets`): signs in as the
  configurator and writes the service's policy (read on `secret/data/<namespace>/<name>/*`
  only) and its Kubernetes auth role, bound to its own ServiceAccount in its namespace and
  to the `vault` audience; optionally seeds a value that does not exist yet.
- The pod: a `SecretProviderClass` (provider `vault`, the service's role) and a read-only CSI
  volume; `as: file` keys are files under the mount path, `as: env` keys are synced by the
  driver into the Secret `<name>-vault` while a pod mounts them and read through
  `secretKeyRef`. The CSI driver hands the provider the pod's own token for the `vault`
  audience, so a pod can read only what its own ServiceAccount's role allows.

Failure modes: a Job that cannot reach or sign in to Vault fails after its retries and the
`up` fails with its logs (`kubectl -n vault logs job/<name>`); a pod whose secret path or
key does not exist fails to mount its volume and stays `ContainerCreating` with the
provider's error in its events; dev Vault forgets everything when its pod restarts:
`pulumi up --refresh` re-runs the Jobs (they delete themselves 10 minutes after finishing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..model import KeyProblem, Model

NAMESPACE = "vault"
CONFIGURATOR = "vault-configurator"
"""ServiceAccount (in `vault`) of the configuration Jobs, and the Vault role and policy they sign in with."""
CONFIGURATOR_ROLE = "platform-configurator"
AUDIENCE = "vault"
KV_MOUNT = "secret"
VAULT_IMAGE = "hashicorp/vault:2.0.4"
"""The Vault CLI of the configuration Jobs: the server's image of the pinned vault chart."""
PYTHON_IMAGE = "docker.io/library/python:3.12.12-alpine3.22"
"""Stores the recovery keys through the Kubernetes API (the Vault image has no verifying HTTP client)."""
IMAGE_SOURCES = ("docker.io/library/python",)
"""Where the configuration Jobs' images come from besides Vault's own (for Falco's registry allow-list)."""
RECOVERY_SECRET = "vault-recovery-keys"
JOB_TTL_SECONDS = 600
TOKEN_PATH = "/var/run/secrets/vault/token"
_JOB_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH = re.compile(r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?(/[a-z0-9]([-a-z0-9_.]*[a-z0-9])?)+$")


class VaultSecretConfig(Model):
    """A secret a service reads from Vault's KV v2 engine at `secret/`."""

    path: str = Field(description="Path under `secret/`, inside the service's own prefix `<namespace>/<name>/` (e.g. apps/backend/signing).")
    keys: list[str] = Field(min_length=1, description="Keys of the secret to read.")
    as_: Literal["env", "file"] = Field("file", alias="as", description="`file`: one file per key under mountPath; `env`: one environment variable per key.")
    mount_path: str = Field("/vault/secrets", description="Where the files are (read-only); every secret of the service shares it.")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _PATH.match(value):
            raise ValueError("must be a KV path like apps/backend/signing (lowercase segments, no leading `secret/` or slash)")
        return value

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        bad = [k for k in value if not _KEY.match(k)]
        if bad:
            raise ValueError(f"not key names: {', '.join(bad)}")
        if len(set(value)) != len(value):
            raise ValueError("keys must be unique")
        return value

    @model_validator(mode="after")
    def _env_names(self) -> VaultSecretConfig:
        if self.as_ == "env":
            bad = [k for k in self.keys if not _ENV.match(k)]
            if bad:
                raise KeyProblem("keys", f"{', '.join(bad)} cannot be environment variable names; read them `as: file`, or rename them in Vault")
        if not self.mount_path.startswith("/") or self.mount_path.rstrip("/") in ("", "/tmp"):
            raise KeyProblem("mountPath", "must be an absolute path of its own (not / or /tmp)", self.mount_path)
        return self


@dataclass(frozen=True)
class VaultAccess:
    """How pods and Jobs reach the platform's Vault."""

    address: str = "https://vault.vault.svc:8200"
    ca_cert_path: str | None = "/vault/tls/ca.crt"
    """The Vault CA as the CSI provider's pods see it (None: plain HTTP, dev mode)."""
    ca_secret: str | None = "vault-server-tls"
    """Secret in `vault` with `ca.crt`, for the configuration Jobs (None: plain HTTP)."""


DEV_ACCESS = VaultAccess(address="http://vault.vault.svc:8200", ca_cert_path=None, ca_secret=None)


def role_name(namespace: str, service: str) -> str:
    """The Vault role and policy of a service."""
    return f"svc-{namespace}-{service}"


def service_policy(namespace: str, service: str) -> str:
    """Read on the service's own prefix, nothing else."""
    return f'path "{KV_MOUNT}/data/{namespace}/{service}/*" {{\n  capabilities = ["read"]\n}}\n'


CONFIGURATOR_POLICY = """\
# Manage the services' policies and roles (svc-*): nothing else, least of all itself.
path "sys/policies/acl/svc-*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "auth/kubernetes/role/svc-*" {
  capabilities = ["create", "read", "update", "delete", "list"]
  denied_parameters = { "bound_service_account_namespaces" = ["vault"] }
}
# Seed values that do not exist yet (check-and-set 0): never read or overwrite one.
path "secret/data/*" { capabilities = ["create"] }
"""

_WAIT = (
    'i=0; until vault status >/dev/null 2>&1 || [ "$?" -eq 2 ]; do\n'
    '  i=$((i + 1)); [ "$i" -gt 120 ] && { echo "Vault did not answer at $VAULT_ADDR within 10 minutes" >&2; exit 1; }; sleep 5\n'
    "done\n"
)
_LOGIN = f'export VAULT_TOKEN="$(vault write -field=token auth/kubernetes/login role={CONFIGURATOR_ROLE} jwt=@{TOKEN_PATH})"\n'


INIT_SCRIPT = (
    "set -eu\n"
    + _WAIT
    + "if vault status -format=json | grep -q '\"initialized\": false'; then\n"
    "  vault operator init -format=json -recovery-shares=5 -recovery-threshold=3 > /work/init.json\n"
    "fi\n"
)
"""aws, first step: initialise Vault if it is not (auto-unseal: recovery keys and a root token)."""


def bootstrap_script(mode: Literal["dev", "ha"]) -> str:
    """The bootstrap Job's configuration step (idempotent). The privileged steps (auth method,
    KV engine, the configurator's own policy and role) run only with a root token: always in
    dev mode; on aws only while the root token of the initialisation is still valid — it is
    revoked as soon as they succeed (a failed attempt keeps it for the Job's retry). Later
    runs check that the configurator signs in; changing its policy afterwards takes a root
    token generated with the recovery keys (`vault operator generate-root`)."""
    privileged = (
        "vault auth list -format=json | grep -q '\"kubernetes/\"' || vault auth enable kubernetes\n"
        'vault write auth/kubernetes/config kubernetes_host="https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}"\n'
        "vault secrets list -format=json | grep -q '\"secret/\"' || vault secrets enable -path=secret -version=2 kv\n"
        f"vault policy write {CONFIGURATOR_ROLE} - <<'POLICY'\n{CONFIGURATOR_POLICY}POLICY\n"
        f"vault write auth/kubernetes/role/{CONFIGURATOR_ROLE} bound_service_account_names={CONFIGURATOR} "
        f"bound_service_account_namespaces={NAMESPACE} audience={AUDIENCE} token_policies={CONFIGURATOR_ROLE} token_ttl=15m\n"
    )
    if mode == "dev":
        return "set -eu\n" + _WAIT + 'export VAULT_TOKEN="root"  # dev mode: the chart\'s dev root token\n' + privileged
    return (
        "set -eu\n"
        + _WAIT
        + "until vault status >/dev/null 2>&1; do sleep 2; done  # initialised and unsealed (KMS)\n"
        'if [ -n "${VAULT_ROOT_TOKEN:-}" ] && VAULT_TOKEN="$VAULT_ROOT_TOKEN" vault token lookup >/dev/null 2>&1; then\n'
        '  export VAULT_TOKEN="$VAULT_ROOT_TOKEN"\n'
        + "".join(f"  {line}\n" if line.startswith("vault") else f"{line}\n" for line in privileged.splitlines())
        + "  vault token revoke -self  # no root token outlives the bootstrap\n"
        "else\n"
        f"  {_LOGIN}"
        '  vault token lookup >/dev/null && echo "Vault is configured; the configurator signs in"\n'
        "fi\n"
    )


def role_script(namespace: str, service: str, seeds: Mapping[str, Sequence[str]] | None = None) -> str:
    """A service's policy and role (and, for `seeds` path -> keys, values from the Job's
    environment written only where nothing exists yet)."""
    name = role_name(namespace, service)
    script = (
        "set -eu\n"
        + _WAIT
        + _LOGIN
        + f"vault policy write {name} - <<'POLICY'\n{service_policy(namespace, service)}POLICY\n"
        f"vault write auth/kubernetes/role/{name} bound_service_account_names={service} bound_service_account_namespaces={namespace} "
        f"audience={AUDIENCE} token_policies={name} token_ttl=1h\n"
    )
    for path, keys in dict(seeds or {}).items():
        pairs = " ".join(f'{k}="${_env_name(path, k)}"' for k in keys)
        script += f"vault kv put -mount={KV_MOUNT} -cas=0 {path} {pairs} >/dev/null 2>&1 || echo 'kept the existing {path}'\n"
    return script


def _env_name(path: str, key: str) -> str:
    return "SEED_" + re.sub(r"[^A-Z0-9]", "_", f"{path}_{key}".upper())


def seed_env(secret_name: str, seeds: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """The role Job's environment carrying seed values from a Kubernetes Secret (key `<path>/<key>`)."""
    return [
        {"name": _env_name(path, key), "valueFrom": {"secretKeyRef": {"name": secret_name, "key": f"{path.replace('/', '.')}.{key}"}}}
        for path, keys in seeds.items()
        for key in keys
    ]


def _with_recovery_steps(pod: dict[str, Any], vault: dict[str, Any], variables: list[dict[str, Any]], security: dict[str, Any]) -> None:
    """The aws bootstrap: initialise, keep the keys where the operator (and this Job's retry)
    find them, then configure with the root token while it is valid."""
    root = {"name": "VAULT_ROOT_TOKEN", "valueFrom": {"secretKeyRef": {"name": RECOVERY_SECRET, "key": "root-token", "optional": True}}}
    vault["env"] = [*variables, root]
    pod["initContainers"] = [
        {**vault, "name": "initialise", "command": ["/bin/sh", "-c", INIT_SCRIPT], "env": variables},
        {"name": "store-recovery-keys", "image": PYTHON_IMAGE, "command": ["python3", "-c", STORE_RECOVERY_KEYS],
         "volumeMounts": [{"name": "work", "mountPath": "/work", "readOnly": True}], "resources": _JOB_RESOURCES, "securityContext": security},
    ]


def job_spec(script: str, access: VaultAccess, *, store_recovery_keys: bool = False, env: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """A configuration Job: the Vault CLI as `vault-configurator`, signing in with a token for the
    `vault` audience; restricted Pod Security. `store_recovery_keys` (aws bootstrap): first
    initialise Vault if it is not, then keep its recovery keys and root token in
    `vault-recovery-keys`, then configure (the root token is revoked once that succeeds)."""
    security = {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True, "runAsUser": 100, "runAsGroup": 1000,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts: list[dict[str, Any]] = [{"name": "vault-token", "mountPath": "/var/run/secrets/vault", "readOnly": True}, {"name": "work", "mountPath": "/work"}]
    variables: list[dict[str, Any]] = [{"name": "VAULT_ADDR", "value": access.address}, {"name": "HOME", "value": "/work"}, *map(dict, env)]
    volumes: list[dict[str, Any]] = [
        {"name": "vault-token", "projected": {"sources": [{"serviceAccountToken": {"audience": AUDIENCE, "expirationSeconds": 600, "path": "token"}}]}},
        {"name": "work", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
    ]
    if access.ca_secret is not None:
        mounts.append({"name": "vault-ca", "mountPath": "/vault/tls", "readOnly": True})
        variables.append({"name": "VAULT_CACERT", "value": "/vault/tls/ca.crt"})
        volumes.append({"name": "vault-ca", "secret": {"secretName": access.ca_secret, "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
    vault = {"name": "configure", "image": VAULT_IMAGE, "command": ["/bin/sh", "-c", script], "env": variables, "volumeMounts": mounts,
             "resources": _JOB_RESOURCES, "securityContext": security}
    pod: dict[str, Any] = {
        "serviceAccountName": CONFIGURATOR,
        # Only the store step talks to the Kubernetes API; Vault gets the projected audience token.
        "automountServiceAccountToken": store_recovery_keys,
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": volumes,
        "containers": [vault],
    }
    if store_recovery_keys:
        _with_recovery_steps(pod, vault, variables, security)
    return {
        "backoffLimit": 4,
        "activeDeadlineSeconds": 1500,
        "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
        "template": {"metadata": {"labels": {"app": CONFIGURATOR}}, "spec": pod},
    }


STORE_RECOVERY_KEYS = f"""\
import json, os, ssl, time, urllib.error, urllib.request
if not os.path.exists("/work/init.json"):
    raise SystemExit(print("Vault was initialised before: nothing to store") or 0)
init = json.load(open("/work/init.json"))
root = init.pop("root_token")  # kept only until the configuration step revokes it
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
secret = {{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
          "metadata": {{"name": "{RECOVERY_SECRET}", "namespace": "{NAMESPACE}"}},
          "stringData": {{"recovery-keys.json": json.dumps(init, indent=2), "root-token": root}}}}
host = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
request = urllib.request.Request(
    f"https://{{host[0]}}:{{host[1]}}/api/v1/namespaces/{NAMESPACE}/secrets", data=json.dumps(secret).encode(), method="POST",
    headers={{"Authorization": "Bearer " + open(sa + "/token").read(), "Content-Type": "application/json"}})
for attempt in range(12):  # the keys exist only in this pod: retry the API for two minutes before giving up
    try:
        urllib.request.urlopen(request, context=ssl.create_default_context(cafile=sa + "/ca.crt"), timeout=10)
        break
    except urllib.error.HTTPError as error:
        if error.code == 409:
            break  # stored by an earlier attempt
        print(f"storing the recovery keys failed ({{error.code}}), retrying", flush=True)
    except OSError as error:
        print(f"storing the recovery keys failed ({{error}}), retrying", flush=True)
    time.sleep(10)
else:
    # Never into the log (it is shipped to Loki): Vault is initialised and still empty, so the
    # way out is to start it over (README, Vault for apps).
    raise SystemExit("could not store the recovery keys: delete Vault's pods and data volumes and run `pulumi up` again")
print("recovery keys stored in Secret {NAMESPACE}/{RECOVERY_SECRET} (with the root token, revoked once configured):"
      " move the keys to your password manager, then delete the Secret")
"""


def secret_provider_class_spec(namespace: str, service: str, secrets: Sequence[VaultSecretConfig], access: VaultAccess) -> dict[str, Any]:
    """The service's SecretProviderClass: its role, every declared key, and the env keys synced into `<service>-vault`."""
    objects = [
        {"objectName": key, "secretPath": f"{KV_MOUNT}/data/{s.path}", "secretKey": key}
        for s in secrets
        for key in s.keys
    ]
    parameters: dict[str, str] = {
        "roleName": role_name(namespace, service),
        "vaultAddress": access.address,
        "audience": AUDIENCE,
        "objects": json.dumps(objects),
    }
    if access.ca_cert_path is not None:
        parameters["vaultCACertPath"] = access.ca_cert_path
    spec: dict[str, Any] = {"provider": "vault", "parameters": parameters}
    env_keys = [key for s in secrets if s.as_ == "env" for key in s.keys]
    if env_keys:
        spec["secretObjects"] = [{"secretName": synced_secret(service), "type": "Opaque", "data": [{"objectName": k, "key": k} for k in env_keys]}]
    return spec


def synced_secret(service: str) -> str:
    """The Secret the CSI driver keeps a service's `as: env` keys in while its pods run."""
    return f"{service}-vault"
