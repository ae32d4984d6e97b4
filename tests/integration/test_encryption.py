"""Encryption at rest: message bodies, held versions and push notifications sealed under
data keys that a master key (outside the data dir) wraps; a search index of keyed hashes.

Checked here: the raw database files of an encrypted server hold none of the texts sent,
edited, held or pushed, and every stored body is a sealed BLOB naming its data key;
search still finds English words and Chinese runs of any length and marks the hit; a data
dir written without a key is sealed at the first start that has one; every start that
cannot open the data dir (no key, a wrong key, a missing or damaged data-keys file, a key
file inside the data dir, a malformed key) is refused and changes no byte; `pipit keys
generate` and `pipit keys rotate` (a new data key, a new master key, audited, refused
while the server runs); `pipit export` needs the key; an altered sealed body is an error,
never garbage; a backup of an encrypted dir restores and opens with the same key only.

Key format and layout: src/keys/keyring.h.
"""

import hashlib
import io
import json
import os
import random
import re
import shutil
import sqlite3
import tarfile

import pytest
import requests

import sealing

from chatlib import Chat, api, create_direct, create_group, expect, rest_history, rest_send, text
from conftest import MASTER_KEY, NO_MASTER_KEY, PASSWORD, T, dir_contents, run_cli
from fileslib import (blob_path, download, png, share, stored_content, upload_ok,
                      wait_thumbnail)
from pushlib import push, push_key
from retentionlib import World

# The key every server here runs with, whatever master key the outer environment names.
KEY_ENV = {"PIPIT_MASTER_KEY": MASTER_KEY, "PIPIT_MASTER_KEY_FILE": ""}
OTHER_KEY = "a7" * 32

DB_FILES = ("pipit.db", "pipit.db-wal", "pipit.db-shm")
KEY_LINE = re.compile(r"^key (\d+) (\d+) ([0-9a-f]{144})$")
SEALED_LOG = re.compile(r"encryption at rest: sealed (\d+) stored bodies and notifications"
                        r" and (\d+) stored files in (\d+) ms")

# Marker texts: every English word of 6+ letters and every 2-character run of the Chinese
# in them must be absent from the raw database files.
DIRECT_TEXTS = ["Periwinkle lighthouse and the thunderstorm", "秘密会议在上海举行"]
DIRECT_EDIT = "Kaleidoscope saxophone 机密文件已经送达"
GROUP_TEXT = "marzipan quarantine 北京欢迎你"
GROUP_EDIT = "trombone watermelon 长城脚下见"   # made under a legal hold: the old one is held
PUSH_TITLE = "Pineapple avalanche"
PUSH_BODY = "火山爆发警报 gondolier"


# -- helpers ------------------------------------------------------------------------------

class KeyedFactory:
    """server_factory with `env` added to every server it starts (World takes a factory)."""

    def __init__(self, factory, env):
        self.factory = factory
        self.env = env

    def new(self, *args, env=None, **kw):
        return self.factory.new(*args, env=dict(self.env, **(env or {})), **kw)


def world(server_factory, env=KEY_ENV):
    return World(KeyedFactory(server_factory, env))


def set_cli_env(monkeypatch, env):
    """The master key environment of the `pipit` commands run_cli starts from now on."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)


def needles(texts):
    """Byte strings none of which may be stored: English words of 6+ letters (as written
    and lowercased) and every 2-character substring of the Chinese runs."""
    out = set()
    for t in texts:
        for w in re.findall(r"[A-Za-z]{6,}", t):
            out.add(w.encode())
            out.add(w.lower().encode())
        for run in re.findall(r"[\u4e00-\u9fff]+", t):
            for i in range(len(run) - 1):
                out.add(run[i:i + 2].encode())
    return sorted(out)


def leaks(data_dir, texts):
    """(file, needle) for every needle of texts found in the database files."""
    found = []
    for name in DB_FILES:
        path = data_dir / name
        if not path.exists():
            continue
        data = path.read_bytes()
        found += [(name, n.decode()) for n in needles(texts) if n in data]
    return found


def db_rows(data_dir, sql, *args):
    """Rows of a query on a stopped (or running) server's database, read-only."""
    c = sqlite3.connect("file:%s?mode=ro" % (data_dir / "pipit.db"), uri=True, timeout=10)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def key_id(blob):
    """The data key id a sealed value names (asserts its layout)."""
    assert isinstance(blob, bytes) and len(blob) > 1 + 4 + 24 + 16, blob
    assert blob[0] == 0x01, blob[:8]
    return int.from_bytes(blob[1:5], "big")


def data_key_lines(data_dir):
    lines = (data_dir / "data-keys").read_text().splitlines()
    assert lines[0] == "pipit-data-keys 1", lines
    parsed = [KEY_LINE.match(l) for l in lines[1:]]
    assert all(parsed), lines
    return [int(m.group(1)) for m in parsed]


def log_since(srv, mark):
    return srv.lines[mark:]


def snapshot(data_dir):
    """Every file under data_dir but pipitd.lock: name -> bytes (None for a directory).
    SQLite's shared-memory index and an empty WAL (what a reader leaves, and the next
    closing connection removes) hold no data: left out."""
    out = dir_contents(data_dir, skip=("pipitd.lock", "pipit.db-shm"))
    if out.get("pipit.db-wal") == b"":
        del out["pipit.db-wal"]
    return out


def refused_start(srv, *phrases):
    """Starts srv, which must exit non-zero soon with an ERROR line 'encryption at rest:
    … nothing was changed' holding phrases, and leave every file of its data dir as it was.
    Returns the message."""
    before = snapshot(srv.data_dir)
    mark = len(srv.lines)
    srv.start(wait=False)
    rc = srv.wait_exit(T(10))
    srv.finished = True
    if rc is None:
        srv.kill()
        raise AssertionError("pipitd did not exit within 10 s:\n" + "\n".join(srv.lines[mark:]))
    lines = log_since(srv, mark)
    assert rc != 0, "pipitd exited 0:\n" + "\n".join(lines)
    assert srv.port is None, "pipitd listened before it refused"
    errors = [l.split(" ERROR ", 1)[1].strip() for l in lines if " ERROR " in l]
    enc = [e for e in errors if e.startswith("encryption at rest:")]
    assert enc, "no ERROR 'encryption at rest:' line:\n" + "\n".join(lines)
    msg = enc[-1]
    assert msg.endswith("nothing was changed"), msg
    for p in phrases:
        assert p in msg, (p, msg)
    after = snapshot(srv.data_dir)
    changed = sorted(k for k in set(before) | set(after) if before.get(k, 0) != after.get(k, 0))
    assert not changed, "a refused start changed %r" % (changed,)
    return msg


def search(srv, user, q):
    body = expect(api(srv, "GET", "/v1/search", user, params={"q": q}), 200)
    return body["results"]


def found(srv, user, q):
    return {r["body"]["text"] for r in search(srv, user, q)}


def hits(result):
    return [p["text"] for p in result["snippet"] if p.get("hit")]


def snippet_text(result):
    return "".join(p["text"] for p in result["snippet"])


def fill(w):
    """What test 1 and the upgrade test store: messages, an edit, a held version, a push.
    Returns every text that went in."""
    m = [w.send(w.a, w.direct, t) for t in DIRECT_TEXTS]
    assert w.edit(w.a, w.direct, m[0]["seq"], DIRECT_EDIT)[0] == "ok"
    g = w.send(w.b, w.group, GROUP_TEXT)
    w.hold(conv=w.group)
    assert w.edit(w.b, w.group, g["seq"], GROUP_EDIT)[0] == "ok"
    push(w.srv, push_key(w.srv), [w.a.id], notification={"title": PUSH_TITLE, "body": PUSH_BODY})
    return DIRECT_TEXTS + [DIRECT_EDIT, GROUP_TEXT, GROUP_EDIT, PUSH_TITLE, PUSH_BODY]


def body_types(data_dir):
    """{what: set of typeof()} of every stored body, held version and notification."""
    return {
        "events": {t for (t,) in db_rows(data_dir, "SELECT typeof(body) FROM events WHERE kind "
                                         "IN ('message', 'edit') AND body IS NOT NULL")},
        "held_versions": {t for (t,) in db_rows(data_dir, "SELECT typeof(body) FROM "
                                                "held_versions WHERE body IS NOT NULL")},
        "pushes": {t for (t,) in db_rows(data_dir, "SELECT typeof(notification) FROM pushes")},
    }


def stored_count(data_dir):
    return sum(db_rows(data_dir, sql)[0][0] for sql in (
        "SELECT count(*) FROM events WHERE body IS NOT NULL",
        "SELECT count(*) FROM held_versions WHERE body IS NOT NULL",
        "SELECT count(*) FROM pushes",
        "SELECT count(*) FROM pushes WHERE variants IS NOT NULL"))


def tamper(data_dir, sql, *args):
    """Runs an UPDATE on a stopped server's database. pipit's triggers call pipit_unseal,
    which only pipitd has: here it answers NULL, so none of them fires."""
    c = sqlite3.connect(str(data_dir / "pipit.db"), timeout=10)
    try:
        c.create_function("pipit_unseal", 3, lambda *a: None)
        c.create_function("pipit_seal", 3, lambda *a: None)
        c.execute(sql, args)
        c.commit()
    finally:
        c.close()


def backup(data_dir, out):
    return run_cli(["backup", "--data-dir", data_dir, "--out", out], timeout=T(120))


def restore(archive, target):
    return run_cli(["restore", "--from", archive, "--data-dir", target], timeout=T(120))


def rotate(data_dir, *extra):
    return run_cli(["keys", "rotate", "--data-dir", data_dir] + list(extra))


def audit(srv, action):
    r = api(srv, "GET", "/v1/admin/audit", srv.admin_token(), params={"action": action})
    return expect(r, 200)["records"]


# -- 1. what the files hold ---------------------------------------------------------------

def test_database_files_hold_no_text_that_was_sent_edited_held_or_pushed(server_factory):
    """With a master key, no word of a message, an edit, a held version or a push is in
    pipit.db or its WAL (search index included), and every body is a sealed BLOB under
    data key 1; the data-keys file has its documented format."""
    w = world(server_factory)
    assert any("encryption at rest: on, 1 data key(s), key 1 seals new data" in l
               for l in w.srv.lines), w.srv.log_tail()
    texts = fill(w)
    assert found(w.srv, w.b, "kaleidoscope") == {DIRECT_EDIT}   # indexed, then stopped:
    w.srv.stop()
    d = w.srv.data_dir

    assert leaks(d, texts) == []
    assert MASTER_KEY.encode() not in b"".join(v for v in snapshot(d).values() if v)
    assert body_types(d) == {"events": {"blob"}, "held_versions": {"blob"}, "pushes": {"blob"}}
    assert {t for (t,) in db_rows(d, "SELECT typeof(body) FROM events WHERE kind = 'message' "
                                     "AND body IS NOT NULL")} == {"blob"}
    blobs = [b for (b,) in db_rows(d, "SELECT body FROM events WHERE body IS NOT NULL "
                                      "UNION ALL SELECT body FROM held_versions "
                                      "UNION ALL SELECT notification FROM pushes")]
    assert len(blobs) >= 6 and {key_id(b) for b in blobs} == {1}
    assert data_key_lines(d) == [1]
    assert db_rows(d, "SELECT count(*) FROM encryption") == [(1,)]

    # The same texts come back after a restart.
    w.srv.start()
    assert w.texts(w.a, w.direct) == [DIRECT_EDIT, DIRECT_TEXTS[1]]
    assert w.texts(w.b, w.group) == [GROUP_EDIT]


# -- 2. search ----------------------------------------------------------------------------

def test_search_finds_english_and_chinese_in_an_encrypted_index(server_factory):
    """Hashed index terms still find whole English words (any case) and Chinese runs of
    1, 2, 3 and 4 characters, with the hit marked in the snippet, also after a restart."""
    w = world(server_factory)
    s, a, b, d = w.srv, w.a, w.b, w.direct
    for t in ("Meet me at the Lighthouse tomorrow", "我在北京大学读书", "南京", "大家好",
              "the lighthouses are far"):
        w.send(a, d, t)
    for _ in range(2):
        (r,) = search(s, b, "lighthouse")
        assert r["body"]["text"] == "Meet me at the Lighthouse tomorrow"
        assert hits(r) == ["Lighthouse"] and snippet_text(r) == r["body"]["text"], r
        assert found(s, b, "LIGHTHOUSE") == {"Meet me at the Lighthouse tomorrow"}
        assert found(s, b, "lighthouse tomorrow") == {"Meet me at the Lighthouse tomorrow"}
        assert found(s, b, "light") == set(), "whole words only"
        assert found(s, b, "京") == {"我在北京大学读书", "南京"}
        assert found(s, b, "北京") == {"我在北京大学读书"}
        assert found(s, b, "北京大") == {"我在北京大学读书"}
        assert found(s, b, "北京大学") == {"我在北京大学读书"}
        assert found(s, b, "北大") == set(), "non-adjacent characters do not match"
        assert found(s, b, "上海") == set()
        (r,) = search(s, b, "京大")
        assert hits(r) == ["京大"] and snippet_text(r) == "我在北京大学读书"
        (r,) = search(s, b, "北京大学")
        assert hits(r) == ["北京大学"], r["snippet"]
        (r,) = search(s, b, "大家")
        assert hits(r) == ["大家"] and snippet_text(r) == "大家好"
        (r,) = search(s, b, "南")
        assert hits(r) == ["南"]
        w.age(0)   # a restart: the index is read back from the files


# -- 3. upgrade ---------------------------------------------------------------------------

def test_a_plain_data_dir_is_sealed_at_the_first_start_with_a_key(server_factory):
    """A data dir written without a key holds plain text; the first start with a key seals
    every body, held version and notification (logged with the count), rebuilds the index
    with hashed terms and leaves no plain text in the files; the data dir is then sealed."""
    w = world(server_factory, NO_MASTER_KEY)
    s, d = w.srv, w.srv.data_dir
    assert any(" WARN " in l and "encryption at rest: off" in l for l in s.lines), s.log_tail()
    texts = fill(w)
    before = {conv: w.texts(w.a, conv) for conv in (w.direct, w.group)}
    s.stop()
    assert not (d / "data-keys").exists()
    assert body_types(d) == {"events": {"text"}, "held_versions": {"text"}, "pushes": {"text"}}
    assert leaks(d, texts), "the scan finds plain text (so it can find leaks)"
    assert db_rows(d, "SELECT count(*) FROM encryption") == [(0,)]
    want = stored_count(d)

    s.env.update(KEY_ENV)
    mark = len(s.lines)
    s.start()
    sealed = [SEALED_LOG.search(l) for l in log_since(s, mark)]
    sealed = [m for m in sealed if m]
    assert len(sealed) == 1, log_since(s, mark)
    assert int(sealed[0].group(1)) == want, (sealed[0].group(0), want)
    # Cleared from the files at that start (WAL truncated), not only at the next stop.
    assert leaks(d, texts) == []
    assert {conv: w.texts(w.a, conv) for conv in before} == before
    assert found(s, w.b, "kaleidoscope") == {DIRECT_EDIT}
    assert found(s, w.b, "上海") == {DIRECT_TEXTS[1]}
    assert found(s, w.b, "欢") == set(), "edited away"
    assert found(s, w.b, "长城") == {GROUP_EDIT}
    assert found(s, w.b, "periwinkle") == set(), "edited away"
    s.stop()
    assert leaks(d, texts) == []
    assert body_types(d) == {"events": {"blob"}, "held_versions": {"blob"}, "pushes": {"blob"}}
    assert data_key_lines(d) == [1]
    assert db_rows(d, "SELECT count(*) FROM encryption") == [(1,)]

    # Sealed once: the next start seals nothing, and one without the key is refused.
    mark = len(s.lines)
    s.start()
    assert not [l for l in log_since(s, mark) if SEALED_LOG.search(l)], log_since(s, mark)
    assert w.texts(w.b, w.group) == before[w.group]
    s.stop()
    s.env.update(NO_MASTER_KEY)
    refused_start(s, "no master key is configured")


# -- 4. refusals --------------------------------------------------------------------------

class Sealed:
    """A stopped encrypted data dir with one direct conversation, to copy."""

    def __init__(self, factory):
        s = factory.new(env=KEY_ENV)
        self.a = s.create_user()
        b = s.create_user()
        self.conv = create_direct(s, self.a, b.id)["id"]
        self.texts = ["template lighthouse", "模板消息"]
        for t in self.texts:
            rest_send(s, self.a, self.conv, body=text(t))
        s.stop()
        self.data_dir = s.data_dir

    def copy(self, tmp_path):
        target = tmp_path / "data"
        shutil.copytree(self.data_dir, target)
        return target

    def check_opens(self, server_factory, data_dir):
        """A server with the right key serves the stored messages."""
        s = server_factory.new(data_dir=data_dir, env=KEY_ENV)
        token = s.login(self.a.username, PASSWORD)
        events = rest_history(s, token, self.conv, limit=50)["events"]
        assert sorted(e["body"]["text"] for e in events if e["ev"] == "message") == \
            sorted(self.texts)
        s.stop()


@pytest.fixture(scope="module")
def sealed(module_server_factory):
    return Sealed(module_server_factory)


def case_no_key(factory, tmp_path, d):
    return NO_MASTER_KEY, [], ["no master key is configured"], lambda: None


def case_sealed_without_data_keys_or_key(factory, tmp_path, d):
    keys = (d / "data-keys").read_bytes()
    (d / "data-keys").unlink()
    return NO_MASTER_KEY, [], ["encrypted", "no master key"], \
        lambda: (d / "data-keys").write_bytes(keys)


def case_wrong_key(factory, tmp_path, d):
    return {"PIPIT_MASTER_KEY": OTHER_KEY, "PIPIT_MASTER_KEY_FILE": ""}, [], \
        ["does not open"], lambda: None


def case_wrong_key_file(factory, tmp_path, d):
    f = tmp_path / "other.key"
    f.write_text(OTHER_KEY + "\n")
    return NO_MASTER_KEY, ["--master-key-file", f], ["does not open"], lambda: None


def case_data_keys_missing(factory, tmp_path, d):
    keys = (d / "data-keys").read_bytes()
    (d / "data-keys").unlink()
    return KEY_ENV, [], ["is missing"], lambda: (d / "data-keys").write_bytes(keys)


def case_key_file_inside_data_dir(factory, tmp_path, d):
    f = d / "master.key"
    f.write_text(MASTER_KEY + "\n")
    return NO_MASTER_KEY, ["--master-key-file", f], ["inside the data dir"], lambda: None


def case_env_key_file_inside_data_dir(factory, tmp_path, d):
    f = d / "master.key"
    f.write_text(MASTER_KEY + "\n")
    return {"PIPIT_MASTER_KEY": "", "PIPIT_MASTER_KEY_FILE": str(f)}, [], \
        ["inside the data dir"], lambda: None


def bad_hex(value):
    def case(factory, tmp_path, d):
        return {"PIPIT_MASTER_KEY": value, "PIPIT_MASTER_KEY_FILE": ""}, [], \
            ["must be 64 hex digits"], lambda: None
    return case


def damaged_keys(how):
    def case(factory, tmp_path, d):
        keys = (d / "data-keys").read_bytes()
        (d / "data-keys").write_bytes(how(keys))
        return KEY_ENV, [], ["damaged"], lambda: (d / "data-keys").write_bytes(keys)
    return case


REFUSALS = {
    "sealed-no-key": case_no_key,
    "sealed-no-data-keys-no-key": case_sealed_without_data_keys_or_key,
    "wrong-key": case_wrong_key,
    "wrong-key-file": case_wrong_key_file,
    "data-keys-missing": case_data_keys_missing,
    "key-file-flag-inside-data-dir": case_key_file_inside_data_dir,
    "key-file-env-inside-data-dir": case_env_key_file_inside_data_dir,
    "key-63-hex": bad_hex(MASTER_KEY[:63]),
    "key-65-hex": bad_hex(MASTER_KEY + "0"),
    "key-not-hex": bad_hex("zz" * 32),
    "data-keys-line-cut": damaged_keys(lambda k: k[:-20] + b"\n"),
    "data-keys-junk-line": damaged_keys(lambda k: k + b"key two 3 xyz\n"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_start_that_cannot_open_the_data_dir_is_refused_and_changes_nothing(
        sealed, server_factory, tmp_path, case):
    """Each way of starting a sealed data dir without the keys that open it exits non-zero
    with one ERROR 'encryption at rest: … nothing was changed' line and leaves every file
    as it was: once mended, the right key opens it and serves the old messages."""
    d = sealed.copy(tmp_path)
    env, args, phrases, mend = REFUSALS[case](server_factory, tmp_path, d)
    s = server_factory.new(*args, data_dir=d, env=env, start=False)
    refused_start(s, *phrases)
    mend()
    sealed.check_opens(server_factory, d)


def test_data_keys_without_a_master_key_are_refused(server_factory, tmp_path):
    """A data dir that was never sealed but holds a data-keys file does not start without
    a master key (the keys would be ignored, and new data stored in the clear)."""
    plain = server_factory.new(env=NO_MASTER_KEY)
    plain.stop()
    keyed = server_factory.new(env=KEY_ENV)
    keyed.stop()
    shutil.copy(keyed.data_dir / "data-keys", plain.data_dir / "data-keys")
    refused_start(plain, "holds encryption keys but no master key")


# -- 5. rotation --------------------------------------------------------------------------

def test_rotation_adds_a_data_key_that_seals_new_data(server_factory, monkeypatch):
    """`pipit keys rotate` is refused while the server runs; on a stopped one it adds data
    key 2, audited as keys.rotate; from the next start new bodies name key 2, bodies of
    key 1 still open, and search finds both."""
    set_cli_env(monkeypatch, KEY_ENV)
    w = world(server_factory)
    s, d = w.srv, w.srv.data_dir
    old = w.send(w.a, w.direct, "before rotation albatross")
    keys = (d / "data-keys").read_bytes()
    p = rotate(d)
    assert p.returncode == 1 and b"in use by a running pipitd" in p.stderr, p
    assert (d / "data-keys").read_bytes() == keys
    s.stop()

    p = rotate(d)
    assert p.returncode == 0, p
    assert "keys: data key 2 seals new data from the next start" in p.stdout.decode(), p.stdout
    assert data_key_lines(d) == [1, 2]
    mark = len(s.lines)
    s.start()
    assert any("encryption at rest: on, 2 data key(s), key 2 seals new data" in l
               for l in log_since(s, mark)), log_since(s, mark)
    new = w.send(w.b, w.direct, "after rotation pelican")
    assert w.texts(w.a, w.direct) == ["before rotation albatross", "after rotation pelican"]
    assert found(s, w.a, "albatross") == {"before rotation albatross"}
    assert found(s, w.a, "pelican") == {"after rotation pelican"}
    (rec,) = audit(s, "keys.rotate")
    assert rec["outcome"] == "ok" and rec["actor"] == "cli", rec
    assert rec["detail"]["new_master_key"] is False, rec
    s.stop()
    by_seq = dict(db_rows(d, "SELECT seq, body FROM events WHERE conv_id = ? AND kind = "
                             "'message'", w.direct))
    assert key_id(by_seq[old["seq"]]) == 1 and key_id(by_seq[new["seq"]]) == 2
    assert leaks(d, ["albatross pelican"]) == []

    # data-keys from before the rotation (an older backup of it) lacks key 2: refused.
    (d / "data-keys").write_bytes(keys)
    refused_start(s, "do not open this data dir's newest message")


def test_a_plain_body_put_into_an_encrypted_database_is_not_served(server_factory):
    """Someone who can write the file replaces a sealed body with plain JSON: in a sealed
    database that is refused like any body that does not open, never served as genuine."""
    w = world(server_factory)
    s, d = w.srv, w.srv.data_dir
    m = w.send(w.a, w.direct, "the genuine words")
    w.send(w.b, w.group, "an untouched conversation")
    s.stop()
    tamper(d, "UPDATE events SET body = ? WHERE conv_id = ? AND seq = ?",
           json.dumps({"type": "text", "text": "forged words"}), w.direct, m["seq"])
    s.start()
    r = api(s, "GET", "/v1/conversations/%d/messages" % w.direct, w.b)
    assert 500 <= r.status_code < 600 and "forged" not in r.text, (r.status_code, r.text[:200])
    assert w.texts(w.b, w.group) == ["an untouched conversation"]
    assert s.alive()


def test_rotation_to_a_new_master_key(server_factory, monkeypatch, tmp_path):
    """`pipit keys rotate --new-master-key-file` wraps every data key under the new master
    key: the old one no longer opens the data dir, the new one opens all of it."""
    set_cli_env(monkeypatch, KEY_ENV)
    w = world(server_factory)
    s, d = w.srv, w.srv.data_dir
    w.send(w.a, w.direct, "sealed under the first master")
    s.stop()
    p = run_cli(["keys", "generate"])
    assert p.returncode == 0, p
    new_master = p.stdout.decode().strip()
    key_file = tmp_path / "new-master.key"
    key_file.write_text(new_master + "\n")
    os.chmod(key_file, 0o600)

    p = rotate(d, "--new-master-key-file", key_file)
    assert p.returncode == 0, p
    assert p.stdout.decode().startswith("keys: data key 2 seals new data from the next start"), p
    assert data_key_lines(d) == [1, 2]
    refused_start(s, "does not open")

    s.env.update({"PIPIT_MASTER_KEY": "", "PIPIT_MASTER_KEY_FILE": str(key_file)})
    s.start()
    w.send(w.b, w.direct, "sealed under the second master")
    assert w.texts(w.a, w.direct) == ["sealed under the first master",
                                      "sealed under the second master"]
    (rec,) = audit(s, "keys.rotate")
    assert rec["detail"]["new_master_key"] is True, rec
    s.stop()
    # The CLI too now needs the new key.
    p = rotate(d)
    assert p.returncode == 1 and b"does not open" in p.stderr, p
    set_cli_env(monkeypatch, {"PIPIT_MASTER_KEY": new_master})
    p = rotate(d)
    assert p.returncode == 0 and b"data key 3" in p.stdout, p


# -- 6. keys generate, and where the key comes from ---------------------------------------

def test_keys_generate_prints_a_fresh_key_that_pipitd_takes(server_factory, tmp_path):
    """`pipit keys generate` prints 64 new hex digits each time; a key file named with
    --master-key-file opens a data dir, and is used rather than PIPIT_MASTER_KEY."""
    outs = [run_cli(["keys", "generate"]) for _ in range(2)]
    for p in outs:
        assert p.returncode == 0 and p.stderr == b"", p
        assert re.fullmatch(rb"[0-9a-f]{64}\n", p.stdout), p.stdout
    assert outs[0].stdout != outs[1].stdout
    generated = outs[0].stdout.decode().strip()
    key_file = tmp_path / "master.key"
    key_file.write_text(generated + "\n")

    s = server_factory.new("--master-key-file", key_file, env=KEY_ENV)
    a = s.create_user()
    b = s.create_user()
    conv = create_direct(s, a, b.id)["id"]
    rest_send(s, a, conv, body=text("under a generated key"))
    s.stop()
    s.args = s.args[:-2]                            # drop --master-key-file: MASTER_KEY
    refused_start(s, "does not open")
    s.env.update({"PIPIT_MASTER_KEY": generated})
    s.start()
    texts = [e["body"]["text"] for e in rest_history(s, b, conv)["events"]
             if e["ev"] == "message"]
    assert texts == ["under a generated key"]


# -- 7. export ----------------------------------------------------------------------------

def test_export_cli_needs_the_master_key(server_factory, tmp_path, monkeypatch):
    """`pipit export conv` of an encrypted data dir reads the texts with the master key in
    the environment, and without it fails with a clear message and writes nothing."""
    w = world(server_factory)
    for t in ("exported words", "导出的消息"):
        w.send(w.a, w.direct, t)
    out = tmp_path / "out" / "conv.tar"
    out.parent.mkdir()
    args = ["export", "conv", w.direct, "--data-dir", w.srv.data_dir, "--out", out]

    set_cli_env(monkeypatch, NO_MASTER_KEY)
    p = run_cli(args, timeout=T(60))
    err = p.stderr.decode()
    assert p.returncode == 1, p
    assert err.startswith("pipit: ") and "no master key" in err, err
    assert os.listdir(out.parent) == []

    set_cli_env(monkeypatch, KEY_ENV)
    p = run_cli(args, timeout=T(60))
    assert p.returncode == 0, p
    with tarfile.open(out) as t:
        events = t.extractfile("events.jsonl").read().decode()
    bodies = [json.loads(l).get("body") for l in events.splitlines()]
    assert [b["text"] for b in bodies if isinstance(b, dict) and "text" in b] == \
        ["exported words", "导出的消息"]


# -- 8. an altered body -------------------------------------------------------------------

def test_an_altered_sealed_body_is_an_error_not_garbage(server_factory):
    """A sealed body with one byte flipped, or moved to another message, does not open:
    that conversation's history answers 5xx (REST) or an error (WebSocket), the server stays
    up, and other conversations are served as before."""
    w = world(server_factory)
    s, d = w.srv, w.srv.data_dir
    flipped = w.send(w.a, w.direct, "this one gets a flipped byte")
    w.send(w.a, w.direct, "an honest neighbour")
    third = create_group(s, w.a, [w.b], title="moved")["id"]
    m1 = w.send(w.a, third, "first of the third")
    m2 = w.send(w.a, third, "second of the third")
    w.send(w.b, w.group, "the group is fine")
    s.stop()

    ((body,),) = db_rows(d, "SELECT body FROM events WHERE conv_id = ? AND seq = ?",
                         w.direct, flipped["seq"])
    body = bytearray(body)
    body[40] ^= 0x01
    tamper(d, "UPDATE events SET body = ? WHERE conv_id = ? AND seq = ?", bytes(body),
           w.direct, flipped["seq"])
    ((moved,),) = db_rows(d, "SELECT body FROM events WHERE conv_id = ? AND seq = ?",
                          third, m1["seq"])
    tamper(d, "UPDATE events SET body = ? WHERE conv_id = ? AND seq = ?", moved,
           third, m2["seq"])

    s.start()
    for conv in (w.direct, third):
        r = api(s, "GET", "/v1/conversations/%d/messages" % conv, w.b)
        assert 500 <= r.status_code < 600, (conv, r.status_code, r.text[:300])
        assert "this one gets" not in r.text and "first of the third" not in r.text
        c = Chat(s, w.b)
        try:
            ans = c.request("history", conv=conv)
            assert "error" in ans and "ok" not in ans, ans
        finally:
            c.close()
    assert s.alive()
    assert w.texts(w.b, w.group) == ["the group is fine"]
    assert found(s, w.b, "group") == {"the group is fine"}
    w.send(w.a, w.group, "still sending")
    assert w.texts(w.a, w.group) == ["the group is fine", "still sending"]
    assert s.alive()


# -- 9. backup and restore ----------------------------------------------------------------

def test_backup_of_an_encrypted_dir_restores_with_the_same_key_only(server_factory, tmp_path):
    """A backup carries data-keys but not the master key and no plain text; restored into
    a fresh dir it is refused without the key and serves the old messages with it."""
    w = world(server_factory)
    texts = ["backed up flamingo", "备份的消息"]
    for t in texts:
        w.send(w.a, w.direct, t)
    out = tmp_path / "enc.backup"
    p = backup(w.srv.data_dir, out)
    assert p.returncode == 0, p
    with tarfile.open(out) as t:
        parts = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isreg()}
    assert parts["data-keys"] == (w.srv.data_dir / "data-keys").read_bytes()
    raw = out.read_bytes()
    assert MASTER_KEY.encode() not in raw
    assert [n for n in needles(texts) if n in raw] == []

    target = tmp_path / "restored"
    p = restore(out, target)
    assert p.returncode == 0, p
    assert data_key_lines(target) == [1]
    r = server_factory.new(data_dir=target, env=NO_MASTER_KEY, start=False)
    refused_start(r, "no master key")
    r.env.update(KEY_ENV)
    r.start()
    token = r.login(w.a.username, PASSWORD)
    got = [e["body"]["text"] for e in rest_history(r, token, w.direct)["events"]
           if e["ev"] == "message"]
    assert sorted(got) == sorted(texts)
    assert found(r, token, "flamingo") == {"backed up flamingo"}
    assert found(r, token, "备份") == {"备份的消息"}


# -- 10. stored files -----------------------------------------------------------------------

FILE_CHUNK = sealing.FILE_CHUNK


def file_world(server_factory, env=KEY_ENV):
    """A direct conversation with a shared random file (three and a bit chunks) and a
    shared PNG, and its thumbnail made."""
    w = world(server_factory, env)
    data = random.Random(7).randbytes(3 * FILE_CHUNK + 1234)
    image = png(64, 48)
    f = upload_ok(w.srv, w.a, data, "plans.bin")
    img = upload_ok(w.srv, w.a, image, "photo.png")
    share(w.srv, w.a, w.direct, f)
    share(w.srv, w.a, w.direct, img, kind="image")
    thumb = wait_thumbnail(w.srv, w.b, img["id"]).content
    return w, (f, data), (img, image), thumb


def ranges_match(srv, user, fid, data):
    """Range answers across chunk edges (and a suffix, and the last byte) are the bytes."""
    n = len(data)
    for first, last in ((0, 0), (FILE_CHUNK - 3, FILE_CHUNK + 2), (FILE_CHUNK, 2 * FILE_CHUNK),
                        (5, n - 6), (n - 1, n - 1)):
        r = download(srv, user, fid, headers={"Range": "bytes=%d-%d" % (first, last)})
        assert r.status_code == 206, (first, last, r.status_code)
        assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (first, last, n)
        assert r.content == data[first:last + 1], (first, last)
    r = download(srv, user, fid, headers={"Range": "bytes=-100"})
    assert r.status_code == 206 and r.content == data[-100:]
    r = download(srv, user, fid, headers={"Range": "bytes=%d-" % n})
    assert r.status_code == 416


def test_stored_files_and_thumbnails_are_sealed_and_serve_whole_and_in_ranges(
        server_factory):
    """Files and thumbnails on disk are sealed in 64 KiB chunks (PSF1, key id, nonce) that
    this test opens by the documented format alone; downloads, HEAD, ETag and ranges
    across chunk edges give the content; nothing of it is on disk in the clear."""
    w, (f, data), (img, image), thumb = file_world(server_factory)
    s, d = w.srv, w.srv.data_dir
    for digest, suffix, content in ((f["sha256"], "", data), (img["sha256"], "", image),
                                    (img["sha256"], ".thumb", thumb)):
        raw = blob_path(s, digest, suffix).read_bytes()
        assert raw[:4] == b"PSF1" and int.from_bytes(raw[4:8], "big") == 1, raw[:8]
        assert len(raw) == len(content) + 32 + 16 * max(1, -(-len(content) // FILE_CHUNK))
        assert content[:64] not in raw and content[-64:] not in raw
        assert stored_content(s, digest, suffix) == content
    assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"
    r = download(s, w.b, f["id"])
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["ETag"] == '"%s"' % f["sha256"]
    head = download(s, w.b, f["id"], method="HEAD")
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
    assert download(s, w.b, img["id"]).content == image
    ranges_match(s, w.b, f["id"], data)
    # An empty file is one empty chunk, and downloads empty.
    empty = upload_ok(s, w.a, b"", "empty.txt")
    assert len(blob_path(s, empty["sha256"]).read_bytes()) == 32 + 16
    assert download(s, w.a, empty["id"]).content == b""
    # Nothing in the temporary dir once the uploads are answered.
    assert os.listdir(d / "files" / "tmp") == []


def test_files_stored_before_the_key_are_sealed_at_its_first_start(server_factory):
    """A data dir with plain stored files and thumbnails: the first start with a key seals
    them all (logged), and they download, whole and in ranges, as before."""
    w, (f, data), (img, image), thumb = file_world(server_factory, NO_MASTER_KEY)
    s = w.srv
    assert blob_path(s, f["sha256"]).read_bytes() == data
    s.stop()
    s.env.update(KEY_ENV)
    mark = len(s.lines)
    s.start()
    sealed_lines = [m for m in map(SEALED_LOG.search, log_since(s, mark)) if m]
    assert len(sealed_lines) == 1 and int(sealed_lines[0].group(2)) == 3, log_since(s, mark)
    for digest, suffix, content in ((f["sha256"], "", data), (img["sha256"], "", image),
                                    (img["sha256"], ".thumb", thumb)):
        assert blob_path(s, digest, suffix).read_bytes()[:4] == b"PSF1"
        assert stored_content(s, digest, suffix) == content
    assert download(s, w.b, f["id"]).content == data
    assert download(s, w.b, img["id"], thumb=True).content == thumb
    ranges_match(s, w.b, f["id"], data)
    # A new upload of content stored before: the stored (now sealed) copy serves it.
    again = upload_ok(s, w.b, data, "again.bin")
    assert again["sha256"] == f["sha256"] and download(s, w.b, again["id"]).content == data


def test_an_altered_stored_file_is_not_served(server_factory):
    """One flipped byte in a sealed file's second chunk: the answer breaks off at that
    chunk (the length promised cannot be kept) rather than carry altered bytes; the first
    chunk still serves, and the server stays up."""
    w, (f, data), _, _ = file_world(server_factory)
    s = w.srv
    path = blob_path(s, f["sha256"])
    raw = bytearray(path.read_bytes())
    raw[32 + (FILE_CHUNK + 16) + 100] ^= 0x01
    path.write_bytes(bytes(raw))
    try:
        r = download(s, w.b, f["id"])
        # Cut short: whatever came is less than the promised length, and none of it altered.
        assert len(r.content) < int(r.headers["Content-Length"]) == len(data)
        assert data.startswith(r.content)
    except requests.exceptions.ChunkedEncodingError:
        pass   # a client that checks the length
    first = download(s, w.b, f["id"], headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == data[:100]
    assert any("file answer: read failed" in l for l in s.lines), s.log_tail()
    assert s.get("/healthz").status_code == 200


def test_export_of_an_encrypted_dir_holds_the_files_opened(server_factory, tmp_path):
    """`pipit export` and the admin route put each stored file's content (not its sealed
    bytes) in the archive, under the SHA-256 the manifest gives."""
    w, (f, data), (img, image), _ = file_world(server_factory)
    s = w.srv
    r = api(s, "GET", "/v1/admin/export", w.admin, params={"conv": w.direct})
    assert r.status_code == 200, r.text
    with tarfile.open(fileobj=io.BytesIO(r.content)) as t:
        files = {m.name: t.extractfile(m).read() for m in t.getmembers()
                 if m.name.startswith("files/")}
    assert sorted(files.values()) == sorted([data, image])
    s.stop()
    out = tmp_path / "conv.tar"
    done = run_cli(["export", "conv", str(w.direct), "--data-dir", str(s.data_dir),
                    "--out", str(out)])
    assert done.returncode == 0, done.stderr
    with tarfile.open(out) as t:
        manifest = json.loads(t.extractfile("manifest.json").read())
        for e in manifest["entries"]:
            if e["path"].startswith("files/"):
                content = t.extractfile(e["path"]).read()
                assert hashlib.sha256(content).hexdigest() == e["sha256"]
                assert content in (data, image)
