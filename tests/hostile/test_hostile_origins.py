"""Hostile Origin and Host headers on the WebSocket handshake (cases_origins.py)."""

import pytest

import cases_origins
from catalogue import check, params


@pytest.mark.parametrize("case", params(cases_origins.CASES))
def test_origin(env, case):
    check(env, case)
