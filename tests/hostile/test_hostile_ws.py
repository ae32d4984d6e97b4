"""WebSocket: frames, close codes, UTF-8, lengths, the opening handshake (cases_ws.py)."""

import pytest

import cases_ws
from catalogue import check, params


@pytest.mark.parametrize("case", params(cases_ws.CASES))
def test_ws(env, case):
    check(env, case)
