"""Backup and restore (issue 6): `pipit backup` of a running server under load, `pipit restore`
into a fresh data dir, and every way a restore must refuse bad input without touching the
target. Also the sweep lock a backup holds (files/sweep.lock).

Operations guide: docs/operations.md, "Backup and restore".
"""

import fcntl
import hashlib
import io
import json
import os
import sqlite3
import stat
import tarfile
import threading
import time

import pytest

from chatlib import Chat, all_events, create_direct, create_group, new_cmid, rest_send, text, users
from conftest import PASSWORD, T, dir_contents, poll_until, run_cli
from fileslib import blob_path, download, png, share, stored_content, upload_ok, wait_thumbnail

MAX_SENDS = 5000            # per sender: the load is bounded in count...
SEND_SECONDS = 40           # ...and in time (scaled)
READY = 800                 # messages each sender has acked when the backup starts
PAD = 4000                  # characters a message: the database outgrows one backup step
MANY_FILES = 120            # stored files in the archive of the bad-input tests


def backup(data_dir, out, *extra):
    return run_cli(["backup", "--data-dir", data_dir, "--out", out] + list(extra),
                   timeout=T(120))


def restore(archive, target):
    return run_cli(["restore", "--from", archive, "--data-dir", target], timeout=T(120))


# -- the load: two senders, one over REST and one over WebSocket ----------------------------

class Sender(threading.Thread):
    def __init__(self, srv, user, conv, transport, stop):
        super().__init__(daemon=True)
        self.srv, self.user, self.conv, self.transport, self.stop = srv, user, conv, transport, stop
        self.acked = []         # (t_sent, t_acked, conv, seq, id, body), in ack order
        self.lock = threading.Lock()
        self.error = None

    def run(self):
        deadline = time.monotonic() + T(SEND_SECONDS)
        chat = Chat(self.srv, self.user) if self.transport == "ws" else None
        try:
            for n in range(MAX_SENDS):
                if self.stop.is_set() or time.monotonic() > deadline:
                    break
                label = "%s-%s-%d" % (self.transport, self.user.username, n)
                body = text((label + " ") * (PAD // (len(label) + 1)))
                sent = time.monotonic()
                if chat is not None:
                    ack = chat.send_msg(self.conv, body)
                else:
                    ack = rest_send(self.srv, self.user, self.conv, body, cmid=new_cmid("bk"))
                with self.lock:
                    self.acked.append((sent, time.monotonic(), self.conv, ack["seq"], ack["id"],
                                       body))
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            if chat is not None:
                chat.close()

    def acked_before(self, t):
        with self.lock:
            return [m for m in self.acked if m[1] < t]

    def sent_after(self, t):
        """Committed after t, since they were sent after it."""
        with self.lock:
            return [m for m in self.acked if m[0] > t]


def test_backup_under_load_restores_every_message_acked_before_it(server_factory, tmp_path):
    s = server_factory.new("--registration", "open")
    a, b = users(s, 2)
    direct = create_direct(s, a, b.id)["id"]
    group = create_group(s, a, [b])["id"]
    # Files, shared so that they stay: one gets a thumbnail before the backup.
    uploads = []
    for i, data in enumerate([os.urandom(70000), png(120, 80), b"small text file\n"]):
        f = upload_ok(s, a, data, "f%d.bin" % i)
        share(s, a, direct, f)
        uploads.append((f, data))
    image = uploads[1][0]
    assert wait_thumbnail(s, a, image["id"]).status_code == 200
    thumb = download(s, a, image["id"], thumb=True).content

    stop = threading.Event()
    senders = [Sender(s, a, direct, "rest", stop), Sender(s, b, group, "ws", stop)]
    for t in senders:
        t.start()
    try:
        poll_until(lambda: all(len(t.acked) >= READY for t in senders), T(30),
                   what="both senders to get going")
        started = time.monotonic()
        out = tmp_path / "pipit.backup"
        p = backup(s.data_dir, out)
        finished = time.monotonic()
        assert p.returncode == 0, p
        during = [m for t in senders for m in t.acked_before(finished) if m[0] > started]
        print("backup: %.2fs, %d messages sent and acked while it ran; %s"
              % (finished - started, len(during), p.stdout.decode().strip()))
        assert p.stdout.decode().startswith("backup: "), p.stdout
        # Writes went on while the backup ran and after it.
        poll_until(lambda: all(t.sent_after(finished) for t in senders), T(10),
                   what="acks after the backup")
    finally:
        stop.set()
        for t in senders:
            t.join(T(30))
    for t in senders:
        assert t.error is None, "%s sender: %r" % (t.transport, t.error)
    before = [m for t in senders for m in t.acked_before(started)]
    after = [m for t in senders for m in t.sent_after(finished)]
    assert before and after
    assert not os.path.exists(str(out) + ".tmp") and not os.path.exists(str(out) + ".db.tmp")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600

    target = tmp_path / "restored"
    p = restore(out, target)
    assert p.returncode == 0, p
    assert p.stdout.decode().startswith("restore: "), p.stdout
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
    for name in ("vapid-private.pem", "initial-admin-password"):
        assert (target / name).read_bytes() == (s.data_dir / name).read_bytes(), name
        assert stat.S_IMODE(os.stat(target / name).st_mode) == 0o600, name
    assert not (target / "pipitd.lock").exists()
    assert not [n for n in os.listdir(tmp_path) if ".restore-" in n], "staging dir left"
    db = sqlite3.connect(str(target / "pipit.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {row[0] for row in db.execute("SELECT id FROM events WHERE kind = 'message'")}
    finally:
        db.close()
    assert not [m for m in after if m[4] in stored], "sent after the backup ended, yet in it"

    r = server_factory.new("--registration", "open", data_dir=target)
    # Old passwords log in; the admin's too.
    token_a = r.login(a.username, PASSWORD)
    token_b = r.login(b.username, PASSWORD)
    r.login("admin", s.admin_password)
    history = {direct: all_events(r, token_a, direct), group: all_events(r, token_b, group)}
    by_seq = {conv: {e["seq"]: e for e in evs} for conv, evs in history.items()}
    for _, _, conv, seq, id_, body in before:
        e = by_seq[conv].get(seq)
        assert e is not None, "message %d (seq %d of conv %d) acked before the backup is lost" % (
            id_, seq, conv)
        assert (e["id"], e["body"]) == (id_, body), e
    for f, data in uploads:
        got = download(r, token_b, f["id"])
        assert got.status_code == 200 and got.content == data, f
    assert download(r, token_a, image["id"], thumb=True).content == thumb


# -- bad input ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def archive(module_server_factory, tmp_path_factory):
    """A backup of a server with a message and stored files: enough of them that the
    manifest spans several tar blocks."""
    s = module_server_factory("--registration", "open")
    a, b = users(s, 2)
    d = create_direct(s, a, b.id)["id"]
    f = upload_ok(s, a, b"the bytes of a stored file\n", "f.txt")
    share(s, a, d, f)
    for i in range(MANY_FILES):
        upload_ok(s, a, b"stored file %d\n" % i, "f%d.txt" % i)
    out = tmp_path_factory.mktemp("backup") / "good.backup"
    p = backup(s.data_dir, out)
    assert p.returncode == 0, p
    return out


def members(path):
    """The archive's entries in order: name -> bytes."""
    with tarfile.open(path) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers()}


def write_tar(path, entries, manifest=None):
    """A tar of (name, bytes) pairs (or TarInfo, None), manifest.json first when given."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        if manifest is not None:
            data = json.dumps(manifest).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, data in entries:
            if isinstance(name, tarfile.TarInfo):
                t.addfile(name)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            t.addfile(info, io.BytesIO(data))
    return path


def manifest_for(entries, base):
    """base's manifest with its entries made to match `entries` exactly."""
    m = dict(base)
    m["entries"] = [{"path": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                    for n, d in entries if not isinstance(n, tarfile.TarInfo)]
    return m


def refused(archive_path, target, *phrases, code=1):
    """Restore must fail with one clear line and leave target and its parent as they were."""
    parent = os.path.dirname(str(target))
    was = dir_contents(parent)
    p = restore(archive_path, target)
    err = p.stderr.decode()
    assert p.returncode == code, (p.returncode, err)
    assert err.startswith("pipit: restore: ") and err.count("\n") == 1, err
    for phrase in phrases:
        assert phrase in err, (phrase, err)
    assert dir_contents(parent) == was, "restore changed %s" % parent
    return err


def test_good_archive_restores_into_an_empty_dir(archive, tmp_path):
    target = tmp_path / "empty"
    target.mkdir()
    p = restore(archive, target)
    assert p.returncode == 0, p
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
    assert (target / "pipit.db").exists() and (target / "vapid-private.pem").exists()
    parts = members(archive)
    assert list(parts)[0] == "manifest.json" and len(parts["manifest.json"]) > 10240
    manifest = json.loads(parts["manifest.json"])
    assert manifest["format"] == "pipit-backup" and manifest["version"] == 1
    assert manifest["counts"]["files"] == MANY_FILES + 1
    assert sorted(e["path"] for e in manifest["entries"]) == sorted(list(parts)[1:])
    for e in manifest["entries"]:
        data = parts[e["path"]]
        assert (len(data), hashlib.sha256(data).hexdigest()) == (e["size"], e["sha256"]), e
        assert (target / e["path"]).read_bytes() == data
        assert stat.S_IMODE(os.stat(target / e["path"]).st_mode) == 0o600


def test_restore_refuses_a_non_empty_target(archive, tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_bytes(b"mine")
    refused(archive, target, "is not empty")
    not_dir = tmp_path / "plain-file"
    not_dir.write_bytes(b"x")
    refused(archive, not_dir, "not a directory")


def test_restore_refuses_a_missing_or_foreign_file(archive, tmp_path):
    target = tmp_path / "t"
    refused(tmp_path / "nowhere.backup", target, "cannot open", "No such file")
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"this is not an archive at all\n" * 100)
    refused(junk, target, "not a pipit backup")
    empty = tmp_path / "empty.backup"
    empty.write_bytes(b"")
    refused(empty, target, "not a pipit backup")
    # A tar, but no manifest: the entries alone.
    parts = members(archive)
    entries = [(n, d) for n, d in parts.items() if n != "manifest.json"]
    refused(write_tar(tmp_path / "nomanifest.backup", entries), target,
            "does not start with manifest.json")
    # A manifest of another format, and of a later version of this one.
    base = json.loads(parts["manifest.json"])
    refused(write_tar(tmp_path / "other.backup", entries, dict(manifest_for(entries, base),
                                                                format="other")),
            target, "not a pipit backup")
    refused(write_tar(tmp_path / "v2.backup", entries, dict(manifest_for(entries, base),
                                                             version=2)),
            target, "format version 2")


def test_restore_refuses_a_truncated_or_damaged_archive(archive, tmp_path):
    target = tmp_path / "t"
    data = archive.read_bytes()
    with tarfile.open(archive) as t:
        infos = t.getmembers()
    db = [m for m in infos if m.name == "pipit.db"][0]
    # Cut inside the manifest, inside the database, and just before the last entry.
    for cut in (700, db.offset_data + db.size // 2, infos[-1].offset):
        short = tmp_path / ("cut-%d.backup" % cut)
        short.write_bytes(data[:cut])
        err = refused(short, target)
        assert "truncated" in err, err
    # One byte flipped inside the database entry: its SHA-256 no longer matches.
    flipped = bytearray(data)
    flipped[db.offset_data + db.size // 2] ^= 0x01
    bad = tmp_path / "flipped.backup"
    bad.write_bytes(bytes(flipped))
    refused(bad, target, "pipit.db does not match the manifest", "SHA-256")
    # The manifest names an entry the archive does not hold.
    parts = members(archive)
    base = json.loads(parts["manifest.json"])
    entries = [(n, d) for n, d in parts.items() if n != "manifest.json"]
    short = [(n, d) for n, d in entries if n != "vapid-private.pem"]
    refused(write_tar(tmp_path / "missing.backup", short, manifest_for(entries, base)),
            target, "vapid-private.pem is missing")
    # Databases that match their manifest but are damaged inside: not a database at all, and
    # an index that no longer matches its table (what only integrity_check finds).
    raw = bytearray(parts["pipit.db"])
    raw[16:18] = b"\x00\x03"            # the page size
    dbfile = tmp_path / "index.db"
    dbfile.write_bytes(parts["pipit.db"])
    db = sqlite3.connect(str(dbfile))
    db.execute("PRAGMA writable_schema = ON")
    db.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX files_owner ON files(app_id, name)' "
               "WHERE name = 'files_owner'")
    db.commit()
    db.close()
    for name, damaged in (("header", bytes(raw)), ("index", dbfile.read_bytes())):
        broken = [(n, damaged if n == "pipit.db" else d) for n, d in entries]
        err = refused(write_tar(tmp_path / ("%s.backup" % name), broken,
                                manifest_for(broken, base)),
                      target)
        assert "not a database" in err or "damaged" in err, err


def test_restore_refuses_path_tricks_and_links(archive, tmp_path):
    target = tmp_path / "t"
    parts = members(archive)
    base = json.loads(parts["manifest.json"])
    entries = [(n, d) for n, d in parts.items() if n != "manifest.json"]
    for evil in ("../evil", "/tmp/evil-%d" % os.getpid(), "files/../../evil", ".hidden",
                 "pipitd.lock", "files/ab/cd/not-a-hash"):
        # Unlisted in the manifest...
        refused(write_tar(tmp_path / "x.backup", entries + [(evil, b"boo")],
                          manifest_for(entries, base)),
                target, "which its manifest does not name")
        # ...and listed in it.
        refused(write_tar(tmp_path / "y.backup", entries + [(evil, b"boo")],
                          manifest_for(entries + [(evil, b"boo")], base)),
                target, "refused")
    assert not os.path.exists(tmp_path / "evil")
    # A symbolic link, a hard link and a device in place of a listed file.
    for kind in (tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.DIRTYPE):
        link = tarfile.TarInfo("vapid-private.pem")
        link.type = kind
        link.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else "pipit.db"
        swapped = [(n, d) for n, d in entries if n != "vapid-private.pem"] + [(link, None)]
        refused(write_tar(tmp_path / "link.backup", swapped, manifest_for(entries, base)),
                target, "not a regular file")
    # The same entry twice.
    refused(write_tar(tmp_path / "twice.backup", entries + [entries[-1]],
                      manifest_for(entries, base)),
            target, "twice")


def test_restore_refuses_a_database_from_a_newer_pipit(archive, tmp_path):
    parts = members(archive)
    base = json.loads(parts["manifest.json"])
    dbfile = tmp_path / "newer.db"
    dbfile.write_bytes(parts["pipit.db"])
    db = sqlite3.connect(str(dbfile))
    db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'x', 0)")
    db.commit()
    db.close()
    entries = [(n, dbfile.read_bytes() if n == "pipit.db" else d)
               for n, d in parts.items() if n != "manifest.json"]
    m = dict(manifest_for(entries, base), schema_version=9999)
    refused(write_tar(tmp_path / "newer.backup", entries, m), tmp_path / "t",
            "from a newer pipit")


def test_restore_refuses_an_encrypted_backup_without_its_keys_or_marked_otherwise(archive,
                                                                                 tmp_path):
    """The suite's servers encrypt at rest: the archive holds data-keys and says "sealed".
    Without data-keys it could never be opened; a manifest that says it is not sealed has
    stored files whose bytes are not their names."""
    parts = members(archive)
    base = json.loads(parts["manifest.json"])
    assert base["sealed"] is True and "data-keys" in parts
    entries = [(n, d) for n, d in parts.items() if n not in ("manifest.json", "data-keys")]
    refused(write_tar(tmp_path / "nokeys.backup", entries, manifest_for(entries, base)),
            tmp_path / "t", "not the data-keys that opens it")
    entries = [(n, d) for n, d in parts.items() if n != "manifest.json"]
    m = dict(manifest_for(entries, base), sealed=False)
    refused(write_tar(tmp_path / "unsealed.backup", entries, m), tmp_path / "t",
            "is not its name")


def test_backup_refuses_to_overwrite_and_bad_usage(archive, tmp_path):
    data_dir = tmp_path / "from-archive"
    assert restore(archive, data_dir).returncode == 0
    out = tmp_path / "exists.backup"
    out.write_bytes(b"keep me")
    p = backup(data_dir, out)
    assert p.returncode == 1 and "exists" in p.stderr.decode(), p
    assert out.read_bytes() == b"keep me"
    p = backup(data_dir, out, "--force")
    assert p.returncode == 0, p
    assert list(members(out))[0] == "manifest.json"
    # Not a data dir: nothing is left behind.
    nothing = tmp_path / "no-data"
    nothing.mkdir()
    p = backup(nothing, tmp_path / "none.backup")
    assert p.returncode == 1 and p.stderr.decode().startswith("pipit: backup: "), p
    assert sorted(os.listdir(tmp_path)) == sorted(["exists.backup", "from-archive", "no-data"])
    for args in (["backup"], ["backup", "--data-dir", str(data_dir)], ["restore"],
                 ["restore", "--from", str(archive)], ["backup", "--bogus"]):
        p = run_cli(args)
        assert p.returncode == 2 and b"usage:" in p.stderr, (args, p)


# -- the sweep lock -----------------------------------------------------------------------

def test_sweep_leaves_stored_files_alone_while_a_backup_holds_its_lock(server_factory):
    s = server_factory.new("--registration", "open", "--file-unshared-ttl", "1s")
    a = s.new_user()
    lock = open(s.data_dir / "files" / "sweep.lock", "rb")
    try:
        fcntl.flock(lock, fcntl.LOCK_SH)
        data = os.urandom(4000)
        f = upload_ok(s, a, data, "unshared.bin")
        mark = len(s.lines)
        # Sweeps come every second; three of them (the last one with the file past its
        # time to live) must find the lock held.
        poll_until(lambda: sum("the sweep waits" in l for l in s.lines[mark:]) >= 3, T(10),
                   what="three sweeps held off")
        assert download(s, a, f["id"]).content == data
        assert stored_content(s, f["sha256"]) == data
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    poll_until(lambda: download(s, a, f["id"]).status_code == 404, T(10),
               what="the unshared file to be swept once the lock is free")
    poll_until(lambda: not blob_path(s, f["sha256"]).exists(), T(5), what="its bytes to go")
