"""components.podsecurity: Pod Security labels, and a reason on every namespace below `restricted`."""

from __future__ import annotations

import pytest

from components.podsecurity import LABEL_PREFIX, NODE_AGENT_REASONS, REASON_ANNOTATION, namespace_metadata, pod_security_labels


def test_the_six_labels_enforce_warn_and_audit_at_the_latest_version():
    labels = pod_security_labels("restricted", warn="baseline")

    assert labels == {
        f"{LABEL_PREFIX}enforce": "restricted", f"{LABEL_PREFIX}enforce-version": "latest",
        f"{LABEL_PREFIX}warn": "baseline", f"{LABEL_PREFIX}warn-version": "latest",
        f"{LABEL_PREFIX}audit": "restricted", f"{LABEL_PREFIX}audit-version": "latest",
    }


def test_a_restricted_namespace_needs_no_reason():
    metadata = namespace_metadata("apps", "restricted", labels={"istio-injection": "enabled"})

    assert metadata["name"] == "apps" and "annotations" not in metadata
    assert metadata["labels"]["istio-injection"] == "enabled"  # type: ignore[index]


def test_below_restricted_the_reason_is_required_and_annotated():
    with pytest.raises(ValueError, match="enforces Pod Security `privileged`: give the reason"):
        namespace_metadata("falco", "privileged")

    metadata = namespace_metadata("falco", "privileged", NODE_AGENT_REASONS["falco"])
    assert metadata["annotations"] == {REASON_ANNOTATION: NODE_AGENT_REASONS["falco"]}


def test_every_node_agent_namespace_says_which_pods_need_the_node():
    assert set(NODE_AGENT_REASONS) == {"monitoring", "falco", "vault", "trivy-system"}
    assert all(len(reason) > 40 for reason in NODE_AGENT_REASONS.values())
