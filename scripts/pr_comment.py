"""The pull request comment of preview.yml: verdicts, what the change does, the engine's preview.

    python scripts/pr_comment.py --render aws=render-aws.txt --render local=render-local.txt \\
        --diff aws=diff-aws.md --diff local=diff-local.md --preview preview.txt \\
        --artifact "the render-diff artifact of this run (URL)" > comment.md

In order: each stack's verdict lines (the render summary's headline of each layer and its
errors, never the raw console), then each stack's `render diff` against the target branch
(its Markdown), then the real engine's `pulumi preview` summary (its resource counts and
policy violations). The body never exceeds GitHub's comment limit (65,536 characters):
each part has its share, and what does not fit is cut at a line, the cut stated, with the
artifact named where the whole is. Standard library only: the job that posts runs it
without the project's dependencies.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LIMIT = 65536
MARKER = "<!-- gitops-platform-preview -->"
_VERDICT_SHARE, _PREVIEW_SHARE = 4000, 6000


def verdict_lines(render_output: str) -> list[str]:
    """The summary's verdicts: everything before the per-release lines, minus the charts' source line."""
    lines = []
    for line in render_output.splitlines():
        if line.startswith(("helm releases:", "written:")):
            break
        if line.startswith("charts: ") or not line.strip():
            continue
        lines.append(line)
    return lines


def preview_summary(preview_output: str) -> list[str]:
    """`pulumi preview`'s policy violations and its resource counts (the last lines when it has neither)."""
    lines = preview_output.splitlines()
    keep: list[str] = []
    for start in ("Policies:", "Policy Violations:", "Resources:"):
        index = next((i for i, line in enumerate(lines) if line.strip().startswith(start)), None)
        if index is not None:
            block = [lines[index]]
            for line in lines[index + 1:]:
                if line and not line.startswith(" "):
                    break
                block.append(line)
            keep += [*block, ""]
    return keep or lines[-40:]


def fit(lines: list[str], budget: int, where: str) -> str:
    """`lines` joined, cut at a line to fit `budget` characters, the cut stated."""
    text = "\n".join(lines)
    if len(text) <= budget:
        return text
    note = f"\n... cut to fit the comment; the whole is in {where}"
    kept, size = [], len(note)
    for line in lines:
        if size + len(line) + 1 > budget:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept) + note


def cut_markdown(markdown: str, budget: int, where: str) -> str:
    """A diff's Markdown (already sized by `render diff --max-chars`) cut again at a section if it must be."""
    if len(markdown) <= budget:
        return markdown
    note = f"\n\n_Cut to fit the comment: the whole diff is in {where}._\n"
    out = ""
    for section in markdown.split("\n<details>"):
        piece = section if not out else "\n<details>" + section
        if len(out) + len(piece) + len(note) > budget or piece.count("```") % 2:
            break
        out += piece
    return out + note


def compose(renders: dict[str, str], diffs: dict[str, str], preview: str | None, where: str, limit: int = LIMIT - 536) -> str:
    parts = [MARKER, "### Offline render with the policy pack", ""]
    for stack, output in renders.items():
        parts += [f"**{stack}**", "", "```", fit(verdict_lines(output), _VERDICT_SHARE, where), "```", ""]
    if preview is not None:
        tail = ["### `pulumi preview` of the local stack (the real engine, no cluster)", "", "```",
                fit(preview_summary(preview), _PREVIEW_SHARE, where), "```", ""]
    else:
        tail = ["### `pulumi preview`: no output (see the engine job)", ""]
    head = "\n".join(parts)
    room = limit - len(head) - len("\n".join(tail)) - 200
    body = ["### What this change does to the cluster (`render diff` against the target branch)", ""]
    share = room // max(len(diffs), 1)
    for stack, markdown in diffs.items():
        body += [f"#### {stack}", "", cut_markdown(markdown, share - 20, where), ""]
    comment = head + "\n" + "\n".join(body) + "\n" + "\n".join(tail)
    assert len(comment) <= limit, len(comment)
    return comment


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    found = {}
    for value in values:
        stack, sep, path = value.partition("=")
        if not sep:
            raise SystemExit(f"{flag} takes STACK=FILE, not {value!r}")
        file = Path(path)
        found[stack] = file.read_text() if file.is_file() else f"(no output: {path} was not written; see the job's log)"
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="append", default=[], metavar="STACK=FILE", help="the render's console output")
    parser.add_argument("--diff", action="append", default=[], metavar="STACK=FILE", help="`render diff --format markdown`")
    parser.add_argument("--preview", type=Path, help="`pulumi preview`'s console output")
    parser.add_argument("--artifact", default="this run's artifacts", help="where the whole diff and outputs are")
    args = parser.parse_args(argv)
    preview = args.preview.read_text() if args.preview is not None and args.preview.is_file() else None
    sys.stdout.write(compose(_pairs(args.render, "--render"), _pairs(args.diff, "--diff"), preview, args.artifact))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
