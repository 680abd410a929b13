"""The sample backend: a small JSON API with health, readiness, metrics and JSON logs.

    uvicorn app.main:app          # or: python -m app.serve (graceful drain on SIGTERM)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sys
import time
from datetime import datetime, timezone

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what Loki and `kubectl logs | jq` read best."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry)


def json_logger(name: str = "backend") -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
        logger.propagate = False
    return logger


def create_app(version: str | None = None, cluster: str | None = None, signing_key: str | None = None) -> FastAPI:
    """The API. `version`, `cluster` and `signing_key` default to the VERSION, CLUSTER and
    SIGNING_KEY environment variables; SIGNING_KEY comes from Vault on the platform (the
    CSI driver syncs it into the pod's environment). With it, /api/data responses carry
    `X-Signature: sha256=<HMAC of the body>` so a client can check they came from here."""
    version = version or os.environ.get("VERSION", "dev")
    cluster = cluster or os.environ.get("CLUSTER", "unknown")
    signing_key = signing_key or os.environ.get("SIGNING_KEY") or None
    registry = CollectorRegistry()
    requests_total = Counter("http_requests_total", "HTTP requests by method, route and status.", ["method", "path", "status"], registry=registry)
    duration = Histogram("http_request_duration_seconds", "HTTP request duration by method and route.", ["method", "path"], registry=registry)
    log = json_logger()
    app = FastAPI(title="gitops-platform backend", version=version, docs_url=None, redoc_url=None)
    app.state.draining = False

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            # The route template, not the raw path: one series per endpoint, however many URLs.
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - start
            requests_total.labels(request.method, path, str(status)).inc()
            duration.labels(request.method, path).observe(elapsed)
            if path not in ("/health", "/ready", "/metrics"):
                log.info("request", extra={"fields": {"method": request.method, "path": path, "status": status, "duration_ms": round(elapsed * 1000, 2)}})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> Response:
        if app.state.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/api/data")
    async def data() -> Response:
        body = json.dumps({
            "message": "Hello from the gitops-platform backend",
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "version": version,
            "cluster": cluster,
        }).encode()
        headers = {"X-Signature": "sha256=" + hmac.new(signing_key.encode(), body, hashlib.sha256).hexdigest()} if signing_key else {}
        return Response(body, media_type="application/json", headers=headers)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


app = create_app()
