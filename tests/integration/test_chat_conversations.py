"""Conversations: direct and group creation, listing, membership, roles, mutes, cap.

Contract: docs/protocol.md and docs/openapi.yaml.
"""

import time

import pytest

from chatlib import (Chat, add_member, api, create_direct, create_group, ev, expect,
                     get_conv, list_convs, conv_in_list, member_of, members, new_cmid,
                     now_ms, patch_conv, patch_member, remove_member, rest_send,
                     all_events, text, transfer_owner, users)
from conftest import T

MEMBER_KEYS = {"user", "role", "muted_until", "read_seq", "delivered_seq", "joined_seq"}
CONV_KEYS = {"id", "type", "title", "avatar_url", "description", "announcement", "muted_all",
             "created_at", "created_by", "last_seq", "read_seq", "unread", "role",
             "member_count"}


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


def changes(e):
    """`changes` of a conv_updated event: the fields set, with their new values
    (docs/protocol.md, conv_updated event)."""
    assert isinstance(e.get("changes"), dict), e
    return e["changes"]


def roles(srv, user, cid):
    return {m["user"]["id"]: m["role"] for m in members(srv, user, cid)}


# -- direct ------------------------------------------------------------------------------

def test_direct_create_201_then_200_same_id(srv):
    a, b = users(srv, 2)
    c1 = create_direct(srv, a, b.id, status=201)
    assert CONV_KEYS <= set(c1), c1
    assert c1["type"] == "direct" and isinstance(c1["id"], int)
    # (more fields in `peer` are allowed: clients ignore fields they do not know)
    assert (c1["peer"]["id"], c1["peer"]["username"]) == (b.id, b.username)
    assert c1["member_count"] == 2
    assert c1["created_by"] == a.id
    assert abs(c1["created_at"] - now_ms()) < 60000
    c2 = create_direct(srv, a, b.id, status=200)
    assert c2["id"] == c1["id"]
    # by username, and from the other side: still the same conversation
    c3 = create_direct(srv, a, b.username, status=200)
    assert c3["id"] == c1["id"]
    c4 = create_direct(srv, b, a.id, status=200)
    assert c4["id"] == c1["id"]
    assert (c4["peer"]["id"], c4["peer"]["username"]) == (a.id, a.username)
    assert [c["id"] for c in list_convs(srv, a)].count(c1["id"]) == 1


def test_direct_create_by_username(srv):
    a, b = users(srv, 2)
    c = create_direct(srv, a, b.username, status=201)
    assert c["type"] == "direct" and c["peer"]["id"] == b.id
    assert create_direct(srv, b, a.username, status=200)["id"] == c["id"]


def test_direct_with_self_is_400(srv):
    (a,) = users(srv, 1)
    for peer in (a.id, a.username):
        r = api(srv, "POST", "/v1/conversations", a, {"type": "direct", "peer": peer})
        expect(r, 400, "bad_request")
    assert list_convs(srv, a) == []


def test_direct_unknown_peer_is_404(srv):
    (a,) = users(srv, 1)
    for peer in (987654321, "no-such-user-xyz"):
        r = api(srv, "POST", "/v1/conversations", a, {"type": "direct", "peer": peer})
        expect(r, 404, "not_found")
    assert list_convs(srv, a) == []


def test_direct_cannot_gain_or_lose_members(srv):
    a, b, c = users(srv, 3)
    d = create_direct(srv, a, b.id)
    add_member(srv, a, d["id"], c, status=403, code="forbidden")
    remove_member(srv, a, d["id"], b, status=403, code="forbidden")
    remove_member(srv, a, d["id"], a, status=403, code="forbidden")  # no leaving either
    patch_conv(srv, a, d["id"], {"title": "x"}, status=403, code="forbidden")
    patch_member(srv, a, d["id"], b, {"muted_until": now_ms() + 60000}, status=403,
                 code="forbidden")
    assert {m["user"]["id"] for m in members(srv, a, d["id"])} == {a.id, b.id}


# -- group -------------------------------------------------------------------------------

def test_group_create_with_members_and_title(srv):
    o, b, c = users(srv, 3)
    g = create_group(srv, o, [b.id, c.username], title="Climbing club",
                     description="weekend trips", announcement="bring ropes",
                     avatar_url="https://img.example/a.png")
    assert CONV_KEYS <= set(g), g
    assert g["type"] == "group"
    assert g["title"] == "Climbing club"
    assert g["description"] == "weekend trips"
    assert g["announcement"] == "bring ropes"
    assert g["avatar_url"] == "https://img.example/a.png"
    assert g["muted_all"] is False
    assert g["member_count"] == 3
    assert g["role"] == "owner"
    assert g["created_by"] == o.id
    assert "peer" not in g or g["peer"] is None
    one = get_conv(srv, o, g["id"])
    assert one["id"] == g["id"] and one["title"] == "Climbing club"
    ms = one["members"]
    for m in ms:
        assert MEMBER_KEYS <= set(m), m
    assert {m["user"]["id"]: m["role"] for m in ms} == {o.id: "owner", b.id: "member",
                                                          c.id: "member"}
    names = {m["user"]["id"]: m["user"]["username"] for m in ms}
    assert names[c.id] == c.username
    # members see it too, with their own role
    gb = conv_in_list(srv, b, g["id"])
    assert gb is not None and gb["role"] == "member" and gb["title"] == "Climbing club"
    assert get_conv(srv, c, g["id"])["role"] == "member"


def test_group_creation_timeline_is_gapless_from_1(srv):
    o, b, c = users(srv, 3)
    g = create_group(srv, o, [b, c])
    evs = all_events(srv, o, g["id"])
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1)), evs
    assert g["last_seq"] == len(evs) == get_conv(srv, o, g["id"])["last_seq"]
    for e in evs:
        assert {"ev", "conv", "seq", "id", "from", "ts"} <= set(e), e
        assert e["conv"] == g["id"]


def test_group_creation_is_one_conv_created_event(srv):
    """docs/protocol.md: creating a group is one `conv_created` event at seq 1 that every
    initial member sees (not one `joined` per member: that would be members² deliveries);
    every initial member's joined_seq is 1."""
    o, b, c = users(srv, 3)
    with Chat(srv, c) as w:
        g = create_group(srv, o, [b, c], title="trip")
        e = w.wait_event(ev("conv_created", g["id"]))
    assert (e["seq"], e["from"], e["type"], e["title"], e["member_count"]) == \
        (1, o.id, "group", "trip", 3), e
    for viewer in (o, b, c):
        evs = all_events(srv, viewer, g["id"])
        assert [x["ev"] for x in evs] == ["conv_created"], evs
        assert evs[0]["id"] == e["id"]
    js = {m["user"]["id"]: m["joined_seq"] for m in members(srv, o, g["id"])}
    assert js == {o.id: 1, b.id: 1, c.id: 1}, js
    # members added later start at their own `joined` event
    d = users(srv, 1)[0]
    joined = add_member(srv, o, g["id"], d)["joined_seq"]
    first = all_events(srv, d, g["id"])[0]
    assert (first["ev"], first["action"], first["user"], first["seq"]) == \
        ("member", "joined", d.id, joined), first


def test_list_has_seq_fields_unread_and_last_message(srv):
    a, b = users(srv, 2)
    d = create_direct(srv, a, b.id)
    rest_send(srv, b, d["id"], text("one"))
    last = rest_send(srv, b, d["id"], text("two"))
    c = conv_in_list(srv, a, d["id"])
    assert c is not None
    assert CONV_KEYS <= set(c), c
    assert c["last_seq"] == last["seq"]
    assert c["read_seq"] == 0
    assert c["unread"] == 2
    lm = c["last_message"]
    assert lm["ev"] == "message" and lm["seq"] == last["seq"] and lm["from"] == b.id
    assert lm["body"] == text("two") and lm["id"] == last["id"]
    # the sender's own messages are not unread for the sender
    cb = conv_in_list(srv, b, d["id"])
    assert cb["unread"] == 0


def test_list_is_ordered_by_last_activity(srv):
    a, b = users(srv, 2)
    g1 = create_group(srv, a, [b], title="first")
    g2 = create_group(srv, a, [b], title="second")
    time.sleep(0.01)
    rest_send(srv, b, g1["id"], text("bump g1"))
    ids = [c["id"] for c in list_convs(srv, a)]
    assert ids.index(g1["id"]) < ids.index(g2["id"]), ids
    time.sleep(0.01)
    rest_send(srv, b, g2["id"], text("bump g2"))
    ids = [c["id"] for c in list_convs(srv, a)]
    assert ids.index(g2["id"]) < ids.index(g1["id"]), ids


def test_get_one_includes_members(srv):
    o, b = users(srv, 2)
    g = create_group(srv, o, [b])
    one = get_conv(srv, b, g["id"])
    assert one["role"] == "member"
    assert {m["user"]["id"] for m in one["members"]} == {o.id, b.id}
    listed = members(srv, b, g["id"])
    assert {m["user"]["id"] for m in listed} == {o.id, b.id}
    for m in listed:
        assert MEMBER_KEYS <= set(m), m
        assert m["muted_until"] == 0, m
        assert isinstance(m["joined_seq"], int) and m["joined_seq"] >= 1


def test_get_unknown_conversation_is_404(srv):
    (a,) = users(srv, 1)
    expect(api(srv, "GET", "/v1/conversations/987654321", a), 404, "not_found")


# -- PATCH -------------------------------------------------------------------------------

def test_patch_by_owner_and_admin_not_member(srv):
    o, adm, m = users(srv, 3)
    g = create_group(srv, o, [adm, m], title="old")
    patch_member(srv, o, g["id"], adm, {"role": "admin"})
    with Chat(srv, m) as ws:
        before = get_conv(srv, o, g["id"])["last_seq"]
        c = patch_conv(srv, o, g["id"], {"title": "new", "description": "d",
                                          "announcement": "ann", "avatar_url": "https://x/y.png"})
        assert (c["title"], c["description"], c["announcement"], c["avatar_url"]) == (
            "new", "d", "ann", "https://x/y.png")
        e = ws.wait_event(ev("conv_updated", g["id"]))
        assert e["seq"] == before + 1 and e["from"] == o.id
        assert changes(e) == {"title": "new", "description": "d", "announcement": "ann",
                              "avatar_url": "https://x/y.png"}, e
    c = patch_conv(srv, adm, g["id"], {"title": "by admin"})
    assert c["title"] == "by admin"
    patch_conv(srv, m, g["id"], {"title": "by member"}, status=403, code="forbidden")
    patch_conv(srv, m, g["id"], {"muted_all": True}, status=403, code="forbidden")
    got = get_conv(srv, o, g["id"])
    assert got["title"] == "by admin" and got["muted_all"] is False
    hist = [e for e in all_events(srv, o, g["id"]) if e["ev"] == "conv_updated"]
    assert len(hist) == 2, hist


# -- add / kick / leave ------------------------------------------------------------------

def test_add_member_emits_joined_event_with_seq(srv):
    o, b, d = users(srv, 3)
    g = create_group(srv, o, [b])
    with Chat(srv, b) as wb:
        before = get_conv(srv, o, g["id"])["last_seq"]
        m = add_member(srv, o, g["id"], d, status=201)
        assert m["user"]["id"] == d.id and m["role"] == "member"
        assert m["joined_seq"] == before + 1
        e = wb.wait_event(ev("member", g["id"], action="joined", user=d.id))
        assert e["seq"] == before + 1 and e["from"] == o.id and e["role"] == "member"
    assert get_conv(srv, o, g["id"])["last_seq"] == before + 1
    assert get_conv(srv, o, g["id"])["member_count"] == 3
    assert conv_in_list(srv, d, g["id"]) is not None
    # add by username works too
    (e2,) = users(srv, 1)
    assert add_member(srv, o, g["id"], e2.username)["user"]["id"] == e2.id


def test_add_member_needs_admin_and_known_user(srv):
    o, b, d = users(srv, 3)
    g = create_group(srv, o, [b])
    add_member(srv, b, g["id"], d, status=403, code="forbidden")
    add_member(srv, o, g["id"], 987654321, status=404, code="not_found")
    assert {m["user"]["id"] for m in members(srv, o, g["id"])} == {o.id, b.id}
    patch_member(srv, o, g["id"], b, {"role": "admin"})
    add_member(srv, b, g["id"], d, status=201)


def test_kick_rules_by_rank(srv):
    o, a1, a2, m1, m2, m3 = users(srv, 6)
    g = create_group(srv, o, [a1, a2, m1, m2, m3])
    cid = g["id"]
    patch_member(srv, o, cid, a1, {"role": "admin"})
    patch_member(srv, o, cid, a2, {"role": "admin"})
    remove_member(srv, m1, cid, m2, status=403, code="forbidden")   # member over member
    remove_member(srv, a1, cid, a2, status=403, code="forbidden")   # admin over admin
    remove_member(srv, a1, cid, o, status=403, code="forbidden")    # admin over owner
    assert len(members(srv, o, cid)) == 6
    with Chat(srv, m3) as w:
        before = get_conv(srv, o, cid)["last_seq"]
        remove_member(srv, a1, cid, m1)                              # admin kicks member
        e = w.wait_event(ev("member", cid, action="removed", user=m1.id))
        assert e["seq"] == before + 1 and e["from"] == a1.id
    remove_member(srv, o, cid, a2)                                   # owner kicks admin
    assert {m["user"]["id"] for m in members(srv, o, cid)} == {o.id, a1.id, m2.id, m3.id}
    expect(api(srv, "GET", "/v1/conversations/%d" % cid, m1), 404, "not_found")
    assert conv_in_list(srv, m1, cid) is None
    assert conv_in_list(srv, a2, cid) is None


def test_leave_self(srv):
    o, b, c = users(srv, 3)
    g = create_group(srv, o, [b, c])
    with Chat(srv, c) as w:
        before = get_conv(srv, o, g["id"])["last_seq"]
        remove_member(srv, b, g["id"], b)
        e = w.wait_event(ev("member", g["id"], action="left", user=b.id))
        assert e["seq"] == before + 1 and e["from"] == b.id
    expect(api(srv, "GET", "/v1/conversations/%d" % g["id"], b), 404, "not_found")
    assert conv_in_list(srv, b, g["id"]) is None
    assert get_conv(srv, o, g["id"])["member_count"] == 2


def test_member_path_takes_a_username(srv):
    o, b, c = users(srv, 3)
    g = create_group(srv, o, [b, c])
    r = api(srv, "PATCH", "/v1/conversations/%d/members/%s" % (g["id"], b.username), o,
            {"role": "admin"})
    assert expect(r, 200)["user"]["id"] == b.id
    r = api(srv, "DELETE", "/v1/conversations/%d/members/%s" % (g["id"], c.username), c)
    expect(r, 204)
    assert {m["user"]["id"] for m in members(srv, o, g["id"])} == {o.id, b.id}


def test_owner_cannot_leave_before_transfer(srv):
    o, b = users(srv, 2)
    g = create_group(srv, o, [b])
    remove_member(srv, o, g["id"], o, status=403, code="forbidden")
    assert get_conv(srv, o, g["id"])["role"] == "owner"
    transfer_owner(srv, o, g["id"], b)
    remove_member(srv, o, g["id"], o)
    expect(api(srv, "GET", "/v1/conversations/%d" % g["id"], o), 404, "not_found")
    assert get_conv(srv, b, g["id"])["role"] == "owner"


# -- roles / owner -----------------------------------------------------------------------

def test_role_change_owner_only(srv):
    o, b, c, d = users(srv, 4)
    g = create_group(srv, o, [b, c, d])
    cid = g["id"]
    with Chat(srv, c) as w:
        before = get_conv(srv, o, cid)["last_seq"]
        m = patch_member(srv, o, cid, b, {"role": "admin"})
        assert m["role"] == "admin" and m["user"]["id"] == b.id
        e = w.wait_event(ev("member", cid, action="role", user=b.id))
        assert e["role"] == "admin" and e["seq"] == before + 1 and e["from"] == o.id
    # an admin cannot change roles, neither can a member
    patch_member(srv, b, cid, c, {"role": "admin"}, status=403, code="forbidden")
    patch_member(srv, c, cid, d, {"role": "admin"}, status=403, code="forbidden")
    assert roles(srv, o, cid) == {o.id: "owner", b.id: "admin", c.id: "member",
                                  d.id: "member"}
    patch_member(srv, o, cid, b, {"role": "member"})
    assert roles(srv, o, cid)[b.id] == "member"


def test_owner_transfer(srv):
    o, b, c, outsider = users(srv, 4)
    g = create_group(srv, o, [b, c])
    cid = g["id"]
    transfer_owner(srv, b, cid, c, status=403, code="forbidden")   # not the owner
    transfer_owner(srv, o, cid, outsider, status=404, code="not_found")  # must be a member
    assert roles(srv, o, cid)[o.id] == "owner"
    with Chat(srv, c) as w:
        conv = transfer_owner(srv, o, cid, b)
        assert conv["id"] == cid
        e = w.wait_event(ev("conv_updated", cid))
        assert changes(e) == {"owner": b.id}, e
    assert roles(srv, o, cid) == {o.id: "admin", b.id: "owner", c.id: "member"}
    assert get_conv(srv, b, cid)["role"] == "owner"
    # the new owner has the owner's powers, the old one only an admin's
    patch_member(srv, b, cid, c, {"role": "admin"})
    patch_member(srv, o, cid, c, {"role": "member"}, status=403, code="forbidden")


# -- mutes -------------------------------------------------------------------------------

def test_mute_member_until_time(srv):
    o, b, c = users(srv, 3)
    g = create_group(srv, o, [b, c])
    cid = g["id"]
    until = now_ms() + 600000
    with Chat(srv, c) as w, Chat(srv, b) as wb:
        m = patch_member(srv, o, cid, b, {"muted_until": until})
        assert m["muted_until"] == until
        e = w.wait_event(ev("member", cid, action="muted", user=b.id))
        assert e["until"] == until and isinstance(e["seq"], int)
        seq_before = get_conv(srv, o, cid)["last_seq"]
        assert wb.err("send", conv=cid, cmid=new_cmid(), body=text("shh")) == "muted"
        rest_send(srv, b, cid, text("shh"), status=403, code="muted")
        assert get_conv(srv, o, cid)["last_seq"] == seq_before
        # a muted member still reads
        assert wb.history(cid)["events"]
        # a member cannot mute, nor unmute
        patch_member(srv, c, cid, b, {"muted_until": 0}, status=403, code="forbidden")
        m = patch_member(srv, o, cid, b, {"muted_until": 0})
        assert m["muted_until"] == 0
        e = w.wait_event(ev("member", cid, action="muted", user=b.id))
        assert e["until"] == 0
        wb.send_msg(cid, text("free again"))


def test_member_cannot_change_own_role_or_mute(srv):
    """A plain member has no right to change roles (owner only) or mutes (actor rank must
    be above the target's): forbidden also when the target is themselves."""
    o, m = users(srv, 2)
    g = create_group(srv, o, [m])
    cid = g["id"]
    patch_member(srv, m, cid, m, {"role": "admin"}, status=403, code="forbidden")
    patch_member(srv, o, cid, m, {"muted_until": now_ms() + 600000})
    patch_member(srv, m, cid, m, {"muted_until": 0}, status=403, code="forbidden")
    assert roles(srv, o, cid)[m.id] == "member"
    assert member_of(srv, o, cid, m.id)["muted_until"] > now_ms()


def test_mute_expires(srv):
    o, b = users(srv, 2)
    g = create_group(srv, o, [b])
    cid = g["id"]
    patch_member(srv, o, cid, b, {"muted_until": now_ms() + int(T(0.8) * 1000)})
    rest_send(srv, b, cid, status=403, code="muted")
    time.sleep(T(0.8) + 0.3)
    rest_send(srv, b, cid, status=201)


def test_mute_rank_rules(srv):
    o, a1, a2, m = users(srv, 4)
    g = create_group(srv, o, [a1, a2, m])
    cid = g["id"]
    patch_member(srv, o, cid, a1, {"role": "admin"})
    patch_member(srv, o, cid, a2, {"role": "admin"})
    until = now_ms() + 600000
    patch_member(srv, a1, cid, o, {"muted_until": until}, status=403, code="forbidden")
    patch_member(srv, a1, cid, a2, {"muted_until": until}, status=403, code="forbidden")
    patch_member(srv, a1, cid, m, {"muted_until": until})
    patch_member(srv, o, cid, a2, {"muted_until": until})
    mu = {x["user"]["id"]: x["muted_until"] for x in members(srv, o, cid)}
    assert mu[m.id] == until and mu[a2.id] == until
    assert mu[o.id] == 0 and mu[a1.id] == 0
    rest_send(srv, a2, cid, status=403, code="muted")  # a muted admin is muted too


def test_mute_all(srv):
    o, adm, m = users(srv, 3)
    g = create_group(srv, o, [adm, m])
    cid = g["id"]
    patch_member(srv, o, cid, adm, {"role": "admin"})
    with Chat(srv, m) as wm:
        c = patch_conv(srv, adm, cid, {"muted_all": True})
        assert c["muted_all"] is True
        e = wm.wait_event(ev("conv_updated", cid))
        assert changes(e) == {"muted_all": True}, e
        before = get_conv(srv, o, cid)["last_seq"]
        assert wm.err("send", conv=cid, cmid=new_cmid(), body=text("x")) == "muted"
        rest_send(srv, m, cid, status=403, code="muted")
        assert get_conv(srv, o, cid)["last_seq"] == before
        rest_send(srv, adm, cid, text("admins still talk"))
        rest_send(srv, o, cid, text("owners too"))
        assert get_conv(srv, m, cid)["muted_all"] is True
        patch_conv(srv, o, cid, {"muted_all": False})
        wm.send_msg(cid, text("back"))


# -- member cap --------------------------------------------------------------------------

def test_member_cap(server_factory):
    s = server_factory("--registration", "open", "--max-group-members", "3")
    o, b, c, d, e = users(s, 5)
    g = create_group(s, o, [b, c])
    assert g["member_count"] == 3
    before = get_conv(s, o, g["id"])["last_seq"]
    add_member(s, o, g["id"], d, status=409, code="member_limit")
    assert get_conv(s, o, g["id"])["member_count"] == 3
    assert get_conv(s, o, g["id"])["last_seq"] == before
    r = api(s, "POST", "/v1/conversations", o,
            {"type": "group", "title": "too big", "members": [b.id, c.id, d.id]})
    expect(r, 409, "member_limit")
    assert len(list_convs(s, o)) == 1
    # room again after someone leaves
    remove_member(s, c, g["id"], c)
    add_member(s, o, g["id"], d, status=201)
    add_member(s, o, g["id"], e, status=409, code="member_limit")
    # the cap is for groups only: direct conversations still work
    create_direct(s, d, e.id)


def test_member_cap_flag_with_underscores(server_factory):
    s = server_factory("--registration", "open", "--max_group_members", "2")
    o, b, c = users(s, 3)
    g = create_group(s, o, [b])
    add_member(s, o, g["id"], c, status=409, code="member_limit")


# -- live membership and races -------------------------------------------------------------

def test_added_member_gets_live_events_at_once_and_kicked_stops(srv):
    o, b, d = users(srv, 3)
    g = create_group(srv, o, [b])
    cid = g["id"]
    with Chat(srv, d) as wd, Chat(srv, b) as wb:
        add_member(srv, o, cid, d)
        e = wd.wait_event(ev("member", cid, action="joined", user=d.id))
        x = rest_send(srv, o, cid, text("welcome d"))
        wd.wait_event(ev("message", cid, seq=x["seq"]))
        remove_member(srv, o, cid, d)
        e = wd.wait_event(ev("member", cid, action="removed", user=d.id))
        assert e["from"] == o.id
        y = rest_send(srv, o, cid, text("d is gone"))
        with Chat(srv, o) as wo:
            wo.ok("typing", conv=cid)
        wb.wait_event(ev("message", cid, seq=y["seq"]))
        wd.no_event(lambda e: e.get("conv") == cid)


def test_concurrent_direct_creation_gives_one_conversation(srv):
    import concurrent.futures
    a, b = users(srv, 2)

    def create(args):
        who, peer = args
        r = api(srv, "POST", "/v1/conversations", who, {"type": "direct", "peer": peer})
        return r.status_code, r.json().get("id")
    jobs = [(a, b.id), (b, a.id)] * 5
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as ex:
        got = list(ex.map(create, jobs))
    assert {i for _, i in got} == {got[0][1]}, got
    assert sorted(st for st, _ in got) == [200] * 9 + [201], got
    assert [c["id"] for c in list_convs(srv, a)] == [got[0][1]]


def test_concurrent_adds_respect_the_member_cap(server_factory):
    import concurrent.futures
    s = server_factory("--registration", "open", "--max-group-members", "4")
    us = users(s, 9)
    o = us[0]
    g = create_group(s, o, [us[1]])
    with concurrent.futures.ThreadPoolExecutor(max_workers=7) as ex:
        codes = list(ex.map(
            lambda u: api(s, "POST", "/v1/conversations/%d/members" % g["id"], o,
                          {"user": u.id}).status_code, us[2:]))
    assert sorted(codes) == [201, 201] + [409] * 5, codes
    assert get_conv(s, o, g["id"])["member_count"] == 4
    assert len(members(s, o, g["id"])) == 4
    evs = all_events(s, o, g["id"])
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
