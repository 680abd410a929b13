"""Fixtures of the verify tests: the local stack's rendered objects, what verify expects of them, a throwaway CA."""

from __future__ import annotations

import pytest

from fake_api import Pki
from verify.expected import expected_from


@pytest.fixture(scope="module")
def local_objects(rendered):
    _, _, stack = rendered("local")
    return stack.objects


@pytest.fixture(scope="module")
def expected(local_objects):
    return expected_from(local_objects, sample_host="app.localtest.me")


@pytest.fixture(scope="module")
def pki():
    return Pki()
