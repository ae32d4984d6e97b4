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
