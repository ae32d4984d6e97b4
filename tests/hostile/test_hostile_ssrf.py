"""SSRF through push endpoints; redirects not followed; webhook placeholders (cases_ssrf.py)."""

import pytest

import cases_ssrf
from catalogue import check, params


@pytest.mark.parametrize("case", params(cases_ssrf.CASES + cases_ssrf.REDIRECTS))
def test_ssrf(env, case):
    check(env, case)


@pytest.mark.skip(reason="webhooks not built yet (issue 9)")
@pytest.mark.parametrize("case", params(cases_ssrf.WEBHOOK_PLACEHOLDERS))
def test_webhook_ssrf(env, case):
    check(env, case)
