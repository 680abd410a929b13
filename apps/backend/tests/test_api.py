"""The backend API: endpoints, metrics by route template and status, readiness while draining, JSON logs."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.main import JsonFormatter, create_app
from app.serve import DrainingServer


@pytest.fixture
def client():
    return TestClient(create_app(version="1.4.0", cluster="kind-test"))


def samples(client, name):
    text = client.get("/metrics").text
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200


def test_data_reports_message_time_version_and_cluster(client):
    body = client.get("/api/data").json()

    assert body["message"] and body["version"] == "1.4.0" and body["cluster"] == "kind-test"
    assert body["timestamp"].endswith("+00:00")


def test_responses_are_signed_with_the_key_from_vault(monkeypatch):
    import hashlib
    import hmac

    monkeypatch.setenv("SIGNING_KEY", "from-vault")
    response = TestClient(create_app(version="1.4.0")).get("/api/data")

    expected = hmac.new(b"from-vault", response.content, hashlib.sha256).hexdigest()
    assert response.headers["X-Signature"] == f"sha256={expected}"


def test_without_a_key_responses_are_not_signed(client, monkeypatch):
    monkeypatch.delenv("SIGNING_KEY", raising=False)

    assert "X-Signature" not in client.get("/api/data").headers


def test_version_and_cluster_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("VERSION", "2.0.0")
    monkeypatch.setenv("CLUSTER", "eks-prod")

    body = TestClient(create_app()).get("/api/data").json()

    assert (body["version"], body["cluster"]) == ("2.0.0", "eks-prod")


def test_requests_are_counted_by_route_template_and_real_status(client):
    client.get("/api/data")
    client.get("/api/data")
    client.get("/no/such/path")

    counts = {(s.labels["method"], s.labels["path"], s.labels["status"]): s.value for s in samples(client, "http_requests_total")}
    assert counts[("GET", "/api/data", "200")] == 2
    assert counts[("GET", "unmatched", "404")] == 1
    assert not any(path == "/no/such/path" for _, path, _ in counts), "raw paths would explode cardinality"


def test_request_duration_histogram(client):
    client.get("/api/data")

    counts = [s for s in samples(client, "http_request_duration_seconds_count") if s.labels["path"] == "/api/data"]
    assert counts and counts[0].value == 1


def test_readiness_fails_while_draining_and_health_stays_up(client):
    client.app.state.draining = True

    assert client.get("/ready").status_code == 503
    assert client.get("/ready").json() == {"status": "draining"}
    assert client.get("/health").status_code == 200


def test_sigterm_drains_before_stopping():
    import uvicorn

    app = create_app()
    server = DrainingServer(uvicorn.Config(app), drain_seconds=30)

    server.handle_exit(15, None)

    assert app.state.draining is True
    assert server.should_exit is False, "keeps serving during the drain"
    server.handle_exit(15, None)  # a second signal stops at once
    assert server.should_exit is True


def test_logs_are_json_lines():
    record = logging.LogRecord("backend", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"path": "/api/data", "status": 200}

    entry = json.loads(JsonFormatter().format(record))

    assert entry["message"] == "request" and entry["path"] == "/api/data" and entry["status"] == 200 and entry["level"] == "info"
