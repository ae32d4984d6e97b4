"""Shared by the push tests: provider settings that make device deliveries stay queued.

Slice-2 tests (expansion, counts, events) look at deliveries before any provider takes
them. Since the dispatcher sends what is queued, those servers get APNs and FCM
credentials that are valid in form but point at a closed local port: every attempt
fails to connect and is retried (with the default 1 s backoff), so the deliveries
read as `queued` for the whole test.
"""

import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chatlib import expect
from conftest import T, poll_until, unique

CLOSED = "https://127.0.0.1:9"   # discard: nothing listens there


def unreachable_providers(tmp):
    """pipitd flags for APNs and FCM credentials whose hosts never answer."""
    p8 = tmp / "apns.p8"
    p8.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    account = tmp / "fcm.json"
    account.write_text(json.dumps({
        "type": "service_account", "project_id": "p", "private_key_id": "k1",
        "private_key": rsa_pem, "client_email": "pipit@p.iam.gserviceaccount.com",
        "token_uri": CLOSED + "/token"}))
    return ["--apns-key-file", str(p8), "--apns-key-id", "KEY1234567",
            "--apns-team-id", "TEAM123456", "--apns-url", CLOSED,
            "--fcm-service-account", str(account), "--fcm-url", CLOSED]


# -- what an app server does: a push key, a push to users, its counts ---------------------

def push_key(srv):
    """A fresh API key with the `push` scope, made by the admin."""
    r = srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                 json={"name": unique("key"), "scopes": ["push"]})
    return expect(r, 201)["key"]


def push(srv, key, user_ids, **extra):
    """POST /v1/push to user ids with a fresh title; returns the push id."""
    body = {"to": {"users": user_ids}, "notification": {"title": unique("t"), "body": "hello"}}
    body.update(extra)
    return expect(srv.post("/v1/push", token=key, json=body), 202)["id"]


def counts(srv, key, pid):
    return expect(srv.get("/v1/push/%d" % pid, token=key), 200)["counts"]


def wait_counts(srv, key, pid, what, **want):
    """GET /v1/push/{id} until every named count has its value; returns the counts."""
    def check():
        c = counts(srv, key, pid)
        return c if all(c.get(k) == v for k, v in want.items()) else None
    return poll_until(check, T(15), what=what)
