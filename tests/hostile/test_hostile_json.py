"""Hostile JSON over the WebSocket and REST (cases_json.py)."""

import pytest

import cases_json
from catalogue import check, params


@pytest.mark.parametrize("case", params(cases_json.CASES))
def test_json(env, case):
    check(env, case)
