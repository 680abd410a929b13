"""Base of every config model, shared building blocks, and the error cross-field validators raise."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Self, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .quantity import cpu_millicores, memory_mib

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""A DNS-1123 label: namespace, Secret and most object names."""
DNS_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
"""A fully qualified DNS name without wildcard or trailing dot (example.com, argocd.example.com)."""
TRUST_DOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
"""A mesh trust domain: DNS-like labels, dots between (cluster.local, prod.example.com)."""


class Model(BaseModel):
    """Base of every config model: frozen, unknown keys rejected, camelCase in YAML.

    Python callers (app teams building a config in code) may use the snake_case field
    names; the stack-file loader accepts only the camelCase spelling, so each key has
    exactly one way to be written in `Pulumi.<stack>.yaml`.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        validate_default=True,
        # Validators are built on first use, not at import: `from components import
        # MicroserviceStack` stays close to the cost of importing pydantic itself.
        defer_build=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic takes `true` for 1 in an int field; in a stack file that is a typo.
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if annotation in (int, float) or (set(get_args(annotation)) & {int, float} and bool not in get_args(annotation)):
                raise ValueError("expected a number, not true/false")
        return value


MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
"""Stands for a key that was not given at all (as opposed to given as null)."""


class KeyProblem(ValueError):
    """Raised by cross-field validators to point at the exact key that must change.

    `key` is relative to the model that raises (camelCase, dots for nesting); the
    loader appends it to the model's own path, so the message names the full key.
    """

    def __init__(self, key: str, message: str, value: Any = MISSING) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.value = value


def given_in_plain_text(info: ValidationInfo, path: str) -> bool:
    """Whether the secret-only setting at `path` (dotted, below `gitops-platform:`) was given in plain text.

    The engine marks secrets per top-level key, so a secure sibling would hide a plain
    value; the loader therefore also passes the exact paths the stack file holds as
    `secure:` (`secure_paths`). A path counts as secret when it, or an object enclosing
    it, is secure there; with no secure path under its top-level key (config from an
    environment, not the stack file) the engine's word is all there is. Without any
    context (Python callers, no engine) nothing is plain text.
    """
    context = info.context or {}
    secret_keys = context.get("secret_keys")
    if secret_keys is None:
        return False
    top = path.split(".", 1)[0]
    if top not in secret_keys:
        return True
    under = [p for p in context.get("secure_paths") or () if p == top or p.startswith(f"{top}.")]
    return bool(under) and not any(path == p or path.startswith(f"{p}.") for p in under)


def _deep_merge(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in given.items():
        base = merged.get(key)
        merged[key] = _deep_merge(base, value) if isinstance(base, Mapping) and isinstance(value, Mapping) else value
    return merged


Profiles = Mapping[str, Mapping[str, Any]]
"""Per-environment defaults of a ProfiledModel: environment -> values in stack-file form."""


class ProfiledModel(Model):
    """A config model whose defaults depend on the environment (`local` | `aws`).

    `PROFILES[environment]` holds the profile's defaults in stack-file form (camelCase
    keys); what the stack file gives is deep-merged over them. The loader passes the
    environment as validation context; Python callers use `for_environment`:

        MeshConfig.for_environment("aws", tracingSamplingPercent=5)
    """

    PROFILES: ClassVar[Profiles] = {}

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        environment = (info.context or {}).get("environment")
        if not environment or not isinstance(data, Mapping):
            return data
        merged = _deep_merge(cls.PROFILES.get(environment, {}), data)
        # A profiled field left out still gets its own profile's defaults.
        for name, field in cls.model_fields.items():
            key = field.alias or name
            profiled = isinstance(field.annotation, type) and issubclass(field.annotation, ProfiledModel)
            if profiled and key not in merged and name not in merged:
                merged[key] = {}
        return merged

    @classmethod
    def for_environment(cls, environment: str, **values: Any) -> Self:
        """This model with `environment`'s profile defaults under `values` (camelCase keys)."""
        return cls.model_validate(values, context={"environment": environment})


class ComputeConfig(Model):
    """A CPU and memory pair, as Kubernetes quantities."""

    cpu: str = Field(description="CPU, e.g. `100m` or `0.5`.")
    memory: str = Field(description="Memory, e.g. `128Mi` or `1Gi`.")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str) -> str:
        cpu_millicores(value)
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        memory_mib(value)
        return value


class ResourcesConfig(Model):
    """Requests (what the scheduler reserves) and limits (the ceiling) of a workload."""

    requests: ComputeConfig = Field(description="Reserved CPU and memory: always explicit, so the footprint is known.")
    limits: ComputeConfig = Field(description="CPU and memory ceiling; at least the requests.")

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> ResourcesConfig:
        if cpu_millicores(self.limits.cpu) < cpu_millicores(self.requests.cpu):
            raise KeyProblem("limits.cpu", f"must be at least requests.cpu ({self.requests.cpu})", self.limits.cpu)
        if memory_mib(self.limits.memory) < memory_mib(self.requests.memory):
            raise KeyProblem("limits.memory", f"must be at least requests.memory ({self.requests.memory})", self.limits.memory)
        return self

    def values(self) -> dict[str, dict[str, str]]:
        """As Kubernetes ResourceRequirements (and Helm chart `resources` values)."""
        return {"requests": self.requests.model_dump(), "limits": self.limits.model_dump()}


class ScalingConfig(Model):
    """Replica bounds: equal bounds mean a fixed count, otherwise a HorizontalPodAutoscaler scales between them."""

    min_replicas: int = Field(ge=1, le=50, description="Replicas at least (and at start).")
    max_replicas: int = Field(ge=1, le=50, description="Replicas at most; above minReplicas turns autoscaling on.")

    @model_validator(mode="after")
    def _bounds(self) -> ScalingConfig:
        if self.min_replicas > self.max_replicas:
            raise KeyProblem("minReplicas", f"must be at most maxReplicas ({self.max_replicas})", self.min_replicas)
        return self

    @property
    def autoscaled(self) -> bool:
        return self.max_replicas > self.min_replicas
