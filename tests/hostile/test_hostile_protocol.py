"""Every op and JSON route with fields missing, mistyped, out of range (cases_protocol.py)."""

import pytest

import cases_protocol
from catalogue import check, params


@pytest.mark.parametrize("case", params(cases_protocol.all_cases()))
def test_protocol(env, case):
    check(env, case)
