"""HTTP: framing, heads, smuggling, targets (cases_http.py)."""

import pytest

import cases_http
from catalogue import check, params


@pytest.mark.parametrize("case", params(cases_http.CASES))
def test_http(env, case):
    check(env, case)
