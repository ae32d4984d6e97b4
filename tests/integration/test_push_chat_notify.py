"""Chat messages notify members who have no session open, through their devices.

Members with a WebSocket open get the message itself and no notification; the sender
never gets one; a member who muted the conversation gets none; private previews (the
user's choice, or the server's `chat_notifications private`) carry no content; and
`chat_notifications off` sends none. Devices are FakeWebPush subscriptions, so each
notification is decrypted and its VAPID checked.
"""

import time

import pytest

from chatlib import Chat, api, create_direct, create_group, expect, users
from conftest import T
from fake_webpush import FakeWebPush

FLAGS = ("--push-allow-http", "yes", "--push-allow-private", "yes",
         "--push-retry-base", "100ms")


@pytest.fixture
def fake():
    f = FakeWebPush().start()
    yield f
    f.stop()


def start(server_factory, fake, *extra):
    s = server_factory.new(*(FLAGS + extra))
    fake.set_vapid_key(expect(s.get("/v1/push/vapid-public-key"), 200)["key"])
    return s


def device(srv, fake, user):
    sub = fake.subscribe()
    expect(api(srv, "POST", "/v1/devices", user, dict(sub, platform="webpush")), 201)
    return fake.sid(sub["endpoint"])


def say(srv, user, conv, text, cmid=None):
    body = {"cmid": cmid or "m%d" % time.monotonic_ns(), "body": {"type": "text", "text": text}}
    return expect(api(srv, "POST", "/v1/conversations/%d/messages" % conv, user, body), 201)


def settle():
    time.sleep(0.6)  # long enough for a notification that should not come to arrive


def test_offline_peer_gets_sender_and_text(server_factory, fake):
    s = start(server_factory, fake)
    alice, bob = users(s, 2)
    sid = device(s, fake, bob)
    conv = create_direct(s, alice, bob.id)["id"]
    sent = say(s, alice, conv, "lunch at noon?")
    (msg,) = fake.wait_accepted(1, T(10))
    assert msg.sid == sid
    assert msg.json["title"] == alice.username
    assert msg.json["body"] == "lunch at noon?"
    assert msg.json["category"] == "chat" and msg.json["priority"] == "high"
    assert msg.json["data"] == {"conv": conv, "seq": sent["seq"]}
    assert fake.rejected == []


def test_online_member_and_sender_get_none(server_factory, fake):
    s = start(server_factory, fake)
    alice, bob = users(s, 2)
    device(s, fake, alice)
    device(s, fake, bob)
    conv = create_direct(s, alice, bob.id)["id"]
    with Chat(s, bob):
        say(s, alice, conv, "you are here")
        settle()
    assert fake.requests == 0


def test_group_notification_names_group_and_sender(server_factory, fake):
    s = start(server_factory, fake)
    owner, a, b = users(s, 3)
    device(s, fake, a)
    device(s, fake, b)
    conv = create_group(s, owner, [a, b], title="Ward 7")["id"]
    with Chat(s, a):
        say(s, owner, conv, "shift change at 7")
        (msg,) = fake.wait_accepted(1, T(10))
        settle()
    assert len(fake.accepted) == 1, "only b has no session"
    assert msg.json["title"] == "Ward 7"
    assert msg.json["body"] == "%s: shift change at 7" % owner.username


def test_long_text_is_cut_at_a_character_boundary(server_factory, fake):
    s = start(server_factory, fake)
    alice, bob = users(s, 2)
    device(s, fake, bob)
    conv = create_direct(s, alice, bob.id)["id"]
    say(s, alice, conv, "汉" * 100)  # 300 bytes of UTF-8
    (msg,) = fake.wait_accepted(1, T(10))
    assert msg.json["body"] == "汉" * 40 + "…"


def test_other_message_types_say_what_was_sent(server_factory, fake):
    s = start(server_factory, fake)
    alice, bob = users(s, 2)
    device(s, fake, bob)
    conv = create_direct(s, alice, bob.id)["id"]
    up = s.post("/v1/files", token=alice.token, params={"name": "report.pdf"}, data=b"%PDF-1.4 x")
    file_id = expect(up, 201)["id"]
    bodies = [
        ({"type": "image", "file": file_id}, "Photo"),
        ({"type": "file", "file": file_id, "name": "report.pdf"}, "File: report.pdf"),
        ({"type": "voice", "file": file_id}, "Voice message"),
        ({"type": "sticker", "id": "cat-1"}, "[sticker]"),
    ]
    for i, (body, _) in enumerate(bodies):
        expect(api(s, "POST", "/v1/conversations/%d/messages" % conv, alice,
                   {"cmid": "other%d" % i, "body": body}), 201)
    got = sorted(m.json["body"] for m in fake.wait_accepted(len(bodies), T(10)))
    assert got == sorted(said for _, said in bodies)


def test_muted_conversation_gets_none_and_others_still_do(server_factory, fake):
    s = start(server_factory, fake)
    alice, bob = users(s, 2)
    device(s, fake, bob)
    muted = create_direct(s, alice, bob.id)["id"]
    group = create_group(s, alice, [bob], title="g")["id"]
    expect(api(s, "PUT", "/v1/me/notification-settings", bob,
               {"muted_conversations": [muted]}), 200)
    say(s, alice, muted, "quiet please")
    say(s, alice, group, "loud")
    (msg,) = fake.wait_accepted(1, T(10))
    settle()
    assert len(fake.accepted) == 1 and msg.json["body"].endswith("loud")


def test_private_previews_carry_no_content(server_factory, fake):
    s = start(server_factory, fake)
    alice, bob, carol = users(s, 3)
    device(s, fake, bob)
    device(s, fake, carol)
    expect(api(s, "PUT", "/v1/me/notification-settings", bob, {"private_previews": True}), 200)
    conv = create_group(s, alice, [bob, carol], title="Board")["id"]
    sent = say(s, alice, conv, "merger is off")
    msgs = fake.wait_accepted(2, T(10))
    by_user = {m.sid: m.json for m in msgs}
    texts = [j for j in by_user.values() if "merger" in j["body"]]
    private = [j for j in by_user.values() if "merger" not in j["body"]]
    assert len(texts) == 1 and len(private) == 1
    p = private[0]
    assert p["title"] == "New message" and "Board" not in str(p) and alice.username not in str(p)
    assert p["data"] == {"conv": conv, "seq": sent["seq"]}


def test_server_wide_private_mode(server_factory, fake):
    s = start(server_factory, fake, "--chat-notifications", "private")
    alice, bob = users(s, 2)
    device(s, fake, bob)
    conv = create_direct(s, alice, bob.id)["id"]
    say(s, alice, conv, "secret")
    (msg,) = fake.wait_accepted(1, T(10))
    assert msg.json["title"] == "New message" and "secret" not in str(msg.json)


def test_notifications_off(server_factory, fake):
    s = start(server_factory, fake, "--chat-notifications", "off")
    alice, bob = users(s, 2)
    device(s, fake, bob)
    conv = create_direct(s, alice, bob.id)["id"]
    say(s, alice, conv, "anyone?")
    settle()
    assert fake.requests == 0


def test_chat_category_can_be_turned_off(server_factory, fake):
    s = start(server_factory, fake)
    alice, bob = users(s, 2)
    device(s, fake, bob)
    expect(api(s, "PUT", "/v1/me/notification-settings", bob,
               {"categories": {"chat": False}}), 200)
    conv = create_direct(s, alice, bob.id)["id"]
    say(s, alice, conv, "hello?")
    settle()
    assert fake.requests == 0


def test_a_resent_message_notifies_once(server_factory, fake):
    s = start(server_factory, fake)
    alice, bob = users(s, 2)
    device(s, fake, bob)
    conv = create_direct(s, alice, bob.id)["id"]
    first = say(s, alice, conv, "once", cmid="same")
    body = {"cmid": "same", "body": {"type": "text", "text": "once"}}
    again = expect(api(s, "POST", "/v1/conversations/%d/messages" % conv, alice, body), 200)
    assert again["seq"] == first["seq"]
    fake.wait_accepted(1, T(10))
    settle()
    assert len(fake.accepted) == 1


def test_chat_notifications_stay_out_of_the_push_api(server_factory, fake):
    """They hold message text: neither listed nor readable by id by business servers."""
    s = start(server_factory, fake)
    alice, bob = users(s, 2)
    device(s, fake, bob)
    conv = create_direct(s, alice, bob.id)["id"]
    say(s, alice, conv, "hi")
    (msg,) = fake.wait_accepted(1, T(10))
    body = expect(s.get("/v1/push", token=s.admin_token()), 200)
    assert body["pushes"] == []
    r = s.get("/v1/push/%d" % msg.json["push"], token=s.admin_token())
    assert r.status_code == 404, r.text


def test_big_group_notifies_only_offline_members(server_factory, fake):
    """Above 32 members the presence check moves into the expansion."""
    s = start(server_factory, fake)
    owner, *rest = users(s, 40)
    sids = {m.id: device(s, fake, m) for m in rest}
    conv = create_group(s, owner, rest, title="all hands")["id"]
    online = rest[:5]
    socks = [Chat(s, m) for m in online]
    try:
        for c in socks:
            c.__enter__()
        say(s, owner, conv, "town hall at 3")
        fake.wait_accepted(34, T(15))
        settle()
    finally:
        for c in socks:
            c.__exit__(None, None, None)
    got = sorted(m.sid for m in fake.accepted)
    assert got == sorted(sids[m.id] for m in rest[5:])
