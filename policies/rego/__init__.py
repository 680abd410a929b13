"""The Rego of the Gatekeeper ConstraintTemplates: one source of truth for admission.

Each `<name>.rego` is the policy of one template (package `k8s<name>`), with the shared
`lib/workload.rego` passed to Gatekeeper as the template's `libs`. They use Rego v1
syntax through `import rego.v1`, which Gatekeeper's OPA (v0 parser) and regopy both
accept. Each has a CrossGuard twin in `policies/rules/kubernetes.py`.
"""

from __future__ import annotations

from pathlib import Path

REGO_DIR = Path(__file__).resolve().parent


def rego_source(name: str) -> str:
    """The text of `policies/rego/<name>.rego` (e.g. "allowedrepos", "lib/workload")."""
    return (REGO_DIR / f"{name}.rego").read_text()
