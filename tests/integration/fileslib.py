"""Helpers for the files and search integration tests (docs/openapi.yaml, docs/protocol.md).

Uploads and downloads through the REST API, images built byte by byte (PNG with zlib and
struct, a JPEG that is only SOI, APP1 Exif and EOI, WebP containers), EXIF blocks with a
GPS IFD whose values are easy to find in a file's bytes, a reader for the size of a WebP,
and views of the server's data directory (blobs, thumbnails, temporary files).
"""

import hashlib
import os
import sqlite3
import struct
import zlib

import sealing
from chatlib import api, expect, now_ms, rest_send
from conftest import T, poll_until

FILE_KEYS = {"id", "name", "size", "mime", "sha256", "url", "thumbnail"}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# -- the API --------------------------------------------------------------------------------

def upload(srv, user, data, name="f.bin", headers=None, path=None):
    """POST /v1/files with the raw bytes; `path` overrides the target (for raw names)."""
    token = user if isinstance(user, str) else (user.token if user is not None else None)
    h = {"Content-Type": "application/octet-stream"}
    h.update(headers or {})
    kw = {"data": data}
    if path is None:
        kw["params"] = {"name": name}
        path = "/v1/files"
    return srv.request("POST", path, token=token, headers=h, timeout=T(30), **kw)


def check_file_json(f, data=None, name=None):
    assert FILE_KEYS <= set(f), f
    assert isinstance(f["id"], int) and f["id"] > 0, f
    assert f["url"] == "/v1/files/%d" % f["id"], f
    assert f["thumbnail"] in (None, "/v1/files/%d/thumbnail" % f["id"]), f
    assert isinstance(f["mime"], str) and "/" in f["mime"], f
    assert len(f["sha256"]) == 64 and f["sha256"] == f["sha256"].lower(), f
    if data is not None:
        assert f["size"] == len(data), f
    if name is not None:
        assert f["name"] == name, f


def upload_ok(srv, user, data, name="f.bin", headers=None):
    f = expect(upload(srv, user, data, name, headers), 201)
    check_file_json(f)
    assert f["size"] == len(data), f
    return f


def download(srv, user, fid, thumb=False, method="GET", headers=None):
    token = user if isinstance(user, str) else (user.token if user is not None else None)
    path = "/v1/files/%s%s" % (fid, "/thumbnail" if thumb else "")
    return srv.request(method, path, token=token, headers=headers, timeout=T(30))


def statuses(srv, user, fid, thumb=True):
    """The status of GET, HEAD (and GET /thumbnail) of a file for `user`."""
    out = {"GET": download(srv, user, fid).status_code,
           "HEAD": download(srv, user, fid, method="HEAD").status_code}
    if thumb:
        out["thumbnail"] = download(srv, user, fid, thumb=True).status_code
    return out


def readable(srv, user, fid, thumb=True):
    """True if every download path answers 200, False if every one answers 404."""
    got = statuses(srv, user, fid, thumb)
    values = set(got.values())
    assert values in ({200}, {404}), "mixed answers for %r: %r" % (user, got)
    return values == {200}


def wait_thumbnail(srv, user, fid, timeout=None):
    """GET the thumbnail, retrying while it is being made (503 with Retry-After)."""
    def attempt():
        r = download(srv, user, fid, thumb=True)
        if r.status_code == 503:
            assert r.headers.get("Retry-After") == "1", r.headers
            return None
        return r
    return poll_until(attempt, timeout or T(20), interval=0.1, what="thumbnail of %s" % fid)


def file_body(f, kind="file"):
    return {"type": kind, "file": f["id"], "name": f["name"], "size": f["size"],
            "mime": f["mime"]}


def share(srv, user, cid, f, kind="file", **kw):
    """Sends a message referring to file f (201 ack)."""
    return rest_send(srv, user, cid, file_body(f, kind), **kw)


def admin_app(srv, body=None, token=None):
    token = token or srv.admin_token()
    if body is None:
        return expect(api(srv, "GET", "/v1/admin/app", token), 200)
    return expect(api(srv, "PATCH", "/v1/admin/app", token, body), 200)


# -- the data directory ---------------------------------------------------------------------

def files_root(srv):
    return srv.data_dir / "files"


def tmp_files(srv):
    d = files_root(srv) / "tmp"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def blob_files(srv):
    """Stored contents: everything under data_dir/files but tmp/ and thumbnails."""
    root = files_root(srv)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.samefile(dirpath, root):
            dirnames[:] = [d for d in dirnames if d != "tmp"]
        out += [os.path.join(dirpath, n) for n in filenames if ".thumb" not in n]
    return sorted(out)


def blob_path(srv, digest, suffix=""):
    return files_root(srv) / digest[:2] / digest[2:4] / (digest + suffix)


def stored_content(srv, digest, suffix=""):
    """What a stored file holds, read from disk (and opened, when it is sealed at rest)."""
    return sealing.read_stored(srv.data_dir, blob_path(srv, digest, suffix), digest + suffix)


# -- another app (there is no API to make one: written into the store) -----------------------

def move_user_to_new_app(srv, user, app_id=2):
    """Puts an existing user (and their sessions) into app `app_id`, made if needed."""
    db = sqlite3.connect(str(srv.data_dir / "pipit.db"), timeout=30)
    try:
        with db:
            db.execute("INSERT OR IGNORE INTO apps (id, name, created_at) VALUES (?, ?, ?)",
                       (app_id, "other-%d" % app_id, now_ms()))
            db.execute("UPDATE users SET app_id = ? WHERE id = ?", (app_id, user.id))
            db.execute("UPDATE tokens SET app_id = ? WHERE user_id = ?", (app_id, user.id))
    finally:
        db.close()


def move_file_to_app(srv, fid, app_id=2):
    db = sqlite3.connect(str(srv.data_dir / "pipit.db"), timeout=30)
    try:
        with db:
            db.execute("INSERT OR IGNORE INTO apps (id, name, created_at) VALUES (?, ?, ?)",
                       (app_id, "other-%d" % app_id, now_ms()))
            db.execute("UPDATE files SET app_id = ? WHERE id = ?", (app_id, fid))
    finally:
        db.close()


# -- PNG (PNG 3rd ed. §5) ------------------------------------------------------------------

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_chunk(ctype, data):
    return (struct.pack(">I", len(data)) + ctype + data
            + struct.pack(">I", zlib.crc32(ctype + data) & 0xffffffff))


def png(width, height, extra_chunks=(), idat=None):
    """An 8-bit RGB PNG with a gradient (rows repeat every 16, so it compresses well).
    `extra_chunks` go between IHDR and IDAT; `idat` replaces the image data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if idat is None:
        rows = []
        for y in range(16):
            row = bytearray(3 * width)
            for x in range(width):
                row[3 * x] = (x * 255 // max(1, width - 1)) & 0xff
                row[3 * x + 1] = (y * 16) & 0xff
                row[3 * x + 2] = 128
            rows.append(b"\0" + bytes(row))
        raw = b"".join(rows[y % 16] for y in range(height))
        idat = zlib.compress(raw, 9)
    return (PNG_SIG + png_chunk(b"IHDR", ihdr) + b"".join(extra_chunks)
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def png_chunks(data):
    """[(type, data, crc_ok)] of a PNG."""
    assert data[:8] == PNG_SIG, data[:16]
    out = []
    at = 8
    for _ in range(10000):
        if at >= len(data):
            break
        n = struct.unpack(">I", data[at:at + 4])[0]
        ctype = data[at + 4:at + 8]
        body = data[at + 8:at + 8 + n]
        crc = struct.unpack(">I", data[at + 8 + n:at + 12 + n])[0]
        out.append((ctype, body, crc == zlib.crc32(ctype + body) & 0xffffffff))
        at += 12 + n
        if ctype == b"IEND":
            break
    return out


def png_header_only(width, height):
    """A PNG that claims width x height but holds only a few compressed bytes of rows."""
    return png(width, height, idat=zlib.compress(b"\0" * 4096, 9))


def slow_png(side=10000):
    """A side x side RGBA 16-bit PNG of Paeth-filtered zero rows: a few MB that take libvips
    seconds to decode (the thumbnailer's slowest allowed case, at 100 megapixels)."""
    row = b"\4" + b"\0" * (8 * side)
    co = zlib.compressobj(1)
    idat = b"".join(co.compress(row) for _ in range(side)) + co.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    return PNG_SIG + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


# -- EXIF with a GPS IFD (TIFF 6.0 §2; Exif 2.32 §4.6.3) -----------------------------------

GPS_LAT = ((37, 1), (46, 1), (298765, 10000))
GPS_LON = ((122, 1), (25, 1), (123456, 10000))
CAMERA = b"PipitCam\0"


def gps_marks(big_endian=True):
    """The byte strings of the latitude and longitude values as the EXIF block holds them."""
    fmt = (">" if big_endian else "<") + "6I"
    return [struct.pack(fmt, *[v for r in GPS_LAT for v in r]),
            struct.pack(fmt, *[v for r in GPS_LON for v in r])]


def exif_tiff(big_endian=True, orientation=None):
    """TIFF: IFD0 (Make, Orientation if given, GPSInfo) then a GPS IFD with version,
    latitude, longitude and their refs."""
    e = ">" if big_endian else "<"

    def entry(tag, typ, count, value_bytes):
        return struct.pack(e + "HHI", tag, typ, count) + value_bytes.ljust(4, b"\0")

    def u32(v):
        return struct.pack(e + "I", v)

    n0 = 3 if orientation else 2
    ifd0_at = 8
    make_at = ifd0_at + 2 + n0 * 12 + 4
    gps_at = make_at + 10                          # the string, padded to even
    lat_at = gps_at + 2 + 5 * 12 + 4
    lon_at = lat_at + 24
    header = (b"MM\0*" if big_endian else b"II*\0") + u32(ifd0_at)
    ifd0 = struct.pack(e + "H", n0) + entry(0x010F, 2, len(CAMERA), u32(make_at))
    if orientation:
        ifd0 += entry(0x0112, 3, 1, struct.pack(e + "H", orientation))
    ifd0 += entry(0x8825, 4, 1, u32(gps_at)) + u32(0)
    make = CAMERA + b"\0"
    gps = (struct.pack(e + "H", 5)
           + entry(0x0000, 1, 4, b"\x02\x03\x00\x00")
           + entry(0x0001, 2, 2, b"N\0")
           + entry(0x0002, 5, 3, u32(lat_at))
           + entry(0x0003, 2, 2, b"W\0")
           + entry(0x0004, 5, 3, u32(lon_at)) + u32(0))
    values = b"".join(struct.pack(e + "6I", *[v for r in rr for v in r])
                      for rr in (GPS_LAT, GPS_LON))
    out = header + ifd0 + make + gps + values
    assert len(header + ifd0) == make_at and len(header + ifd0 + make) == gps_at
    assert len(header + ifd0 + make + gps) == lat_at
    return out


def tiff_ifd0_tags(tiff):
    """The tags of IFD0 of a TIFF block."""
    e = ">" if tiff[:2] == b"MM" else "<"
    at = struct.unpack(e + "I", tiff[4:8])[0]
    n = struct.unpack(e + "H", tiff[at:at + 2])[0]
    return [struct.unpack(e + "H", tiff[at + 2 + 12 * i:at + 4 + 12 * i])[0] for i in range(n)]


def jpeg_segment(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_with_exif(tiff, extra_segments=()):
    """SOI, APP1 "Exif\\0\\0" + TIFF, other segments, EOI: no image data, but a JPEG to
    libmagic and a well-formed container to the location stripper."""
    return (b"\xFF\xD8" + jpeg_segment(0xE1, b"Exif\0\0" + tiff)
            + b"".join(extra_segments) + b"\xFF\xD9")


def gray_jpeg(width, height, segments=b""):
    """A real baseline JPEG (ITU T.81), flat mid-grey: every 8x8 block is a DC difference of
    category 0 and an end-of-block, each a one-bit Huffman code "0". `segments` (APPn...)
    go right after SOI."""
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    bits = 2 * blocks
    scan = b"\0" * (bits // 8) + (bytes([0xFF >> (bits % 8)]) if bits % 8 else b"")
    dqt = jpeg_segment(0xDB, b"\x00" + b"\x01" * 64)
    sof = jpeg_segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    one_code = bytes([1] + [0] * 15) + b"\x00"
    dht = jpeg_segment(0xC4, b"\x00" + one_code + b"\x10" + one_code)
    sos = jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    return b"\xFF\xD8" + segments + dqt + sof + dht + sos + scan + b"\xFF\xD9"


def jpeg_exif_block(data):
    """The TIFF block of the first APP1 Exif segment of a JPEG."""
    assert data[:4] == b"\xFF\xD8\xFF\xE1", data[:8]
    n = struct.unpack(">H", data[4:6])[0]
    payload = data[6:4 + n]
    assert payload[:6] == b"Exif\0\0", payload[:8]
    return payload[6:]


XMP_GPS = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
           b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
           b'exif:GPSLatitude="37,46.4979N" exif:GPSLongitude="122,25.2074W"/></rdf:RDF>'
           b'</x:xmpmeta>')


def xmp_segment(packet=XMP_GPS):
    return jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + packet)


# -- WebP (the WebP container specification) -----------------------------------------------

def riff_chunk(fourcc, data):
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")


def webp_container(chunks):
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_with_exif(tiff, width=16, height=16):
    """A WebP container: VP8X (EXIF flag set) then an EXIF chunk; no image data."""
    vp8x = bytes([0x08, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + \
        (height - 1).to_bytes(3, "little")
    return webp_container([riff_chunk(b"VP8X", vp8x), riff_chunk(b"EXIF", tiff)])


def webp_size(data):
    """(width, height) of a WebP from its VP8, VP8L or VP8X header."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", data[:16]
    assert struct.unpack("<I", data[4:8])[0] + 8 == len(data), "RIFF size != file size"
    fourcc = data[12:16]
    payload = data[20:]
    if fourcc == b"VP8X":
        w = int.from_bytes(payload[4:7], "little") + 1
        h = int.from_bytes(payload[7:10], "little") + 1
        return w, h
    if fourcc == b"VP8 ":
        assert payload[3:6] == b"\x9d\x01\x2a", payload[:10]
        w, h = struct.unpack("<HH", payload[6:10])
        return w & 0x3fff, h & 0x3fff
    if fourcc == b"VP8L":
        assert payload[0] == 0x2f, payload[:5]
        bits = int.from_bytes(payload[1:5], "little")
        return (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1
    raise AssertionError("unknown WebP chunk %r" % fourcc)


def webp_chunk_types(data):
    out = []
    at = 12
    for _ in range(1000):
        if at + 8 > len(data):
            break
        n = struct.unpack("<I", data[at + 4:at + 8])[0]
        out.append(data[at:at + 4])
        at += 8 + n + (n & 1)
    return out
