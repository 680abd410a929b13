"""`python -m verify <stack>`: run every check against the stack's live cluster, print a line per
check and a summary, exit 1 if any fails (2 if the cluster cannot be reached or the stack read)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import ssl
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from kubernetes import client, config

from .checks import CHECKS
from .footprint import footprint_line, measure_footprint
from .model import CheckResult, Expected
from .stack import NO_CLI, pulumi_stack

_EPILOG = "checks, in order:\n" + "\n".join(f"  {name:<20} {doc}" for name, _, doc in CHECKS) + (
    "\n\nThe cluster: the stack's `kubeconfig` output (`pulumi stack output kubeconfig --show-secrets`), "
    "or --kubeconfig/--context. The platform CA the gateway's certificate must chain to: --ca-file, else the stack's "
    "`platformCaCertificate` output (the system's roots are trusted too). The only objects created are the plaintext "
    "probe's pod (deleted when it ends) and dry runs. Exit codes: 0 all checks pass, 1 a check fails, 2 no cluster or no stack."
)


class Unreachable(Exception):
    """The cluster cannot be reached with the chosen kubeconfig/context."""


def api_client(stack: str, kubeconfig: Path | None, context: str | None) -> tuple[client.ApiClient, str]:
    """A client for the cluster and a description of where it points (for messages)."""
    if kubeconfig is None and context is None:
        kubeconfig_text, why = pulumi_stack(stack, "output", "kubeconfig", "--show-secrets")
        if why == NO_CLI:
            raise Unreachable(f"stack {stack}: its kubeconfig comes from `pulumi stack output kubeconfig`, and the Pulumi CLI is not installed; "
                              "pass --context (or --kubeconfig) to use a kubeconfig of yours")
        if kubeconfig_text is None:
            raise Unreachable(f"stack {stack}: `pulumi stack output kubeconfig -s {stack}` gave nothing; run `make up` first, or pass --context")
        handle, name = tempfile.mkstemp(prefix="verify-", suffix=".kubeconfig")  # 0600: it holds credentials
        with os.fdopen(handle, "w") as file:
            file.write(kubeconfig_text)
        try:
            return _connect(Path(name), None, described=f"stack {stack}'s kubeconfig output")
        finally:
            Path(name).unlink(missing_ok=True)  # the client holds what it needs in memory
    return _connect(kubeconfig, context)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT, e.g. localhost:8443")
    return host, int(port)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds, 0 or more")
    return value


def _connect(kubeconfig: Path | None, context: str | None, described: str | None = None) -> tuple[client.ApiClient, str]:
    source = described or f"context {context or 'current'} of {kubeconfig or '~/.kube/config'}"
    try:
        api = config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None, context=context)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError) as error:
        raise Unreachable(f"no usable kubeconfig ({source}): {error}") from None
    where = f"{api.configuration.host} ({source})"
    try:
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as error:  # any failure to connect is the same answer for the user
        raise Unreachable(f"no cluster answers at {where}: {type(error).__name__}") from None
    return api, where


def _report(result: CheckResult) -> None:
    print(f"{'PASS' if result.passed else 'FAIL'}  {result.name}: {result.checked} checked, {len(result.failures)} failing", flush=True)
    for failure in result.failures:
        print(f"        {failure}", flush=True)


def run_checks(api: client.ApiClient, expected: Expected, *, progress: bool = True, wait: float = 0.0, interval: float = 15.0) -> list[CheckResult]:
    """Every check once; then, for up to `wait` more seconds, the failing ones again every `interval`
    (a platform just brought up converges: Trivy's first reports, first scrapes, rollouts)."""
    results: dict[str, CheckResult] = {}
    for name, check, _ in CHECKS:
        results[name] = check(api, expected)
        if progress:
            _report(results[name])
    deadline = time.monotonic() + wait
    checks = {name: check for name, check, _ in CHECKS}
    while failing := [name for name, result in results.items() if not result.passed]:
        left = deadline - time.monotonic()
        if left < interval:
            break
        if progress:
            print(f"waiting {interval:.0f} s for {', '.join(failing)} ({left:.0f} s left of --wait)", flush=True)
        time.sleep(interval)
        for name in failing:
            results[name] = checks[name](api, expected)
            if progress:
                _report(results[name])
    return list(results.values())


def summary_table(results: Sequence[CheckResult]) -> str:
    rows = [f"{'check':<20} {'result':<7} {'checked':>7} {'failing':>7}"]
    rows += [f"{r.name:<20} {'pass' if r.passed else 'FAIL':<7} {r.checked:>7} {len(r.failures):>7}" for r in results]
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None, expected: Expected | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m verify", description="Check that a live cluster of a stack works (it reads state; it creates only dry runs and one short-lived probe pod).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stack", help="stack name (local or aws); what it deploys comes from the offline render of Pulumi.<stack>.yaml")
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig file instead of the stack's output")
    parser.add_argument("--context", help="kubeconfig context instead of the stack's output (with --kubeconfig or ~/.kube/config)")
    parser.add_argument("--ca-file", type=Path, help="the platform CA (PEM) the gateway's certificate chains to; default: the stack's platformCaCertificate output")
    parser.add_argument("--gateway-address", type=_address, metavar="HOST:PORT",
                        help="where the ingress gateway answers HTTPS; default: localhost:<httpsHostPort> on kind, the load balancer on aws")
    parser.add_argument("--wait", type=_seconds, default=0.0, metavar="SECONDS",
                        help="re-run failing checks every 15 s for up to SECONDS (right after `make up`, while the platform converges); default 0")
    parser.add_argument("--json", action="store_true", help="print the results as JSON (no progress lines)")
    args = parser.parse_args(argv)
    try:
        api, where = api_client(args.stack, args.kubeconfig, args.context)
    except Unreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if expected is None:
        from .expected import expected_for

        try:
            expected = expected_for(args.stack)
        except (RuntimeError, OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if expected.gateway is not None:
        try:
            ca = args.ca_file.read_text() if args.ca_file else pulumi_stack(args.stack, "output", "platformCaCertificate", "--show-secrets")[0]
            if ca:
                ssl.create_default_context().load_verify_locations(cadata=ca)
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            print(f"error: the platform CA ({args.ca_file or 'the stack output platformCaCertificate'}) is not a readable PEM certificate: {error}", file=sys.stderr)
            return 2
        gateway = dataclasses.replace(expected.gateway, ca_pem=ca, address=args.gateway_address or expected.gateway.address)
        expected = dataclasses.replace(expected, gateway=gateway)
    if not args.json:
        print(f"verifying stack {args.stack} on {where}", flush=True)
    results = run_checks(api, expected, progress=not args.json, wait=args.wait)
    footprint = measure_footprint(api, expected)
    if args.json:
        print(json.dumps({"stack": args.stack, "cluster": where, "passed": all(r.passed for r in results),
                          "checks": [r.as_dict() for r in results], "footprint": footprint}, indent=2))
    else:
        print(summary_table(results))
        print(footprint_line(footprint))
    return 0 if all(r.passed for r in results) else 1
