"""Opens what pipitd seals at rest, from the documented formats alone (keys/keyring.h,
keys/sealed_file.h, docs/operations.md), without pipit's C code: XChaCha20-Poly1305 is
built here from HChaCha20 and the `cryptography` package's ChaCha20-Poly1305 (RFC 8439
with the XChaCha construction of draft-irtf-cfrg-xchacha).

`connect(data_dir)` gives a sqlite3 connection on which `pipit_unseal(value, a, b)` works
as it does in pipitd, so tests can read bodies (and the views that use it) directly.
"""

import sqlite3
import struct

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from conftest import MASTER_KEY

MASK = 0xFFFFFFFF
FILE_CHUNK = 64 * 1024
FILE_HEADER = 4 + 4 + 24
TAG = 16


def _hchacha20(key, nonce16):
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def qr(a, b, c, d):
        for x, y, z, r in ((a, b, d, 16), (c, d, b, 12), (a, b, d, 8), (c, d, b, 7)):
            s[x] = (s[x] + s[y]) & MASK
            s[z] ^= s[x]
            s[z] = ((s[z] << r) & MASK) | (s[z] >> (32 - r))

    for _ in range(10):
        qr(0, 4, 8, 12), qr(1, 5, 9, 13), qr(2, 6, 10, 14), qr(3, 7, 11, 15)
        qr(0, 5, 10, 15), qr(1, 6, 11, 12), qr(2, 7, 8, 13), qr(3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha_open(key, nonce24, sealed, ad):
    """XChaCha20-Poly1305 (IETF) decryption; raises on a bad tag."""
    sub = _hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).decrypt(b"\0\0\0\0" + nonce24[16:], sealed, ad)


def data_keys(data_dir, master_hex=MASTER_KEY):
    """{id: key} from DATA_DIR/data-keys, each unwrapped with the master key."""
    master = bytes.fromhex(master_hex)
    lines = (data_dir / "data-keys").read_text().splitlines()
    assert lines[0] == "pipit-data-keys 1", lines[0]
    keys = {}
    for line in lines[1:]:
        word, kid, _created, wrapped = line.split(" ")
        assert word == "key"
        w = bytes.fromhex(wrapped)
        ad = b"pipit-data-key-v1\0" + struct.pack(">I", int(kid))
        keys[int(kid)] = xchacha_open(master, w[:24], w[24:], ad)
    return keys


def unseal(keys, value, a, b):
    """A sealed value's text (a BLOB: 0x01, key id, nonce, ciphertext); text and None as is."""
    if not isinstance(value, bytes):
        return value
    assert value[0] == 1, value[:5]
    kid = struct.unpack(">I", value[1:5])[0]
    ad = b"pipit-sealed-v1\0" + struct.pack(">qq", a, b)
    return xchacha_open(keys[kid], value[5:29], value[29:], ad).decode()


def connect(data_dir, master_hex=MASTER_KEY, **kw):
    """sqlite3 on DATA_DIR/pipit.db with pipit_unseal (values stay as they are when the
    data dir has no keys)."""
    keys = data_keys(data_dir, master_hex) if (data_dir / "data-keys").exists() else {}
    db = sqlite3.connect(str(data_dir / "pipit.db"), **kw)
    db.create_function("pipit_unseal", 3, lambda v, a, b: unseal(keys, v, a, b))
    return db


def open_file(data_dir, name, data, master_hex=MASTER_KEY):
    """The plaintext of a sealed stored file (its name: the SHA-256, ".thumb" for a
    thumbnail); a data dir without keys stores files as they are."""
    if not (data_dir / "data-keys").exists():
        return data
    keys = data_keys(data_dir, master_hex)
    assert data[:4] == b"PSF1", data[:4]
    kid = struct.unpack(">I", data[4:8])[0]
    nonce = bytearray(data[8:32])
    body, out, i = data[FILE_HEADER:], [], 0
    while True:
        piece = body[i * (FILE_CHUNK + TAG):(i + 1) * (FILE_CHUNK + TAG)]
        last = (i + 1) * (FILE_CHUNK + TAG) >= len(body)
        n = bytearray(nonce)
        for k in range(8):
            n[23 - k] ^= (i >> (8 * k)) & 0xFF
        ad = b"pipit-file-v1\0" + name.encode() + b"\0" + struct.pack(">QB", i, last)
        out.append(xchacha_open(keys[kid], bytes(n), piece, ad))
        if last:
            return b"".join(out)
        i += 1


def read_stored(data_dir, path, name):
    """A stored file's content, read from disk and opened."""
    with open(path, "rb") as f:
        return open_file(data_dir, name, f.read())

