"""scripts/pr_comment.py: the PR comment is verdicts, the diff, the engine's summary — and never over GitHub's limit."""

from __future__ import annotations

import pytest

from scripts_import import pr_comment

RENDER = """stack aws: 242 resources declared
charts: 21 pinned charts from the cache: 21 verified against charts.lock
policies: 31 policies on 735 resources, 0 mandatory and 0 advisory violations; 0 on objects inside helm.v3.Releases (not seen by the engine)
schema: 667 objects validated, 1 errors, 0 unvalidated, 0 Helm values errors
  ERROR v1/ConfigMap broken (urn) binaryData.b: 1 is not of type 'string'
critical path: 10 resources: a -> b
helm releases: 20, rendered with the real Helm engine
  v4 kps kube-prometheus-stack 83.4.0 (monitoring): 120 objects
written: build/render-aws/manifests/, build/render-aws/report.json
"""

PREVIEW = """Previewing update (local):
     Type                 Name          Plan
 +   pulumi:pulumi:Stack  gitops-local  create
Policies:
    ✅ gitops-platform@v0.3.0 (local: policies)
Resources:
    + 735 to create

Duration: 41s
"""


def _huge_diff(sections: int) -> str:
    head = "**render diff main -> head (stack aws): 900 changes**\n\n| action | object | why | what to know |\n|---|---|---|---|\n"
    body = "".join(f"\n<details><summary>release r{i}: 30 in-place</summary>\n\n```\n" + "IN-PLACE x\n" * 300 + "```\n</details>\n"
                   for i in range(sections))
    return head + body


def test_the_verdict_lines_are_the_summary_before_the_releases():
    assert pr_comment.verdict_lines(RENDER) == [
        "stack aws: 242 resources declared",
        "policies: 31 policies on 735 resources, 0 mandatory and 0 advisory violations; 0 on objects inside helm.v3.Releases (not seen by the engine)",
        "schema: 667 objects validated, 1 errors, 0 unvalidated, 0 Helm values errors",
        "  ERROR v1/ConfigMap broken (urn) binaryData.b: 1 is not of type 'string'",
        "critical path: 10 resources: a -> b",
    ]


def test_the_preview_summary_is_its_policies_and_resource_counts():
    assert pr_comment.preview_summary(PREVIEW) == [
        "Policies:", "    ✅ gitops-platform@v0.3.0 (local: policies)", "", "Resources:", "    + 735 to create", "", "",
    ]


@pytest.mark.parametrize("sections", [0, 3, 40, 400])
def test_any_diff_fits_one_comment_with_the_cut_stated(sections):
    diffs = {"aws": _huge_diff(sections), "local": _huge_diff(sections)}

    comment = pr_comment.compose({"aws": RENDER, "local": RENDER * 200}, diffs, PREVIEW * 100, "the render-diff artifact")

    assert len(comment) <= pr_comment.LIMIT and comment.startswith(pr_comment.MARKER)
    assert comment.count("```") % 2 == 0 and comment.count("<details>") == comment.count("</details>")
    assert comment.index("**aws**") < comment.index("#### aws") < comment.index("#### local") < comment.index("+ 735 to create")
    if len(_huge_diff(sections)) > pr_comment.LIMIT // 2:
        assert "Cut to fit the comment: the whole diff is in the render-diff artifact" in comment


def test_the_command_reads_its_files_and_names_a_missing_one(tmp_path, capsys):
    (tmp_path / "render.txt").write_text(RENDER)
    (tmp_path / "diff.md").write_text(_huge_diff(2))

    assert pr_comment.main(["--render", f"aws={tmp_path / 'render.txt'}", "--diff", f"aws={tmp_path / 'diff.md'}",
                            "--render", f"local={tmp_path / 'missing.txt'}"]) == 0
    out = capsys.readouterr().out
    assert "schema: 667 objects validated" in out and "release r1" in out
    assert f"(no output: {tmp_path / 'missing.txt'} was not written; see the job's log)" in out and "`pulumi preview`: no output" in out
