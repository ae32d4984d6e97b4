"""Protocol: every field of every op and JSON route missing, of the wrong type, out of range.

The fields are not listed here: the WebSocket ops and their fields are read from the
request tables of docs/protocol.md ("### `send`" ... "| field | type | |"), the REST
bodies from the request schemas of docs/openapi.yaml. What this file holds, once per op
or route, is a valid request (BASE, ROUTES) and what it is answered; the cases are
derived from it by changing one field at a time:

  missing       a required field left out                           -> bad_request
  wrong type    each of "7", 7, 7.5, true, null, {}, [7] that is not the field's type
                (null on an optional field means "absent": the base answer)
  out of range  below the minimum (0 and -1 for ids and seqs), above the maximum, a
                string one byte too short or too long, a value outside an enum
  huge          2^63-1 (a valid int64 naming nothing: not_found, or ok where the
                protocol caps it, HUGE below) and 2^63 (not an int64: the whole frame
                is unreadable, so the answer's re is null)

Hand-written cases follow for what a table cannot say (bodies, mentions, sync's convs,
search's q, the request envelope, auth). ws_op sends {"id":"h","op":...} on a fresh,
authenticated WebSocket of the prober; rest sends one request as the prober or the
admin (catalogue.Env).
"""

import re
from pathlib import Path

import yaml

from catalogue import (FRESH_CMID, MISSING, Case, Fmt, Fresh, Ref, http, rest, unique_name,
                       ws_err, ws_ok, ws_op)

DOCS = Path(__file__).resolve().parents[2] / "docs"
BR = "bad_request"
NF = "not_found"
I63 = (1 << 63) - 1
TYPE_VALUES = {"string": "7", "int": 7, "float": 7.5, "bool": True, "null": None,
               "object": {}, "array": [7]}
OWN_TYPE = {"int": "int", "str": "string", "object": "object", "array": "array", "bool": "bool"}


# -- the ops and their fields, from docs/protocol.md -------------------------------------

def documented_ops():
    """{op: [field spec]} from the first "| field | type |" table under each "### `op`"."""
    ops, current, fields = {}, None, None
    for line in (DOCS / "protocol.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^### `([a-z_]+)`$", line)
        if m or line.startswith("## "):
            if current is not None and current not in ops:
                ops[current] = fields or []
            current, fields = (m.group(1) if m else None), None
            continue
        if current is None or current in ops:
            continue
        if line.startswith("| field | type |"):
            fields = []
        elif fields is not None and line.startswith("|") and not line.startswith("|---"):
            name, kind = [x.strip() for x in line.strip().strip("|").split("|")][:2]
            if name.strip("`") not in ("id", "op"):
                fields.append(field_spec(name.strip("`"), kind))
        elif fields is not None and not line.startswith("|"):
            ops[current] = fields
    return ops


def field_spec(name, kind):
    """A doc type ("integer 1–200, optional", "string, 1–128 bytes"...) as a dict."""
    spec = {"name": name, "optional": "optional" in kind}
    rng = re.search(r"(\d+)–(\d+)", kind)
    ge = re.search(r"≥ (\d+)", kind)
    if kind.startswith("integer"):
        spec.update(type="int", min=int(rng.group(1)) if rng else int(ge.group(1)) if ge else 1,
                    max=int(rng.group(2)) if rng else None)
    elif kind.startswith("string"):
        spec.update(type="str", minlen=int(rng.group(1)) if rng else None,
                    maxlen=int(rng.group(2)) if rng else None)
    elif kind.startswith("object"):
        spec.update(type="object")
    elif kind.startswith("array"):
        spec.update(type="array")
    elif kind.startswith("boolean"):
        spec.update(type="bool")
    else:
        raise ValueError("docs/protocol.md: field %s has a type %r this catalogue cannot read"
                         % (name, kind))
    return spec


TEXT = {"type": "text", "text": "hostile"}
BODY_LIMIT = 64 * 1024

# A valid request of each op (fields by name) and its answer ("ok" or an error code); the
# prober p owns `direct` (with q), where p_seq is p's message and q_seq is q's.
BASE = {
    "auth": ({"token": Ref("p_token")}, "ok"),
    "ping": ({}, "ok"),
    "send": ({"conv": Ref("direct"), "cmid": FRESH_CMID, "body": TEXT}, "ok"),
    "edit": ({"conv": Ref("direct"), "seq": Ref("p_seq"), "body": TEXT}, "ok"),
    "recall": ({"conv": Ref("direct"), "seq": Ref("q_seq")}, "forbidden"),  # q's message
    "delete": ({"conv": Ref("direct"), "seq": Ref("q_seq")}, "ok"),
    "read": ({"conv": Ref("direct"), "seq": 1}, "ok"),
    "ack": ({"conv": Ref("direct"), "seq": 1}, "ok"),
    "typing": ({"conv": Ref("direct")}, "ok"),
    "history": ({"conv": Ref("direct")}, "ok"),
    "sync": ({}, "ok"),
    "search": ({"q": "hostile"}, "ok"),
    "push_event": ({"push": 999999999, "type": "opened"}, NF),  # no push ever reached p
}
# push_event is described in prose (the notification event), not in a table.
EXTRA_FIELDS = {"push_event": [{"name": "push", "optional": False, "type": "int", "min": 1,
                                "max": None},
                               {"name": "type", "optional": False, "type": "str",
                                "minlen": None, "maxlen": None}]}
# What 2^63-1 is answered, for int fields with no maximum: an id or a seq that does not
# exist is not_found; read and ack cap a seq at the last one; a reply_to must name an
# earlier event; history's bounds and search's filters just select nothing.
HUGE = {
    ("send", "conv"): NF, ("send", "reply_to"): BR, ("edit", "conv"): NF,
    ("edit", "seq"): NF, ("recall", "conv"): NF, ("recall", "seq"): NF,
    ("delete", "conv"): NF, ("delete", "seq"): NF, ("read", "conv"): NF, ("read", "seq"): "ok",
    ("ack", "conv"): NF, ("ack", "seq"): "ok", ("typing", "conv"): NF, ("history", "conv"): NF,
    ("history", "before"): "ok", ("history", "after"): "ok", ("search", "conv"): NF,
    ("search", "from"): "ok", ("search", "before"): "ok", ("search", "after"): "ok",
    ("push_event", "push"): NF,
}
# null on an optional field reads as "absent" (chat_arg_opt_int), except where a field
# is read by hand and null is refused as the wrong type: both are fair answers.
NULL_REFUSED = {("send", "mentions"), ("sync", "convs")}
# Fields whose documented lower bound is 0 although the table says only "integer":
# search's time bounds are milliseconds, where 0 is a time like any other.
LOWER = {("search", "before"): 0, ("search", "after"): 0}


def answer(code, re="h"):
    return ws_ok(re) if code == "ok" else ws_err(code, re)


def op_case(name, op, fields, code, auth=True, re="h", xfail=None):
    expect = answer(code, re)
    return Case("ws-op-%s-%s" % (op, name), ws_op, {"op": op, "fields": fields, "auth": auth},
                expect, xfail)


def with_field(base, name, value):
    out = dict(base)
    out[name] = value
    return out


def without(base, name):
    return {k: v for k, v in base.items() if k != name}


def derived_ws_cases(op, specs):
    base, base_answer = BASE[op]
    auth = op != "auth"
    cases = [op_case("valid", op, base, base_answer, auth)]
    for f in specs:
        name, kind = f["name"], f["type"]
        if not f["optional"]:
            cases.append(op_case(name + "-missing", op, without(base, name), BR, auth))
        for label, value in TYPE_VALUES.items():
            if label == OWN_TYPE[kind]:
                continue
            if label == "null" and f["optional"] and (op, name) not in NULL_REFUSED:
                code = base_answer
            else:
                code = BR
            cases.append(op_case("%s-%s" % (name, label), op, with_field(base, name, value), code,
                                 auth))
        if kind == "int":
            low = LOWER.get((op, name), f["min"])
            for v in sorted({low - 1, -1} if low >= 1 else {low - 1}):
                if v < low:
                    cases.append(op_case("%s-%d" % (name, v), op, with_field(base, name, v), BR,
                                         auth))
            if f["max"] is not None:
                cases.append(op_case("%s-max-plus-1" % name, op,
                                     with_field(base, name, f["max"] + 1), BR, auth))
                cases.append(op_case("%s-max" % name, op, with_field(base, name, f["max"]),
                                     base_answer, auth))
            if (op, name) in HUGE:
                cases.append(op_case(name + "-2^63-1", op, with_field(base, name, I63),
                                     HUGE[(op, name)], auth))
            cases.append(op_case(name + "-2^63", op, with_field(base, name, 1 << 63), BR, auth,
                                 re=None))
            cases.append(op_case(name + "-real-integral", op, with_field(base, name, 1.0), BR,
                                 auth))
        if kind == "str":
            if f["minlen"]:
                cases.append(op_case(name + "-too-short", op,
                                     with_field(base, name, "x" * (f["minlen"] - 1)), BR, auth))
            if f["maxlen"]:
                cases.append(op_case(name + "-too-long", op,
                                     with_field(base, name, "x" * (f["maxlen"] + 1)), BR, auth))
    cases.append(op_case("unknown-field-ignored", op, with_field(base, "zzz_unknown", [1, {}]),
                         base_answer, auth))
    return cases


def ws_cases():
    ops = documented_ops()
    ops.update(EXTRA_FIELDS)
    missing = sorted(set(ops) - set(BASE))
    assert not missing, ("docs/protocol.md documents ops the catalogue has no valid request "
                         "for (add them to BASE in %s): %s" % (__file__, missing))
    cases = []
    for op in sorted(ops):
        cases += derived_ws_cases(op, ops[op])
        if op != "auth":
            cases.append(op_case("before-auth", op, BASE[op][0], "unauthenticated", auth=False))
    return cases


def cmid_of(n):
    """A fresh cmid of exactly n bytes."""
    return Fresh(lambda: (unique_name("c") + "x" * n)[:n])


D = Ref("direct")
SEND = BASE["send"][0]
HAND_WS = [
    # -- the request envelope -------------------------------------------------------------
    op_case("id-missing", "ping", {"id": MISSING}, BR, re=None),
    op_case("id-null", "ping", {"id": None}, BR, re=None),
    op_case("id-negative-int-echoed", "ping", {"id": -5}, "ok", re=-5),
    op_case("id-zero-echoed", "ping", {"id": 0}, "ok", re=0),
    op_case("op-missing", "ping", {"op": MISSING}, BR),
    op_case("op-int", "ping", {"op": 1}, BR),
    op_case("op-null", "ping", {"op": None}, BR),
    op_case("op-empty", "ping", {"op": ""}, BR),
    op_case("op-65-bytes", "ping", {"op": "p" * 65}, BR),
    op_case("op-64-bytes-unknown", "ping", {"op": "p" * 64}, "unknown_op"),
    op_case("op-uppercase", "ping", {"op": "PING"}, "unknown_op"),
    op_case("op-trailing-space", "ping", {"op": "ping "}, "unknown_op"),
    op_case("op-unknown-before-auth", "ping", {"op": "drop_tables"}, "unauthenticated",
            auth=False),
    op_case("op-rest-only-action", "ping", {"op": "conv_create", "type": "group"}, "unknown_op"),
    op_case("op-admin-action", "ping", {"op": "admin_user_list"}, "unknown_op"),
    # -- auth ---------------------------------------------------------------------------
    op_case("token-empty", "auth", {"token": ""}, "unauthorized", auth=False),
    op_case("token-garbage", "auth", {"token": "' OR 1=1 --"}, "unauthorized", auth=False),
    op_case("token-64k", "auth", {"token": "t" * 65536}, "unauthorized", auth=False),
    op_case("token-unicode", "auth", {"token": "\u202e\U0001f600"}, "unauthorized", auth=False),
    op_case("again-when-authenticated", "auth", {"token": Ref("p_token")},
            "already_authenticated"),
    # -- send: bodies, mentions, reply_to, cmid -------------------------------------------
    op_case("body-empty-object", "send", with_field(SEND, "body", {}), BR),
    op_case("body-type-int", "send", with_field(SEND, "body", {"type": 5}), BR),
    op_case("body-type-null", "send", with_field(SEND, "body", {"type": None}), BR),
    op_case("body-file-zero", "send", with_field(SEND, "body", {"type": "file", "file": 0}), BR),
    op_case("body-file-string", "send", with_field(SEND, "body", {"type": "file", "file": "1"}),
            BR),
    op_case("body-file-real", "send", with_field(SEND, "body", {"type": "file", "file": 1.5}), BR),
    op_case("body-file-unknown", "send",
            with_field(SEND, "body", {"type": "file", "file": 999999999}), NF),
    op_case("body-over-64k", "send",
            with_field(SEND, "body", {"type": "text", "text": "b" * BODY_LIMIT}),
            "payload_too_large"),
    op_case("body-deep-nesting-inside", "send",
            with_field(SEND, "body", {"type": "text", "x": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}),
            "ok"),
    op_case("mentions-all", "send", with_field(SEND, "mentions", "all"), "ok"),
    op_case("mentions-everyone", "send", with_field(SEND, "mentions", "everyone"), BR),
    op_case("mentions-empty", "send", with_field(SEND, "mentions", []), "ok"),
    op_case("mentions-101", "send", with_field(SEND, "mentions", list(range(1, 102))), BR),
    op_case("mentions-strings", "send", with_field(SEND, "mentions", ["q"]), BR),
    op_case("mentions-reals", "send", with_field(SEND, "mentions", [1.5]), BR),
    op_case("mentions-zero", "send", with_field(SEND, "mentions", [0]), BR),
    op_case("mentions-nested", "send", with_field(SEND, "mentions", [[1]]), BR),
    op_case("reply-to-last-ok", "send", with_field(SEND, "reply_to", 1), "ok"),
    op_case("cmid-128-bytes", "send", with_field(SEND, "cmid", cmid_of(128)), "ok"),
    op_case("cmid-used-in-another-conv", "send",
            dict(SEND, conv=Ref("group"), cmid=Ref("p_cmid")), "cmid_conflict"),
    op_case("conv-of-others", "send", with_field(SEND, "conv", Ref("canary_conv")), NF),
    # -- edit, recall, delete ---------------------------------------------------------------
    op_case("someone-elses-message", "edit", with_field(BASE["edit"][0], "seq", Ref("q_seq")),
            "forbidden"),
    op_case("body-over-64k", "edit",
            with_field(BASE["edit"][0], "body", {"type": "text", "text": "b" * BODY_LIMIT}),
            "payload_too_large"),
    op_case("body-no-type", "edit", with_field(BASE["edit"][0], "body", {"text": "x"}), BR),
    op_case("seq-past-the-end", "recall", {"conv": D, "seq": 1000000}, NF),
    op_case("seq-past-the-end", "delete", {"conv": D, "seq": 1000000}, NF),
    op_case("again-is-fine", "delete", {"conv": D, "seq": Ref("q_seq")}, "ok"),
    op_case("seq-past-the-end-capped", "read", {"conv": D, "seq": 1000000}, "ok"),
    op_case("seq-past-the-end-capped", "ack", {"conv": D, "seq": 1000000}, "ok"),
    # -- history, sync, search ----------------------------------------------------------
    op_case("before-and-after", "history", {"conv": D, "before": 5, "after": 1}, BR),
    op_case("after-zero-ok", "history", {"conv": D, "after": 0}, "ok"),
    op_case("convs-key-not-a-number", "sync", {"convs": {"abc": 1}}, BR),
    op_case("convs-key-negative", "sync", {"convs": {"-1": 0}}, BR),
    op_case("convs-key-huge", "sync", {"convs": {"99999999999999999999999": 0}}, BR),
    op_case("convs-seq-negative", "sync", {"convs": {"1": -1}}, BR),
    op_case("convs-seq-string", "sync", {"convs": {"1": "0"}}, BR),
    op_case("convs-seq-null", "sync", {"convs": {"1": None}}, BR),
    op_case("convs-seq-2^63", "sync", {"convs": {"1": 1 << 63}}, BR, re=None),
    op_case("convs-unknown-conv-is-removed", "sync", {"convs": {"999999999": 0}}, "ok"),
    op_case("convs-10000-entries", "sync",
            {"convs": {str(1000000 + i): 0 for i in range(10000)}}, "ok"),
    op_case("q-empty", "search", {"q": ""}, BR),
    op_case("q-256-bytes", "search", {"q": "q" * 256}, "ok"),
    op_case("q-17-terms", "search", {"q": " ".join("t%d" % i for i in range(17))}, BR),
    op_case("q-16-terms", "search", {"q": " ".join("t%d" % i for i in range(16))}, "ok"),
    op_case("q-punctuation-only", "search", {"q": "!!! ???"}, BR),
    op_case("q-sql-and-fts-syntax", "search", {"q": "\" OR 1=1 -- NEAR( * ) ^"}, "ok"),
    op_case("conv-not-mine", "search", {"q": "x", "conv": Ref("canary_conv")}, NF),
    op_case("convs-key-with-space", "sync", {"convs": {Fmt(" %d", D): 0}}, BR),
    op_case("convs-key-with-plus", "sync", {"convs": {Fmt("+%d", D): 0}}, BR),
    op_case("convs-key-leading-zero", "sync", {"convs": {Fmt("0%d", D): 0}}, BR),
]


def ws_all():
    return ws_cases() + HAND_WS


# -- REST bodies, from docs/openapi.yaml -----------------------------------------------------

def _openapi():
    return yaml.safe_load((DOCS / "openapi.yaml").read_text(encoding="utf-8"))


def request_schema(doc, method, path):
    schemas = doc["components"]["schemas"]

    def res(s):
        while isinstance(s, dict) and "$ref" in s:
            s = schemas.get(s["$ref"].split("/")[-1], {})  # a dangling $ref: no type, skipped
        return s
    body = doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
    s = res(body["schema"])
    return s.get("required", []), {k: res(v) for k, v in s.get("properties", {}).items()}


def json_type(schema):
    """The field's JSON types, as TYPE_VALUES labels."""
    t = schema.get("type")
    types = t if isinstance(t, list) else [t] if t else []
    out = set()
    for x in types:
        out |= {"integer": {"int"}, "number": {"int", "float"}, "string": {"string"},
                "boolean": {"bool"}, "object": {"object"}, "array": {"array"},
                "null": {"null"}}[x]
    return out


R = Ref
# (method, path in openapi, path sent, as whom, a valid body, its answer or None when the
#  valid body itself must not be sent: it would create, log in or change what other
#  cases rely on), and per field the code its refusals get when it is not bad_request.
ROUTES = [
    ("POST", "/v1/auth/register", ["/v1/auth/register"], None,
     {"username": "hostile-never-made", "password": "correct-horse-battery"}, None,
     {"username": "invalid_username", "password": "weak_password"}),
    ("POST", "/v1/auth/login", ["/v1/auth/login"], None,
     {"username": "hostile-nobody", "password": "correct-horse-battery"}, None, {}),
    ("POST", "/v1/admin/users", ["/v1/admin/users"], "admin",
     {"username": "hostile-never-made", "password": "correct-horse-battery", "role": "user"}, None,
     {"username": "invalid_username", "password": "weak_password"}),
    ("PATCH", "/v1/admin/users/{id}", ["/v1/admin/users/", R("r_id")], "admin",
     {"display_name": "r"}, None, {}),
    ("POST", "/v1/admin/users/{id}/password", ["/v1/admin/users/", R("r_id"), "/password"], "admin",
     {"password": "correct-horse-battery"}, None, {"password": "weak_password"}),
    ("POST", "/v1/admin/api-keys", ["/v1/admin/api-keys"], "admin",
     {"name": "hostile", "scopes": ["push"]}, None, {}),
    ("PATCH", "/v1/admin/conversations/{id}", ["/v1/admin/conversations/", R("group")], "admin",
     {"message_retention_days": None}, http(200), {}),
    ("POST", "/v1/admin/holds", ["/v1/admin/holds"], "admin",
     {"reason": "hostile", "conv": R("group")}, None, {}),
    ("PATCH", "/v1/admin/app", ["/v1/admin/app"], "admin",
     {"file_retention_days": None}, http(200), {}),
    ("PUT", "/v1/me/notification-settings", ["/v1/me/notification-settings"], "p",
     {"private_previews": False}, http(200), {}),
    ("PUT", "/v1/push/categories/{name}", ["/v1/push/categories/hostile"], "admin",
     {"urgent": False}, http(200), {}),
    ("POST", "/v1/push", ["/v1/push"], "admin",
     # r has no device: even a push let through by mistake goes nowhere (loopback only)
     {"to": {"users": [R("r_id")]}, "notification": {"title": "t"}}, None, {}),
    ("POST", "/v1/push/{id}/events", ["/v1/push/999999999/events"], "p",
     {"type": "opened"}, http(404, NF), {}),
    ("PATCH", "/v1/conversations/{id}", ["/v1/conversations/", R("group")], "p",
     {"title": "hostile"}, http(200), {}),
    ("POST", "/v1/conversations/{id}/members", ["/v1/conversations/", R("group"), "/members"], "p",
     {"user": 999999999}, http(404, NF), {}),
    ("PATCH", "/v1/conversations/{id}/members/{user}",
     ["/v1/conversations/", R("group"), "/members/", R("q_id")], "p",
     {"role": "member"}, http(200), {}),
    ("POST", "/v1/conversations/{id}/owner", ["/v1/conversations/", R("group"), "/owner"], "p",
     {"user": 999999999}, http(404, NF), {}),
    ("POST", "/v1/conversations/{id}/messages", ["/v1/conversations/", R("direct"), "/messages"],
     "p", {"cmid": FRESH_CMID, "body": TEXT}, http(201), {}),
    # disabled: were one made by mistake, it is never sent anything
    ("POST", "/v1/admin/webhooks", ["/v1/admin/webhooks"], "admin",
     {"url": "https://hooks.example.com/hostile", "events": ["message.created"],
      "enabled": False}, None, {}),
]


def rest_case(name, route, body, expect, xfail=None):
    method, _, sent, who, _, _, _ = route
    return Case("rest-%s-%s" % (route_label(route), name), rest,
                {"method": method, "path": sent, "as": who, "body": body}, expect, xfail)


def route_label(route):
    return (route[0] + route[1].replace("/v1", "").replace("/", "-")
            .replace("{", "").replace("}", "")).lower()


def derived_rest_cases():
    doc = _openapi()
    cases = []
    for route in ROUTES:
        method, path, _, _, base, base_answer, codes = route
        required, props = request_schema(doc, method, path)
        if base_answer is not None:
            cases.append(rest_case("valid", route, base, base_answer))
        for name, schema in sorted(props.items()):
            types = json_type(schema)
            bad = http(400, codes.get(name, BR))
            if not types:
                continue  # a oneOf (user: id or name, quiet_hours...): hand-written cases
            if name in required:
                cases.append(rest_case(name + "-missing", route, without(base, name),
                                       http(400, BR)))
            for label, value in TYPE_VALUES.items():
                if label in types or (label == "int" and "float" in types):
                    continue
                if label == "null" and name not in required:
                    continue  # what null means for an optional field differs per route
                cases.append(rest_case("%s-%s" % (name, label), route,
                                       with_field(base, name, value), http(400, BR)))
            if "minimum" in schema:
                cases.append(rest_case(name + "-below-minimum", route,
                                       with_field(base, name, schema["minimum"] - 1), bad))
            if "maximum" in schema:
                cases.append(rest_case(name + "-above-maximum", route,
                                       with_field(base, name, schema["maximum"] + 1), bad))
            if schema.get("minLength"):
                cases.append(rest_case(name + "-too-short", route,
                                       with_field(base, name, "x" * (schema["minLength"] - 1)),
                                       bad))
            if schema.get("maxLength"):
                cases.append(rest_case(name + "-too-long", route,
                                       with_field(base, name, "x" * (schema["maxLength"] + 1)),
                                       bad))
            if "enum" in schema:
                cases.append(rest_case(name + "-not-in-enum", route,
                                       with_field(base, name, "not-an-option"), bad))
    return cases


# Derived cases pipitd is known to get wrong (outside what this catalogue may fix):
# name -> (reason, whether it takes pipitd down and so runs on a server of its own).
KNOWN = {}


def all_cases():
    cases = ws_all() + derived_rest_cases()
    names = {c.name for c in cases}
    stale = sorted(set(KNOWN) - names)
    assert not stale, "KNOWN names cases that no longer exist: %s" % stale
    for c in cases:
        if c.name in KNOWN:
            c.xfail, c.quarantine = KNOWN[c.name]
    return cases
