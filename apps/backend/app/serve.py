"""Serve the API with a graceful drain: on SIGTERM, readiness fails first, then the server stops.

Kubernetes removes a pod from its Service endpoints when readiness fails; draining for
DRAIN_SECONDS before stopping lets in-flight and already-routed requests finish.
"""

from __future__ import annotations

import os
import threading

import uvicorn

from .main import app, json_logger


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame) -> None:  # noqa: ANN001 - signal handler signature
        target = self.config.app
        if getattr(target.state, "draining", False) or self.drain_seconds <= 0:
            super().handle_exit(sig, frame)
            return
        target.state.draining = True
        json_logger().info("draining", extra={"fields": {"seconds": self.drain_seconds}})
        timer = threading.Timer(self.drain_seconds, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()


def main() -> None:
    config = uvicorn.Config(
        app,
        host=os.environ.get("HOST", "0.0.0.0"),  # noqa: S104 - a container listens on all its interfaces
        port=int(os.environ.get("PORT", "8080")),
        access_log=False,  # the app logs requests as JSON itself
        log_config=None,
    )
    DrainingServer(config, float(os.environ.get("DRAIN_SECONDS", "5"))).run()


if __name__ == "__main__":
    main()
