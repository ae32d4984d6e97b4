"""Two-factor authentication for tests: RFC 6238 codes computed independently of the server."""

import base64
import hashlib
import hmac
import struct
import time


def totp(secret, step=None):
    """The six-digit code of a time step (default: now's) for a base32 secret."""
    if step is None:
        step = int(time.time()) // 30
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)


def now_step():
    return int(time.time()) // 30


class Codes:
    """Hands out codes that were never used: the server takes each time step once
    (now's, or one either side), so a test that needs many moves forward a step."""

    def __init__(self, secret):
        self.secret = secret
        self.next_step = now_step() - 1

    def next(self):
        step = max(self.next_step, now_step() - 1)
        if step > now_step() + 1:
            # All three allowed steps used: wait for the clock.
            time.sleep((step - 1) * 30 - time.time() + 0.2)
        self.next_step = step + 1
        return totp(self.secret, step)


def enrol(srv, user):
    """Turns MFA on for user; returns (Codes, recovery codes)."""
    r = srv.post("/v1/me/mfa", token=user.token, json={"password": user.password})
    assert r.status_code == 200, (r.status_code, r.text)
    codes = Codes(r.json()["secret"])
    r = srv.post("/v1/me/mfa/confirm", token=user.token, json={"code": codes.next()})
    assert r.status_code == 200, (r.status_code, r.text)
    return codes, r.json()["recovery_codes"]


def login(srv, user, **extra):
    return srv.post("/v1/auth/login",
                    json=dict({"username": user.username, "password": user.password}, **extra))
