"""Run the real program for a stack under the Pulumi SDK's mock monitor, recording everything.

The tests and the offline render share this module: both see exactly what the program
asks the engine for — per resource its URN, type, name, inputs in the engine's
camelCase form, parent, dependencies, property dependencies, explicit provider and
the protect / retainOnDelete / deleteBeforeReplace options.

    run = run_stack("local")                           # reads ./Pulumi.local.yaml
    run = run_program("local", {"gitops-platform:environment": "local"})
    [provider] = run.of_type("pulumi:providers:kubernetes")
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.config import NAMESPACE

PROJECT = NAMESPACE
SECRET_PLACEHOLDER = "[secret]"


@dataclass(frozen=True)
class Secret:
    """An input value the program marked secret (shown as "[secret]" in reports)."""

    value: Any


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    custom: bool
    id: str
    """ID the (mock) provider assigned; empty for components."""
    parent: str
    inputs: dict[str, Any]
    """Inputs as the engine receives them (camelCase keys); secret values wrapped in `Secret`."""
    outputs: dict[str, Any]
    """State the mock returned (inputs plus realistic computed values)."""
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    provider: str
    """URN of the explicit provider, or "" for the default provider."""
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    additional_secret_outputs: tuple[str, ...]
    ignore_changes: tuple[str, ...]
    remote: bool

    @property
    def kubernetes_object(self) -> bool:
        """A Kubernetes API object (not a provider, Helm release/chart or YAML component)."""
        return self.custom and self.type.startswith("kubernetes:") and not self.type.startswith(
            ("kubernetes:helm.sh/", "kubernetes:yaml/")
        )


@dataclass
class Run:
    """Everything one program run asked the engine for, sorted by URN."""

    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    """The stack's outputs (`pulumi.export`), secrets as `Secret` — what `pulumi stack output` lists."""

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> RecordedResource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self) -> dict[str, RecordedResource]:
        return {r.urn: r for r in self.resources}


def _unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return Secret(_unwrap(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, pulumi.Resource):
        return f"[resource {value._name}]"  # resource references (remote components)
    return value


def reveal(value: Any) -> Any:
    """`value` with every `Secret` replaced by its plain value (for assertions)."""
    if isinstance(value, Secret):
        return reveal(value.value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def redact(value: Any, *, hidden: bool = False) -> Any:
    """`value` with every secret value replaced by "[secret]" (for reports).

    A secret map or list keeps its shape (keys are not secret) so the result still
    validates against the object's schema; each value in it is replaced.
    """
    if isinstance(value, Secret):
        return redact(value.value, hidden=True)
    if isinstance(value, dict):
        return {k: redact(v, hidden=hidden) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, hidden=hidden) for v in value]
    return SECRET_PLACEHOLDER if hidden else value


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _fake_kubeconfig(cluster: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": "bW9jaw=="}}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
            "current-context": cluster,
            "users": [{"name": cluster, "user": {"client-certificate-data": "bW9jaw==", "client-key-data": "bW9jaw=="}}],
        },
        sort_keys=False,
    )


MOCK_ACCOUNT = "123456789012"
"""The AWS account id the mocks pretend to run in."""

# EC2-style id prefixes per resource type, as AWS assigns them.
_EC2_ID_PREFIX = {
    "vpc": "vpc",
    "subnet": "subnet",
    "internetGateway": "igw",
    "routeTable": "rtb",
    "routeTableAssociation": "rtbassoc",
    "natGateway": "nat",
    "eip": "eipalloc",
    "launchTemplate": "lt",
    "securityGroup": "sg",
}


class PlatformMocks(pulumi_mocks.Mocks):
    """Mock provider behaviour with realistic computed outputs, so Outputs resolve like a real `up`.

    ARNs, ids, endpoints, repository URLs and kubeconfigs have the shapes the real
    providers return, in account `MOCK_ACCOUNT` and the stack's region.
    """

    def __init__(self, region: str = "eu-west-1") -> None:
        self.region = region

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        hexid = _digest(typ, name)
        state = dict(inputs)
        if typ.startswith("pulumi:providers:"):
            return f"{name}-{hexid[:8]}", state
        if typ.startswith("aws:"):
            return self._aws(typ, name, hexid, state)
        if typ == "command:local:Command":
            state["stdout"] = _fake_kubeconfig(f"kind-{name}")
            state["stderr"] = ""
            return f"{name}{hexid[:8]}", state
        if typ == "docker:index/remoteImage:RemoteImage":
            state["imageId"] = f"sha256:{hexid}"
            state["repoDigest"] = f"{inputs.get('name', name).split(':')[0]}@sha256:{hexid}"
            return state["imageId"], state
        if typ == "docker:index/volume:Volume":
            state["mountpoint"] = f"/var/lib/docker/volumes/{inputs.get('name', name)}/_data"
            return inputs.get("name", name), state
        if typ == "docker:index/image:Image":
            # Pushed by digest: <repository>@sha256:<digest>.
            repository = str(inputs.get("imageName", name)).rsplit(":", 1)[0]
            state.update(repoDigest=f"{repository}@sha256:{hexid}", imageName=inputs.get("imageName"))
            return f"sha256:{hexid}", state
        if typ.startswith("docker:"):
            return hexid, state
        if typ == "random:index/randomPassword:RandomPassword":
            state["result"] = hexid[: int(inputs.get("length", 16))]
            # The provider's shape (cost 10, 53 characters), and never containing the password.
            state["bcryptHash"] = "$2a$10$" + (hashlib.sha256(f"bcrypt:{hexid}".encode()).hexdigest() * 2)[:53]
            return hexid[:16], state
        if typ == "kubernetes:helm.sh/v3:Release":
            state["status"] = {"name": inputs.get("name", name), "namespace": inputs.get("namespace"), "status": "deployed", "version": inputs.get("version")}
            return f"{inputs.get('namespace')}/{inputs.get('name', name)}", state
        if typ == "tls:index/privateKey:PrivateKey":
            state.update(privateKeyPem=f"-----BEGIN PRIVATE KEY-----\nmock{hexid[:16]}\n-----END PRIVATE KEY-----\n", publicKeyPem="mock-public-key")
            return hexid[:16], state
        if typ == "tls:index/selfSignedCert:SelfSignedCert":
            state.update(certPem=f"-----BEGIN CERTIFICATE-----\nmock{hexid[:16]}\n-----END CERTIFICATE-----\n", validityEndTime="2027-11-22T00:00:00Z")
            return str(int(hexid[:12], 16)), state
        if typ.startswith("kubernetes:") and isinstance(state.get("metadata"), dict):
            metadata = dict(state["metadata"])
            # The provider auto-names objects without metadata.name as <name>-<8 random chars>.
            metadata.setdefault("name", f"{name}-{hexid[:8]}")
            state["metadata"] = metadata
            namespace = metadata.get("namespace")
            return (f"{namespace}/{metadata['name']}" if namespace else metadata["name"]), state
        return f"{name}-{hexid[:8]}", state

    def _aws(self, typ: str, name: str, hexid: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        module, kind = typ.split(":")[1].split("/")[0], typ.split(":")[2]
        kind = kind[0].lower() + kind[1:]
        region, account = self.region, MOCK_ACCOUNT
        # The provider auto-names resources without a name as <name>-<7 random chars>.
        physical = state.get("name") or f"{name}-{hexid[:7]}"
        if module == "ec2" and kind in _EC2_ID_PREFIX:
            resource_id = f"{_EC2_ID_PREFIX[kind]}-{hexid[:17]}"
            state["arn"] = f"arn:aws:ec2:{region}:{account}:{kind.lower()}/{resource_id}"
            if kind == "launchTemplate":
                state["latestVersion"] = 1
                state["defaultVersion"] = 1
            return resource_id, state
        state["name"] = physical
        if module == "iam":
            path = {"role": "role", "openIdConnectProvider": "oidc-provider", "policy": "policy"}.get(kind, kind)
            ident = state["url"].removeprefix("https://") if kind == "openIdConnectProvider" else physical
            state["arn"] = f"arn:aws:iam::{account}:{path}/{ident}"
            if kind == "role":
                state["uniqueId"] = f"AROA{hexid[:17].upper()}"
            return (state["arn"] if kind == "openIdConnectProvider" else physical), state
        if module == "kms" and kind == "key":
            key_id = f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:32]}"
            state.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{account}:key/{key_id}")
            state.pop("name")
            return key_id, state
        if module == "eks" and kind == "cluster":
            cluster_id = hexid[:32].upper()
            state.update(
                arn=f"arn:aws:eks:{region}:{account}:cluster/{physical}",
                endpoint=f"https://{cluster_id}.gr7.{region}.eks.amazonaws.com",
                certificateAuthority={"data": "bW9jay1jYQ=="},
                identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{cluster_id}"}]}],
                status="ACTIVE",
            )
            return physical, state
        if module == "eks" and kind == "nodeGroup":
            group = state.get("nodeGroupName") or physical
            state.update(
                nodeGroupName=group,
                arn=f"arn:aws:eks:{region}:{account}:nodegroup/{state.get('clusterName')}/{group}/{hexid[:36]}",
                resources=[{"autoscalingGroups": [{"name": f"eks-{group}-{hexid[:36]}"}]}],
            )
            return f"{state.get('clusterName')}:{group}", state
        if module == "ecr" and kind == "repository":
            state.update(
                arn=f"arn:aws:ecr:{region}:{account}:repository/{physical}",
                registryId=account,
                repositoryUrl=f"{account}.dkr.ecr.{region}.amazonaws.com/{physical}",
            )
            return physical, state
        if module == "s3" and kind in ("bucket", "bucketV2"):
            # Buckets auto-name from `bucket` (lower case, globally unique) and have no `name`.
            bucket = state.get("bucket") or f"{name}-{hexid[:7]}".lower()
            state.pop("name")
            state.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
                region=region,
            )
            return bucket, state
        state["arn"] = f"arn:aws:{module}:{region}:{account}:{kind}/{physical}"
        return physical, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        region, account = self.region, MOCK_ACCOUNT
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": [f"{region}{z}" for z in "abc"], "zoneIds": [f"euw1-az{i}" for i in (1, 2, 3)], "id": region}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws", "id": "aws"}, []
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": account, "arn": f"arn:aws:sts::{account}:assumed-role/platform-deployer/ci", "userId": "AROAMOCK:ci", "id": account}, []
        if args.token == "aws:iam/getSessionContext:getSessionContext":
            return {
                "arn": args.args["arn"],
                "issuerArn": f"arn:aws:iam::{account}:role/platform-deployer",
                "issuerId": "AROAMOCK",
                "issuerName": "platform-deployer",
                "sessionName": "ci",
                "id": args.args["arn"],
            }, []
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also recording each registration request as the engine sees it."""

    def __init__(self, mocks: pulumi_mocks.Mocks, on_register: Callable[[RecordedResource], None] | None = None) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        self.on_register = on_register

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # the SDK's mock monitor is untyped
        if request.type == "pulumi:pulumi:Stack":
            return response
        registration = self.resources.get(response.urn)
        provider = request.provider.rsplit("::", 1)[0] if request.provider else ""
        recorded = RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            id=response.id,
            parent=request.parent,
            inputs=_unwrap(rpc.deserialize_properties(request.object, keep_unknowns=True)),
            outputs=_unwrap(registration.state if registration else {}),
            dependencies=tuple(request.dependencies),
            property_dependencies={k: tuple(v.urns) for k, v in request.propertyDependencies.items()},
            provider=provider,
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            additional_secret_outputs=tuple(request.additionalSecretOutputs),
            ignore_changes=tuple(request.ignoreChanges),
            remote=bool(request.remote),
        )
        self.recorded.append(recorded)
        if self.on_register is not None:
            self.on_register(recorded)
        return response


def engine_config(values: Mapping[str, Any]) -> dict[str, str]:
    """Config as the engine hands it to a program: structured values as JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


class PreviewMocks(PlatformMocks):
    """The engine's `pulumi preview`: a provider returns a resource's inputs and nothing it
    would compute, so every computed output (a kubeconfig, an ARN, an image digest) is unknown."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return "", dict(args.inputs)


def run_program(
    stack: str,
    config: Mapping[str, Any],
    *,
    secret_keys: Iterable[str] = (),
    program: Callable[[], object] | None = None,
    preview: bool = False,
    project: str = PROJECT,
) -> Run:
    """Run `program` (default: the platform program) for `stack` with `config` under mocks.

    Each run gets a fresh context (settings, root stack, config), so runs in one process
    are independent. `preview`: as `pulumi preview` runs it, every computed output unknown.
    Exceptions from the program propagate; `Run.resources` holds what was registered up to
    then (see `run_program_recording`).
    """
    run, error = run_program_recording(stack, config, secret_keys=secret_keys, program=program, preview=preview, project=project)
    if error is not None:
        raise error
    return run


def _awaited(result: object) -> Awaitable[None] | None:
    """What the engine awaits of a program's return: an awaitable (a test's checks), else nothing
    (the program returns its Platform, for callers that use it)."""
    return cast("Awaitable[None]", result) if inspect.isawaitable(result) else None


@contextlib.contextmanager
def _without_source_positions() -> Iterator[None]:
    """For every resource the SDK walks the Python stack, reading each frame's source line, to
    tell the engine where the resource was declared. Nothing offline reads it (the mock
    monitor ignores it, `RecordedResource` has no place for it): it costs about 13 % of a
    program's run under mocks. Off for the run, put back after."""
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime.proto import source_pb2

    original = getattr(sdk_resource, "_get_stack_trace", None)
    if original is None:  # another SDK: it captures what it captures
        yield
        return
    sdk_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = original


def run_program_recording(
    stack: str,
    config: Mapping[str, Any],
    *,
    secret_keys: Iterable[str] = (),
    program: Callable[[], object] | None = None,
    preview: bool = False,
    project: str = PROJECT,
    on_register: Callable[[RecordedResource], None] | None = None,
) -> tuple[Run, BaseException | None]:
    """Like `run_program`, but returns the program's exception beside what was recorded.

    `on_register`: called with each resource as the program registers it (on the SDK's
    worker thread; it must return quickly), e.g. to start work on it while the program runs."""
    from program import main

    body = program if program is not None else main
    region = str(config.get(f"{NAMESPACE}:region") or "eu-west-1")
    monitor = RecordingMonitor(PreviewMocks(region) if preview else PlatformMocks(region), on_register)
    outcome: list[BaseException | None] = [None]
    outputs: dict[str, Any] = {}

    def execute() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        pulumi_mocks.set_mocks(monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor)
        set_all_config(engine_config(config), list(secret_keys))
        try:
            _sync_await(run_pulumi_func(lambda: _awaited(body())))
            outputs.update(_stack_outputs())
        except BaseException as error:
            outcome[0] = error
        finally:
            asyncio.get_event_loop().close()

    with _without_source_positions():
        contextvars.Context().run(execute)
    # Registration order depends on how Outputs resolve; sort so reports diff cleanly.
    return Run(stack=stack, resources=sorted(monitor.recorded, key=lambda r: r.urn), outputs=outputs), outcome[0]


def _stack_outputs() -> dict[str, Any]:
    """What the program exported, resolved (secrets as `Secret`). The mock root stack finishes
    before the program runs, so its outputs are read from it rather than from the monitor."""
    from pulumi.runtime.settings import get_root_resource

    resolved: dict[str, Any] = {}
    for key, value in (getattr(get_root_resource(), "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        plain = _sync_await(output.future(with_unknowns=True))
        resolved[key] = Secret(plain) if _sync_await(output.is_secret()) else plain
    return resolved


def read_stack_file(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Config and secret keys of a `Pulumi.<stack>.yaml`, as the engine would pass them.

    `secure:` values cannot be decrypted offline: each becomes the placeholder "[secret]"
    and its top-level key is marked secret (the engine marks secrets per top-level key).
    """
    from program import refuse_duplicate_keys

    document = refuse_duplicate_keys(Path(path).read_text(), Path(path).name) or {}
    raw = document.get("config") or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: `config` must be a mapping")
    config: dict[str, Any] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        key = key if ":" in key else f"{PROJECT}:{key}"
        found: list[bool] = []
        config[key] = _replace_secure(value, found)
        if found:
            secret_keys.append(key)
    return config, secret_keys


def _replace_secure(value: Any, found: list[bool]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            found.append(True)
            return SECRET_PLACEHOLDER
        return {k: _replace_secure(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v, found) for v in value]
    return value


def run_stack(stack: str, config_file: str | Path | None = None, **kwargs: Any) -> Run:
    """Run the platform program for `stack` with the config of `Pulumi.<stack>.yaml` (or `config_file`)."""
    config, secret_keys = read_stack_file(config_file or f"Pulumi.{stack}.yaml")
    return run_program(stack, config, secret_keys=secret_keys, **kwargs)
