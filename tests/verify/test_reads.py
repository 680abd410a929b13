"""verify.reads: reads through the Kubernetes API — missing objects as None, failures as one line, answers checked."""

from __future__ import annotations

import json
import ssl

import pytest
from kubernetes.client.exceptions import ApiException

from fake_api import Pki, serving_gateway
from verify.reads import ReadFailed, api_message, get_or_none, https_get, ok_body, reason


def api_error(status: int, body: object = None, reason_text: str = "Not Found") -> ApiException:
    error = ApiException(status=status, reason=reason_text)
    error.body = json.dumps(body) if body is not None else None
    return error


def test_a_missing_object_is_none_and_other_errors_are_raised():
    def missing():
        raise api_error(404)

    def forbidden():
        raise api_error(403, {"message": "forbidden: user cannot get"})

    assert get_or_none(missing) is None and get_or_none(lambda: {"kind": "Pod"}) == {"kind": "Pod"}
    with pytest.raises(ApiException):
        get_or_none(forbidden)


def test_a_failed_read_is_one_line_with_the_apis_own_message():
    assert reason(api_error(403, {"message": "forbidden: user cannot get"})) == "HTTP 403: forbidden: user cannot get"
    assert api_message(api_error(500, reason_text="Internal")) == "Internal"
    assert reason(ValueError("bad json")) == "ValueError: bad json"


def test_only_a_200_answer_has_a_body():
    assert ok_body((200, b"{}"), "api/v1/targets") == b"{}"
    with pytest.raises(ReadFailed, match="HTTP 503 from /api/v1/targets"):
        ok_body((503, b""), "api/v1/targets")


def test_https_get_speaks_sni_and_host_and_verifies_the_certificate(tmp_path):
    pki = Pki()
    cert, key = pki.issue(["app.localtest.me"], tmp_path)
    context = ssl.create_default_context(cadata=pki.ca_pem)

    with serving_gateway({("app.localtest.me", "/"): 200}, cert, key) as address:
        assert https_get(address, "app.localtest.me", "/", context) == 200
        with pytest.raises(ssl.SSLError):
            https_get(address, "app.localtest.me", "/", ssl.create_default_context())  # the platform CA is not trusted
