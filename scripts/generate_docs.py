"""The docs pages generated from the code, so they cannot drift.

- `docs/reference/configuration.md`, from the config models: every key, its type, its
  default per stack, its description. The defaults are what each stack gets when its file
  sets only the keys a stack requires (`local`: the environment; `aws`: the environment, a
  region, the gateway's hosts, ACME settings and Argo CD's host): the profile defaults,
  exactly as the program reads them.
- `docs/reference/outputs.md`, from what the program exports on each stack (run under the
  Pulumi SDK's mocks) and `program.OUTPUTS`.

    .venv/bin/python scripts/generate_docs.py            # rewrite the pages (make docs)
    .venv/bin/python scripts/generate_docs.py --check    # exit 1 when a committed page is stale (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402 - after the sys.path entry

from components.config import NAMESPACE, parse_config  # noqa: E402

PAGE = ROOT / "docs" / "reference" / "configuration.md"
OUTPUTS_PAGE = ROOT / "docs" / "reference" / "outputs.md"

MINIMAL: dict[str, dict[str, Any]] = {
    "local": {"environment": "local"},
    "aws": {
        "environment": "aws",
        "region": "eu-west-1",
        "mesh": {"gateway": {"hosts": ["app.example.com", "argocd.example.com"]}},
        "tls": {"acme": {"email": "platform-team@example.com", "hostedZones": [{"id": "Z0123456789ABCDEFGHIJ", "domain": "example.com"}]}},
        "gitops": {"host": "argocd.example.com"},
    },
}
"""The smallest valid configuration of each stack: the keys it requires, with example values."""

STACKS = tuple(MINIMAL)


def _required(stack: str, path: tuple[str, ...]) -> bool:
    node: Any = MINIMAL[stack]
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The config models inside an annotation (`X`, `X | None`, `list[X]`, `dict[str, X]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def type_name(annotation: Any) -> str:
    """A short, readable type: `int`, `string`, `"kind" | "existing"`, `list of string`, `object`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(dict.fromkeys(type_name(a) for a in args))
    if origin in (list, tuple, typing.Sequence) or (origin is not None and getattr(origin, "__name__", "") in ("Sequence", "list", "tuple")):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin in (dict, typing.Mapping) or (origin is not None and getattr(origin, "__name__", "") in ("Mapping", "dict")):
        return f"map of {type_name(args[1])}" if len(args) == 2 else "map"
    if origin is typing.Annotated:
        return type_name(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(field: Any) -> str:
    found = []
    for item in field.metadata:
        for attribute, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "length ≥"), ("max_length", "length ≤")):
            value = getattr(item, attribute, None)
            if value is not None:
                found.append(f"{sign} {value}")
    return f" ({', '.join(found)})" if found else ""


def _shown(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True, mode="json")
    text = json.dumps(value, default=str)
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}…`"


def _class_default(field: Any) -> str:
    """A key inside an optional object or a list item: its model default, or that it is required there."""
    if field.default_factory is not None:
        return _shown(field.default_factory())
    if field.is_required():
        return "required"
    return _shown(field.default)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def rows(models: Mapping[str, BaseModel | None], classes: Mapping[str, type[BaseModel] | None], prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """(key path, type, default per stack..., description) of every key under `prefix`, depth first."""
    keys: dict[str, str] = {}
    for cls in classes.values():
        for name, field in (cls.model_fields if cls else {}).items():
            keys.setdefault(field.alias or name, name)
    for key, name in keys.items():
        path = (*prefix, key)
        fields = {s: (classes[s].model_fields.get(name) if classes.get(s) is not None else None) for s in STACKS}  # type: ignore[union-attr]
        present = {s: f for s, f in fields.items() if f is not None}
        values = {}
        for stack in STACKS:
            instance = models.get(stack)
            value = getattr(instance, name, None) if instance is not None else None
            if stack not in present:
                values[stack] = "—"
            elif _required(stack, path) and not isinstance(value, BaseModel):
                values[stack] = f"required, e.g. {_shown(value)}"
            elif instance is not None:
                values[stack] = _shown(value)
            else:
                values[stack] = _class_default(present[stack])
        first = next(iter(present.values()))
        types_ = dict.fromkeys(type_name(f.annotation) + _bounds(f) for f in present.values())
        descriptions = {s: f.description or "" for s, f in present.items()}
        if len(set(descriptions.values())) == 1:
            description = next(iter(descriptions.values()))
        else:
            description = " — ".join(f"{s}: {d}" for s, d in descriptions.items())
        yield (".".join(path), " / ".join(types_), *(values[s] for s in STACKS), description)
        nested = {s: _models(f.annotation) for s, f in present.items()}
        if not any(len(m) == 1 for m in nested.values()):
            continue
        kind = type_name(first.annotation)
        direct = not kind.startswith(("list", "map"))  # an object, or an optional one: its keys sit under it
        sub_path = path if direct else (*prefix, f"{key}[]" if kind.startswith("list") else f"{key}.<name>")
        sub_classes = {s: (nested[s][0] if len(nested.get(s, [])) == 1 else None) for s in STACKS}
        sub_models = {s: (getattr(models.get(s), name, None) if direct else None) for s in STACKS}
        yield from rows({s: m if isinstance(m, BaseModel) else None for s, m in sub_models.items()}, sub_classes, sub_path)


def render() -> str:
    """The whole page."""
    configs = {stack: parse_config(raw) for stack, raw in MINIMAL.items()}
    classes: dict[str, type[BaseModel]] = {stack: type(config) for stack, config in configs.items()}
    top: dict[str, list[tuple[str, ...]]] = {}
    for row in rows(dict(configs), dict(classes), ()):
        top.setdefault(row[0].split(".", 1)[0].split("[", 1)[0], []).append(row)
    lines = [
        "<!-- Generated by scripts/generate_docs.py from the config models: do not edit; run `make docs`. -->",
        "# Configuration reference",
        "",
        f"Every key under the `{NAMESPACE}:` namespace of `Pulumi.<stack>.yaml`, generated from the",
        "config models (`components/`), so it is what the program accepts. Keys are camelCase;",
        "an unknown key is an error. **local** and **aws** give each key's default on that stack",
        "(its profile), as the program reads a stack file that sets only the keys the stack",
        "requires; `—` means the key does not exist on that stack. `x[]` is each item of list `x`;",
        "`x.<name>` each value of map `x`. Inside an optional object or a list item, a column shows the",
        "key's own default, or `required` when the object needs it.",
        "",
        "The smallest valid stack files:",
        "",
    ]
    for stack, raw in MINIMAL.items():
        lines += [f"```yaml title=\"Pulumi.{stack}.yaml (minimal)\"", "config:"]
        lines += [f"  {NAMESPACE}:{key}: {json.dumps(value)}" for key, value in raw.items()]
        lines += ["```", ""]
    for key, found in top.items():
        lines += [f"## `{NAMESPACE}:{key}`", "", "| key | type | local | aws | description |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(_cell(c) if i != 0 else f"`{c}`" for i, c in enumerate(row)) + " |" for row in found]
        lines.append("")
    return "\n".join(lines)


def render_outputs() -> str:
    """The stack outputs page: which output each stack exports, whether it is secret, what it is for."""
    from program import OUTPUTS
    from program import main as program
    from render.engine.harness import Secret, run_program

    exported: dict[str, dict[str, Any]] = {}
    for stack in STACKS:
        config = {f"{NAMESPACE}:{key}": value for key, value in MINIMAL[stack].items()}
        exported[stack] = run_program(stack, config, program=program).outputs
    names = [*OUTPUTS, *sorted({n for outputs in exported.values() for n in outputs} - set(OUTPUTS))]
    lines = [
        "<!-- Generated by scripts/generate_docs.py from what the program exports: do not edit; run `make docs`. -->",
        "# Stack outputs",
        "",
        "What `pulumi stack output -s <stack>` lists, from running the program for each stack",
        "with its minimal configuration (the defaults). Read a secret one with `--show-secrets`.",
        "",
        "| output | local | aws | secret | what it is |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        marks = ["yes" if name in exported[s] else "when configured" for s in STACKS]
        secret = any(isinstance(exported[s].get(name), Secret) for s in STACKS)
        lines.append(f"| `{name}` | {' | '.join(marks)} | {'yes' if secret else 'no'} | {_cell(OUTPUTS.get(name, ''))} |")
    return "\n".join(lines) + "\n"


def pages() -> dict[Path, str]:
    return {PAGE: render(), OUTPUTS_PAGE: render_outputs()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the docs pages that come from the code.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed page differs from what the code generates")
    args = parser.parse_args(argv)
    stale = []
    for page, text in pages().items():
        if args.check:
            if not page.is_file() or page.read_text() != text:
                stale.append(str(page.relative_to(ROOT)))
            continue
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(text)
        print(f"wrote {page.relative_to(ROOT)}")
    if stale:
        print(f"stale, the code changed: {', '.join(stale)}; run `make docs` and commit them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
