"""SSRF through push endpoints and webhook URLs; redirects not followed; the webhook routes
(cases_ssrf.py)."""

import pytest

import cases_ssrf
from catalogue import check, params


@pytest.mark.parametrize("case", params(cases_ssrf.CASES + cases_ssrf.REDIRECTS))
def test_ssrf(env, case):
    check(env, case)


@pytest.mark.parametrize("case", params(cases_ssrf.WEBHOOKS))
def test_webhook_ssrf(env, case):
    check(env, case)
