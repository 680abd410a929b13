"""The shop service: the smallest HTTP service the platform runs as is.

What the platform requires of an image (MicroserviceStack's secure defaults, Gatekeeper's
constraints), and how this one meets it:

- a numeric non-root user (runAsNonRoot): the Dockerfile's `USER 10001:10001`;
- a read-only root filesystem: nothing here writes a file (no bytecode, no temp files);
- port 8080 (unprivileged, MicroserviceConfig's default `port`);
- `/health` (liveness and startup probes) and `/ready` (readiness), MicroserviceConfig's
  default probe paths;
- stops cleanly on SIGTERM, so a rollout or a scale-down drops no request in flight.

    python app/server.py            # serves on $PORT (8080)
"""

from __future__ import annotations

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("VERSION", "dev")


class Handler(BaseHTTPRequestHandler):
    server_version = "shop"

    def do_GET(self) -> None:
        if self.path in ("/health", "/ready"):
            self._send(200, {"status": "ok"})
        elif self.path == "/" or self.path.startswith("/?"):
            self._send(200, {"service": "shop", "version": VERSION})
        else:
            self._send(404, {"error": "not found"})

    def _send(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def serve(port: int) -> ThreadingHTTPServer:
    """The server bound to `port` on every address (0: any free port); not yet serving."""
    return ThreadingHTTPServer(("", port), Handler)


def main() -> None:
    server = serve(int(os.environ.get("PORT", "8080")))
    # SIGTERM (the kubelet stopping the pod): finish the requests in flight, then exit.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
