"""verify.cli: `make verify` exits 0 or 1, speaks JSON, says where it looked, documents every check, and retries with --wait."""

from __future__ import annotations

import dataclasses
import json
import re
import socket

import pytest

from fake_api import serving
from verify.checks import (
    CHECKS,
)
from verify.cli import main
from verify_fixtures import client_for, gateway_for, healthy


def test_the_command_exits_0_or_1_and_speaks_json(local_objects, expected, pki, tmp_path, capsys):
    cluster = healthy(local_objects, expected)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(pki.ca_pem)
    with serving(cluster, tmp_path) as kubeconfig, gateway_for(expected, pki, tmp_path) as at_gateway:
        address = "{}:{}".format(*at_gateway.gateway.address)
        arguments = ["--kubeconfig", str(kubeconfig), "--ca-file", str(ca_file), "--gateway-address", address]
        assert main(["local", *arguments, "--json"], expected=expected) == 0
        report = json.loads(capsys.readouterr().out)
        cluster.endpoints("gatekeeper-system", "gatekeeper-webhook-service", ready=False)
        assert main(["local", *arguments], expected=expected) == 1
        text = capsys.readouterr().out
        ca_file.write_text("not a certificate")
        assert main(["local", *arguments], expected=expected) == 2
        bad_ca = capsys.readouterr().err.strip().splitlines()

    assert len(bad_ca) == 1 and f"error: the platform CA ({ca_file}) is not a readable PEM certificate" in bad_ca[0]
    assert report["passed"] is True and [c["check"] for c in report["checks"]] == [name for name, _, _ in CHECKS]
    assert "FAIL  webhook-endpoints" in text and "webhook-endpoints    FAIL" in text


def test_against_nothing_it_fails_with_one_line_naming_where_it_looked(tmp_path, capsys):
    with socket.socket() as s:
        # Bound and never listening for the whole test: connections are refused, and no other
        # test's server can take the port meanwhile.
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
            f"clusters: [{{name: gone, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
            "users: [{name: u, user: {token: t}}]\ncontexts: [{name: gone, context: {cluster: gone, user: u}}]\n"
        )

        assert main(["local", "--kubeconfig", str(kubeconfig)]) == 2
    err = capsys.readouterr().err.strip().splitlines()

    assert len(err) == 1 and f"no cluster answers at http://127.0.0.1:{port}" in err[0] and str(kubeconfig) in err[0]


def test_help_documents_every_check(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out

    assert all(name in out for name, _, _ in CHECKS)


def test_with_wait_failing_checks_are_retried_until_they_pass_or_time_is_up(local_objects, expected, tmp_path, capsys):
    import threading

    from verify.cli import run_checks

    cluster = healthy(local_objects, expected)
    reports, cluster.reports = cluster.reports, []
    no_gateway = dataclasses.replace(expected, gateway=None)
    with serving(cluster, tmp_path) as kubeconfig:
        api = client_for(kubeconfig)
        never = run_checks(api, no_gateway, wait=0.3, interval=0.1)
        threading.Timer(0.3, lambda: setattr(cluster, "reports", reports)).start()  # Trivy's first report arrives
        converged = run_checks(api, no_gateway, wait=10, interval=0.1)
    out = capsys.readouterr().out

    assert [r.name for r in never if not r.passed] == ["trivy-reports"] and all(r.passed for r in converged)
    assert re.search(r"waiting \d+ s for trivy-reports \(\d+ s left of --wait\)", out) and out.count("FAIL  trivy-reports") >= 3 and "PASS  trivy-reports" in out
    with pytest.raises(SystemExit):
        main(["local", "--wait", "-5"])
    assert "--wait: '-5': expected a number of seconds, 0 or more" in capsys.readouterr().err
