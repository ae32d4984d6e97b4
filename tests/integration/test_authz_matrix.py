"""The authorization matrix (issue 7, "Hardening"): every REST route and WebSocket op,
run as every kind of caller, against what a secure server must answer.

`EXPECT` (routes) and `OPS_EXPECT` (WebSocket ops) are the table: one row per route,
keyed by (METHOD, path template as `pipitd --print-routes` spells it), or by op name;
a row may have variants, keyed (METHOD, path, variant) or (op, variant), for another
target of the same route (a direct conversation instead of the group, an admin
instead of a user...). Each row gives the outcome per role: "ok" (2xx, or 101 for the
upgrade) or "STATUS code" (REST), an error code (WebSocket). `BUILD` and `WS_BUILD` make
each cell's request with valid arguments for the role, so that the answer shows the
authorization decision and not a validation error. `test_every_route_and_op_has_a_row`
loads the server's own route and op tables: a new route or op without a row fails it.

The cast (one server for the module):

- owner, gadmin, member of group G; late (a member added after G's secret message and
  its file: the timeline and the file from before are not theirs to see); kicked (a
  member removed after the secret message, its file and a message of their own);
  nonmember (in the direct conversation D with member, never in G); user (no
  conversation at all);
- admin (the app's initial admin), admin2 (another admin of the app: the target of the
  "admin-target" variants, where a `users` key must be refused);
- other_admin: an admin of a second app. No API or `pipit` command makes an app, so it
  is made the way the files tests do (fileslib.move_user_to_new_app: the user and its
  sessions are moved into app 2 in the store, before any of its tokens was used);
  other_key is an admin-scoped API key of that app;
- key_push, key_users, key_admin: API keys of app 1 with that scope; key_revoked one
  that was revoked; badtoken a token that never existed; loggedout one that was logged
  out; anon sends no Authorization at all;
- victim (the target of admin operations on accounts; its sessions are ended often),
  loginee (logged in by every login cell, owner of "someone else's" devices and
  sessions, the user added to groups), xref (the app-1 user app 2's callers aim at).

A bot (signed in by its own API key) is no role here: it is a user wherever a user may
go, never an admin (test_bots.py); the bot routes are the admins'. The server has a TURN
secret, so that GET /v1/turn answers its users.

Every answer that succeeds is also checked for leaks: the secret word of G's message
and file (`zqgsecret`) must reach only G's members, D's (`zqdsecret`) only D's, and no
answer to app 2's callers may name anything of app 1 (whose names all hold `qqazm`, but
xref's). Some rows check more: the answer holds what the role must see, a refused
request left someone else's session or device alone, a push reached only its app.

Destructive cells act on throwaway objects made for the cell (groups with the same
roles, conversations, users, keys, devices, sessions), or, for the /v1/me routes, on
the caller's own account in a way later cells survive (a password "changed" to itself,
whose new token replaces the old); an app's single before-send hook or assistant is made
for the cell (in both apps) and checked after it. Calls live in the server's memory: each
call cell has its own group and call, left to ring out. Logins cost an Argon2 hash: each
cast member logs in once; more sessions are made only where a cell ends one. Rows run in table order; the
self rows of other_admin need that (its spare sessions, made before the move, cannot
be made again: login knows only the default app).

A cell where the server answers otherwise than it should is marked xfail("BUG: ...").
"""

import concurrent.futures
import inspect
import json
import re
import sqlite3

import pytest

from chatlib import Chat, new_cmid, now_ms, text
from conftest import PASSWORD, T, User, error_code, poll_until, run_pipitd, unique
from fileslib import move_user_to_new_app, png
from mfalib import Codes
from wsraw import WSConn, try_handshake

OK = "ok"
E401 = "401 unauthorized"
E403 = "403 forbidden"
E404 = "404 not_found"

NO_CRED = ("anon", "badtoken", "loggedout", "key_revoked")
APP_USERS = ("user", "member", "late", "nonmember", "kicked", "gadmin", "owner")
ADMINS = ("admin", "other_admin")
USER_ROLES = APP_USERS + ADMINS
KEYS = ("key_push", "key_users", "key_admin", "other_key")
KEY_SCOPE = {"key_push": "push", "key_users": "users", "key_admin": "admin", "other_key": "admin"}
ROLES = ("anon", "badtoken", "loggedout") + USER_ROLES + KEYS + ("key_revoked",)
OTHER_APP = ("other_admin", "other_key")
IN_G = ("owner", "gadmin", "member", "late")   # G's members now
SEES_G = ("owner", "gadmin", "member")         # ... who were there for its secret and file
PLAIN = ("member", "late")                     # G's plain members
IN_D = ("member", "nonmember")

APP1 = b"qqazm"           # in every name made in app 1
G_SECRET = b"zqgsecret"   # in G's message and its file's name
D_SECRET = b"zqdsecret"   # in D's message and its file's name


class Bug:
    """A cell where the server is wrong: `want` is what it should answer."""

    def __init__(self, want, why):
        assert why.startswith("BUG: "), why
        self.want = want
        self.why = why


# -- rows --------------------------------------------------------------------------------

def everyone():
    """A route that needs no credentials (a sent one is ignored)."""
    return {r: OK for r in ROLES}


def signed_in(users=OK, **over):
    """A route for a user's session: no credential 401, an API key 403 (a key is not a user)."""
    d = {r: E401 for r in NO_CRED}
    d.update({r: users for r in USER_ROLES})
    d.update({r: E403 for r in KEYS})
    d.update(over)
    return d


def admin_route(scopes, other=OK, **over):
    """The admin role, or a key holding one of `scopes` (the admin scope holds them all).
    `other`: what app 2's admin and key get (ok for the app's own things, 404 for a
    target in app 1)."""
    d = {r: E401 for r in NO_CRED}
    d.update({r: E403 for r in APP_USERS})
    d["admin"] = OK
    for k in ("key_push", "key_users", "key_admin"):
        d[k] = OK if KEY_SCOPE[k] in scopes or KEY_SCOPE[k] == "admin" else E403
    d["other_admin"] = d["other_key"] = other
    d.update(over)
    return d


def in_conv(ok=(), forbidden=(), **over):
    """About one conversation: members in `ok` may, those in `forbidden` get 403, every
    other user 404 (a conversation you are not in does not exist for you)."""
    d = signed_in(E404)
    d.update({r: OK for r in ok})
    d.update({r: E403 for r in forbidden})
    d.update(over)
    return d


def other_app_target(row):
    """The same row, for a target in the other app: whoever app 1 lets in gets 404 too
    (a key without the route's scope is still refused first, 403)."""
    return {r: E404 if v == OK and r in ("admin", "key_push", "key_users", "key_admin") else v
            for r, v in row.items()}


# The same for a bot route aimed at a user who is no bot.
not_a_bot = other_app_target


USERS_KEY = ("users",)
PUSH_KEY = ("push",)
ADMIN_KEY = ("admin",)

# Row order matters for other_admin's spare sessions: logout and the revocation of one
# session come before "DELETE /v1/me/sessions" and the password change, which end them.
EXPECT = {
    ("GET", "/healthz"): everyone(),
    ("GET", "/metrics"): everyone(),
    ("POST", "/v1/auth/register"): everyone(),
    ("POST", "/v1/auth/login"): everyone(),
    ("POST", "/v1/auth/logout"): signed_in(),
    ("GET", "/v1/me"): signed_in(),
    ("GET", "/v1/me/sessions"): signed_in(),
    ("DELETE", "/v1/me/sessions/{}"): signed_in(),
    ("DELETE", "/v1/me/sessions/{}", "others"): signed_in(E404),
    ("DELETE", "/v1/me/sessions"): signed_in(),
    ("GET", "/v1/me/mfa"): signed_in(),
    ("POST", "/v1/me/mfa"): signed_in(),
    ("POST", "/v1/me/mfa/confirm"): signed_in(),
    ("POST", "/v1/me/mfa/recovery-codes"): signed_in(),
    ("POST", "/v1/me/mfa/disable"): signed_in(),
    ("POST", "/v1/me/password"): signed_in(),

    ("POST", "/v1/admin/users"): admin_route(USERS_KEY),
    ("POST", "/v1/admin/users", "role-admin"): admin_route(ADMIN_KEY),
    ("GET", "/v1/admin/users"): admin_route(USERS_KEY),
    ("GET", "/v1/admin/users/{}"): admin_route(USERS_KEY, E404),
    ("GET", "/v1/admin/users/{}", "admin-target"): admin_route(USERS_KEY, E404),
    ("GET", "/v1/admin/users/{}", "other-app"): other_app_target(admin_route(USERS_KEY, E404)),
    ("PATCH", "/v1/admin/users/{}"): admin_route(USERS_KEY, E404),
    ("PATCH", "/v1/admin/users/{}", "admin-target"): admin_route(ADMIN_KEY, E404),
    ("PATCH", "/v1/admin/users/{}", "grant-admin"): admin_route(ADMIN_KEY, E404),
    ("PATCH", "/v1/admin/users/{}", "other-app"): other_app_target(admin_route(USERS_KEY, E404)),
    ("POST", "/v1/admin/users/{}/password"): admin_route(USERS_KEY, E404),
    ("POST", "/v1/admin/users/{}/password", "admin-target"): admin_route(ADMIN_KEY, E404),
    ("GET", "/v1/admin/users/{}/sessions"): admin_route(USERS_KEY, E404),
    ("DELETE", "/v1/admin/users/{}/sessions"): admin_route(USERS_KEY, E404),
    ("DELETE", "/v1/admin/users/{}/sessions", "admin-target"): admin_route(ADMIN_KEY, E404),
    ("DELETE", "/v1/admin/users/{}/sessions/{}"): admin_route(USERS_KEY, E404),
    ("DELETE", "/v1/admin/users/{}/sessions/{}", "admin-target"): admin_route(ADMIN_KEY, E404),
    ("DELETE", "/v1/admin/users/{}/mfa"): admin_route(ADMIN_KEY, E404),
    ("POST", "/v1/admin/users/{}/erase"): admin_route(ADMIN_KEY, E404),
    ("GET", "/v1/admin/conversations"): admin_route(ADMIN_KEY),
    ("GET", "/v1/admin/conversations/{}"): admin_route(ADMIN_KEY, E404),
    ("PATCH", "/v1/admin/conversations/{}"): admin_route(ADMIN_KEY, E404),
    ("DELETE", "/v1/admin/conversations/{}"): admin_route(ADMIN_KEY, E404),
    ("GET", "/v1/admin/conversations/{}/members"): admin_route(ADMIN_KEY, E404),
    ("POST", "/v1/admin/holds"): admin_route(ADMIN_KEY, E404),
    ("POST", "/v1/admin/holds", "other-app-user"): other_app_target(admin_route(ADMIN_KEY, E404)),
    ("GET", "/v1/admin/holds"): admin_route(ADMIN_KEY),
    ("DELETE", "/v1/admin/holds/{}"): admin_route(ADMIN_KEY, E404),
    ("GET", "/v1/admin/export"): admin_route(ADMIN_KEY, E404),
    ("GET", "/v1/admin/export", "other-app-user"): other_app_target(admin_route(ADMIN_KEY, E404)),
    ("GET", "/v1/admin/stats"): admin_route(ADMIN_KEY),
    ("GET", "/v1/admin/audit"): admin_route(ADMIN_KEY),
    ("GET", "/v1/admin/audit/verify"): admin_route(ADMIN_KEY),
    ("POST", "/v1/admin/api-keys"): admin_route(ADMIN_KEY),
    ("GET", "/v1/admin/api-keys"): admin_route(ADMIN_KEY),
    ("DELETE", "/v1/admin/api-keys/{}"): admin_route(ADMIN_KEY, E404),
    ("GET", "/v1/admin/content-flags"): admin_route(ADMIN_KEY),
    ("DELETE", "/v1/admin/content-flags/{}"): admin_route(ADMIN_KEY, E404),
    ("GET", "/v1/admin/app"): admin_route(ADMIN_KEY),
    ("PATCH", "/v1/admin/app"): admin_route(ADMIN_KEY),
    ("POST", "/v1/admin/webhooks"): admin_route(ADMIN_KEY),
    ("GET", "/v1/admin/webhooks"): admin_route(ADMIN_KEY),
    ("GET", "/v1/admin/webhooks/{}"): admin_route(ADMIN_KEY, E404),
    ("PATCH", "/v1/admin/webhooks/{}"): admin_route(ADMIN_KEY, E404),
    ("DELETE", "/v1/admin/webhooks/{}"): admin_route(ADMIN_KEY, E404),
    ("POST", "/v1/admin/webhooks/{}/secret"): admin_route(ADMIN_KEY, E404),
    ("POST", "/v1/admin/webhooks/{}/ping"): admin_route(ADMIN_KEY, E404),
    ("GET", "/v1/admin/webhooks/{}/deliveries"): admin_route(ADMIN_KEY, E404),
    ("POST", "/v1/admin/webhooks/{}/deliveries/{}/retry"): admin_route(ADMIN_KEY, E404),
    # The before-send hook and the assistant are the caller's app's: app 2's callers act
    # on app 2's (each app has one, made for the cell; app 1's is checked untouched).
    ("GET", "/v1/admin/before-send"): admin_route(ADMIN_KEY),
    ("PUT", "/v1/admin/before-send"): admin_route(ADMIN_KEY),
    ("DELETE", "/v1/admin/before-send"): admin_route(ADMIN_KEY),
    ("POST", "/v1/admin/before-send/secret"): admin_route(ADMIN_KEY),
    ("POST", "/v1/admin/bots"): admin_route(ADMIN_KEY),
    ("GET", "/v1/admin/bots"): admin_route(ADMIN_KEY),
    ("GET", "/v1/admin/bots/{}"): admin_route(ADMIN_KEY, E404),
    ("PATCH", "/v1/admin/bots/{}"): admin_route(ADMIN_KEY, E404),
    ("DELETE", "/v1/admin/bots/{}"): admin_route(ADMIN_KEY, E404),
    ("POST", "/v1/admin/bots/{}/key"): admin_route(ADMIN_KEY, E404),
    # "user-target": the id of a user who is no bot (a key minted for it would sign in
    # as that user): no bot there, 404 for whoever may use the route.
    ("GET", "/v1/admin/bots/{}", "user-target"): not_a_bot(admin_route(ADMIN_KEY, E404)),
    ("PATCH", "/v1/admin/bots/{}", "user-target"): not_a_bot(admin_route(ADMIN_KEY, E404)),
    ("DELETE", "/v1/admin/bots/{}", "user-target"): not_a_bot(admin_route(ADMIN_KEY, E404)),
    ("POST", "/v1/admin/bots/{}/key", "user-target"): not_a_bot(admin_route(ADMIN_KEY, E404)),
    ("GET", "/v1/admin/assistant"): admin_route(ADMIN_KEY),
    ("PUT", "/v1/admin/assistant"): admin_route(ADMIN_KEY),
    ("DELETE", "/v1/admin/assistant"): admin_route(ADMIN_KEY),
    ("GET", "/v1/turn"): signed_in(),

    ("POST", "/v1/devices"): signed_in(),
    ("GET", "/v1/devices"): signed_in(),
    ("DELETE", "/v1/devices/{}"): signed_in(),
    ("DELETE", "/v1/devices/{}", "others"): signed_in(E404),
    ("PUT", "/v1/me/topics/{}"): signed_in(),
    ("DELETE", "/v1/me/topics/{}"): signed_in(),
    ("GET", "/v1/me/topics"): signed_in(),
    ("PUT", "/v1/users/{}/tags"): admin_route(USERS_KEY, E404),
    ("PUT", "/v1/users/{}/tags", "self"): admin_route(USERS_KEY, E404, other_admin=OK),
    ("PUT", "/v1/users/{}/tags", "other-app"): other_app_target(admin_route(USERS_KEY, E404)),
    ("GET", "/v1/users/{}/tags"): admin_route(USERS_KEY, E404),
    ("GET", "/v1/users/{}/tags", "other-app-name"): other_app_target(admin_route(USERS_KEY, E404)),
    ("GET", "/v1/users"): signed_in(),
    ("GET", "/v1/me/notification-settings"): signed_in(),
    ("PUT", "/v1/me/notification-settings"): signed_in(),
    ("GET", "/v1/push/vapid-public-key"): everyone(),
    ("GET", "/v1/push/categories"): signed_in(key_push=OK, key_admin=OK, other_key=OK),
    ("PUT", "/v1/push/categories/{}"): admin_route(PUSH_KEY),
    ("DELETE", "/v1/push/categories/{}"): admin_route(PUSH_KEY),
    ("POST", "/v1/push"): admin_route(PUSH_KEY),
    # The audience is the caller's app's only (checked on the push's counts).
    ("POST", "/v1/push", "other-app-user"): admin_route(PUSH_KEY),
    ("POST", "/v1/push", "other-app-name"): admin_route(PUSH_KEY),
    ("POST", "/v1/push", "topic"): admin_route(PUSH_KEY),
    ("POST", "/v1/push", "tags"): admin_route(PUSH_KEY),
    ("POST", "/v1/push", "all"): admin_route(PUSH_KEY),
    ("GET", "/v1/push"): admin_route(PUSH_KEY),
    ("GET", "/v1/push/{}"): admin_route(PUSH_KEY, E404),
    ("POST", "/v1/push/{}/events"): signed_in(E404, member=OK),
    ("GET", "/v1/ws"): everyone(),

    ("POST", "/v1/conversations"): signed_in(),
    ("POST", "/v1/conversations", "other-app-peer"): signed_in(E404),
    ("POST", "/v1/conversations", "other-app-member"): signed_in(E404),
    ("POST", "/v1/conversations", "other-app-name"): signed_in(E404),
    ("GET", "/v1/conversations"): signed_in(),
    ("GET", "/v1/conversations/{}"): in_conv(ok=IN_G),
    ("GET", "/v1/conversations/{}", "direct"): in_conv(ok=IN_D),
    ("PATCH", "/v1/conversations/{}"): in_conv(ok=("owner", "gadmin"), forbidden=PLAIN),
    ("PATCH", "/v1/conversations/{}", "direct"): in_conv(forbidden=IN_D),
    ("POST", "/v1/conversations/{}/owner"): in_conv(ok=("owner",), forbidden=("gadmin",) + PLAIN),
    ("GET", "/v1/conversations/{}/members"): in_conv(ok=IN_G),
    ("GET", "/v1/conversations/{}/members", "direct"): in_conv(ok=IN_D),
    ("POST", "/v1/conversations/{}/members"): in_conv(ok=("owner", "gadmin"), forbidden=PLAIN),
    ("POST", "/v1/conversations/{}/members", "direct"): in_conv(forbidden=IN_D),
    ("POST", "/v1/conversations/{}/members", "other-app-user"): in_conv(forbidden=PLAIN),
    ("POST", "/v1/conversations/{}/members", "other-app-name"): in_conv(forbidden=PLAIN),
    ("PATCH", "/v1/conversations/{}/members/{}", "role"): in_conv(
        ok=("owner",), forbidden=("gadmin",) + PLAIN),
    ("PATCH", "/v1/conversations/{}/members/{}", "mute"): in_conv(
        ok=("owner", "gadmin"), forbidden=PLAIN),
    ("PATCH", "/v1/conversations/{}/members/{}", "mute-owner"): in_conv(forbidden=IN_G),
    ("DELETE", "/v1/conversations/{}/members/{}"): in_conv(ok=("owner", "gadmin"),
                                                          forbidden=PLAIN),
    ("DELETE", "/v1/conversations/{}/members/{}", "owner"): in_conv(forbidden=IN_G),
    ("DELETE", "/v1/conversations/{}/members/{}", "self"): in_conv(ok=("gadmin",) + PLAIN,
                                                                  forbidden=("owner",)),
    ("DELETE", "/v1/conversations/{}/members/{}", "direct"): in_conv(forbidden=IN_D),
    ("GET", "/v1/conversations/{}/messages"): in_conv(ok=IN_G),
    ("GET", "/v1/conversations/{}/messages", "direct"): in_conv(ok=IN_D),
    ("POST", "/v1/conversations/{}/messages"): in_conv(ok=IN_G),
    ("POST", "/v1/conversations/{}/messages", "direct"): in_conv(ok=IN_D),
    # A body naming a file the sender cannot read (loginee's, never shared): 404 for all.
    ("POST", "/v1/conversations/{}/messages", "foreign-file"): in_conv(),
    # A streaming message of the caller's own (kicked's: sent before the kick), in a
    # group with G's roles; "others": someone else's (the owner's; the member's for the
    # owner): only its sender may stream into it.
    ("POST", "/v1/conversations/{}/messages/{}/append"): in_conv(ok=IN_G),
    ("POST", "/v1/conversations/{}/messages/{}/append", "others"): in_conv(forbidden=IN_G),
    ("POST", "/v1/conversations/{}/messages/{}/replace"): in_conv(ok=IN_G),
    ("POST", "/v1/conversations/{}/messages/{}/replace", "others"): in_conv(forbidden=IN_G),

    ("POST", "/v1/files"): signed_in(),
    # Shared before late joined: late may not read it through that message.
    ("GET", "/v1/files/{}"): in_conv(ok=SEES_G),
    ("GET", "/v1/files/{}", "direct"): in_conv(ok=IN_D),
    ("GET", "/v1/files/{}", "unshared"): in_conv(ok=("member",)),
    ("GET", "/v1/files/{}/thumbnail"): in_conv(ok=SEES_G),
    ("GET", "/v1/search"): signed_in(),
    ("GET", "/v1/search", "conv"): in_conv(ok=IN_G),
}

# WebSocket ops: "ok" or the error code. Roles without a user's session (anon, and those
# whose auth is refused: keys, bad and dead tokens) get `unauthenticated` for every op
# but auth.
WS_UNAUTH = tuple(r for r in ROLES if r not in USER_ROLES)


def ws_row(default="not_found", ok=(), forbidden=(), **over):
    d = {r: "unauthenticated" for r in WS_UNAUTH}
    d.update({r: default for r in USER_ROLES})
    d.update({r: OK for r in ok})
    d.update({r: "forbidden" for r in forbidden})
    d.update(over)
    return d


OPS_EXPECT = {
    # anon sends auth without a token; a key is not a user's session (unauthorized).
    "auth": dict(ws_row(OK), anon="bad_request",
                 **{r: "unauthorized" for r in WS_UNAUTH if r != "anon"}),
    "ping": ws_row(OK),
    "send": ws_row(ok=IN_G),
    ("send", "direct"): ws_row(ok=IN_D),
    ("send", "foreign-file"): ws_row(),
    # someone else's message (kicked's, from before the kick): own messages only
    "edit": ws_row(forbidden=IN_G),
    ("edit", "own"): ws_row(ok=IN_G),
    # own message, edited to name a file the editor cannot read (loginee's)
    ("edit", "foreign-file"): ws_row(),
    # the member recalls the owner's message, the others a member's
    "recall": ws_row(ok=("owner", "gadmin"), forbidden=PLAIN),
    ("recall", "own"): ws_row(ok=IN_G),
    "delete": ws_row(ok=IN_G),
    "read": ws_row(ok=IN_G),
    "ack": ws_row(ok=IN_G),
    "typing": ws_row(ok=IN_G),
    "history": ws_row(ok=IN_G),
    "sync": ws_row(OK),
    "search": ws_row(OK),
    ("search", "conv"): ws_row(ok=IN_G),
    "push_event": ws_row(ok=("member",)),
    # As the REST routes: the caller's own streaming message, then someone else's.
    "append": ws_row(ok=IN_G),
    ("append", "others"): ws_row(forbidden=IN_G),
    "replace": ws_row(ok=IN_G),
    ("replace", "others"): ws_row(forbidden=IN_G),
    # Calls, each in a fresh group with G's roles (kicked removed before the call): the
    # invite is the caller's; the other ops aim at a call that rings the caller (the
    # owner's; the member's for the owner), cancel at the caller's own call ("callee":
    # at one that rings the caller, who may not cancel it).
    "call_invite": ws_row(ok=IN_G),
    "call_ringing": ws_row(ok=IN_G),
    "call_accept": ws_row(ok=IN_G),
    "call_reject": ws_row(ok=IN_G),
    "call_cancel": ws_row(ok=IN_G),
    ("call_cancel", "callee"): ws_row(**{r: "conflict" for r in IN_G}),
    "call_hangup": ws_row(ok=IN_G),
    "call_signal": ws_row(ok=IN_G),
    # The call rang kicked too: it was removed from the group after the invite.
    # a member removed during a call is out of it (chat_calls_member_left)
    ("call_accept", "kicked-during-call"): ws_row(ok=IN_G),
    ("call_signal", "kicked-during-call"): ws_row(ok=IN_G),
}


# -- the table covers the server's own route and op tables ---------------------------------

def test_every_route_and_op_has_a_row():
    r = run_pipitd(["--print-routes"])
    assert r.returncode == 0, "pipitd --print-routes failed: %r" % (r.stderr[-500:],)
    table = json.loads(r.stdout)
    routes = {(x["method"], x["path"]) for x in table["routes"]}
    rows = {k[:2] for k in EXPECT}
    missing = sorted(routes - rows)
    assert not missing, "routes without a row in EXPECT (test_authz_matrix.py): %s" % (
        ", ".join("%s %s" % m for m in missing))
    unknown = sorted(rows - routes)
    assert not unknown, "rows in EXPECT that name no route of the server: %s" % (
        ", ".join("%s %s" % m for m in unknown))
    ops = set(table["ops"])
    op_rows = {k if isinstance(k, str) else k[0] for k in OPS_EXPECT}
    assert not ops - op_rows, "WebSocket ops without a row in OPS_EXPECT: %s" % (
        ", ".join(sorted(ops - op_rows)))
    assert not op_rows - ops, "rows in OPS_EXPECT that name no op: %s" % (
        ", ".join(sorted(op_rows - ops)))


def test_every_row_is_complete():
    assert set(BUILD) == set(EXPECT), (set(BUILD) ^ set(EXPECT))
    assert set(WS_BUILD) == set(OPS_EXPECT), (set(WS_BUILD) ^ set(OPS_EXPECT))
    for table in (EXPECT, OPS_EXPECT):
        for key, row in table.items():
            assert set(row) == set(ROLES), (key, set(ROLES) ^ set(row))


# -- the cast ------------------------------------------------------------------------------

class Cast:
    def __init__(self, srv):
        self.srv = srv
        self.u = {}
        self.mfa = {}
        self.other_spares = []
        self._pool = []
        self._ex = concurrent.futures.ThreadPoolExecutor(max_workers=4)

        admin_pw = srv.admin_password
        tok = srv.admin_token()
        me = self.ok("GET", "/v1/me", tok)
        self.u["admin"] = User("admin", admin_pw, tok, me["id"])

        regs = ["owner", "gadmin", "member", "late", "kicked", "nonmember", "user", "victim",
                "loginee", "xref"]
        made = self.parallel([lambda r=r: srv.register(unique(
            "zq%s" % r if r == "xref" else "qqazm-%s" % r)) for r in regs])
        self.u.update(zip(regs, made))
        self.victim = self.u.pop("victim")
        self.loginee = self.u.pop("loginee")
        # App 2's callers name this user of app 1: its name has no app-1 marker, since
        # app 2's audit log keeps what its own callers asked for (refusals included).
        self.xref = self.u.pop("xref")

        # Another admin of app 1 (a target), and app 2's admin with spare sessions.
        self.admin2 = self.new_account(unique("qqazm-admin2-"), "admin")
        oa = self.new_account(unique("oth-admin"), "admin")
        toks = self.parallel([lambda: srv.login(oa.username, PASSWORD)] * 4)
        oa.token = toks[0]
        self.other_spares = toks[1:]
        move_user_to_new_app(srv, oa)
        self.u["other_admin"] = oa

        self.keys = {}
        for role, scope in (("key_push", "push"), ("key_users", "users"),
                            ("key_admin", "admin"), ("key_revoked", "admin")):
            self.keys[role] = self.new_key([scope])
        self.expect("DELETE", "/v1/admin/api-keys/%d" % self.keys["key_revoked"]["id"],
                    self.admin_token, 204)
        self.keys["other_key"] = self.ok("POST", "/v1/admin/api-keys", oa.token,
                                         json={"name": "oth-key", "scopes": ["admin"]})
        dead = srv.login(self.loginee.username, PASSWORD)
        self.expect("POST", "/v1/auth/logout", dead, 204)
        self.dead_token = dead

        own, ga, mem, kick, non = (self.u[r] for r in ("owner", "gadmin", "member", "kicked",
                                                       "nonmember"))
        # G, its secret message and file; kicked leaves a message and is removed.
        self.G = self.ok("POST", "/v1/conversations", own.token, json={
            "type": "group", "title": "qqazm-group", "members": [ga.id, mem.id, kick.id]})["id"]
        self.ok("PATCH", "/v1/conversations/%d/members/%d" % (self.G, ga.id), own.token,
                json={"role": "admin"})
        self.gseq = self.send(own, self.G, "qqazm zqgsecret hello")
        self.kseq = self.send(kick, self.G, "qqazm kicked note")
        self.F = self.upload(own, png(64, 48), "zqgsecret.png")
        self.send(own, self.G, body={"type": "image", "file": self.F, "name": "zqgsecret.png"})
        self.ok("POST", "/v1/conversations/%d/members" % self.G, own.token,
                json={"user": self.u["late"].id})
        self.expect("DELETE", "/v1/conversations/%d/members/%d" % (self.G, kick.id), own.token,
                    204)
        # D (member and nonmember), its secret message and file; an unshared file.
        self.D = self.ok("POST", "/v1/conversations", mem.token,
                         json={"type": "direct", "peer": non.id})["id"]
        self.send(mem, self.D, "qqazm zqdsecret hi")
        self.FD = self.upload(mem, b"qqazm direct file", "zqdsecret.txt")
        self.send(mem, self.D, body={"type": "file", "file": self.FD, "name": "zqdsecret.txt"})
        self.FU = self.upload(mem, b"qqazm never shared", "qqazm-unshared.txt")
        self.device = self.new_device(mem)
        # A topic and tags only one user of app 1 has (the push audiences).
        self.expect("PUT", "/v1/me/topics/%s" % TOPIC, self.loginee.token, 204)
        self.ok("PUT", "/v1/users/%d/tags" % self.victim.id, self.admin_token, json=VICTIM_TAGS)
        # A category name app 2 uses too (see DELETE /v1/push/categories/{}).
        self.ok("PUT", "/v1/push/categories/sharedcat", self.admin_token, json={"urgent": True})
        # A push that reaches member in-app (a WebSocket open while it is expanded).
        with Chat(srv, mem):
            self.P = self.ok("POST", "/v1/push", self.admin_token, json={
                "to": {"users": [mem.id]}, "notification": {"title": "qqazm push"}})["id"]
            poll_until(lambda: self.push_done(self.admin_token, self.P, inapp=1), T(10),
                       what="the cast's push delivered in-app")
        poll_until(lambda: srv.get("/v1/files/%d/thumbnail" % self.F,
                                   token=own.token).status_code == 200,
                   T(10), what="the thumbnail of G's image")
        # Throwaway users for the cells that erase or promote one, or aim a bot route at
        # one.
        self._pool = self.parallel([lambda: srv.register(unique("qqazm-tmp"))] * 51)
        # Bots (see the bot rows): app 1's the cells look at, made on first use, and spare
        # ones (id, key) to delete or give a new key.
        self.bot = None
        self.bot_spares = []

    # helpers
    def parallel(self, fns):
        return list(self._ex.map(lambda f: f(), fns))

    def expect(self, method, path, token, status, **kw):
        r = self.srv.request(method, path, token=token, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text[:300])
        return r.json() if r.content and r.headers.get("content-type", "").startswith(
            "application/json") else None

    def ok(self, method, path, token, **kw):
        r = self.srv.request(method, path, token=token, **kw)
        assert 200 <= r.status_code < 300, (method, path, r.status_code, r.text[:300])
        return r.json()

    @property
    def admin_token(self):
        return self.u["admin"].token

    def set_token(self, role, token):
        self.u[role].token = token
        if role == "admin":
            self.srv._admin_token = token

    def token(self, role):
        if role == "anon":
            return None
        if role == "badtoken":
            return "not-a-token-of-this-server-at-all"
        if role == "loggedout":
            return self.dead_token
        if role in self.keys:
            return self.keys[role]["key"]
        return self.u[role].token

    def other_app_user(self, role):
        """A user of the other app than the role's."""
        return self.xref if role in OTHER_APP else self.u["other_admin"]

    def who(self, role):
        """The role's user, or None for roles that are not a user."""
        return self.u.get(role)

    def name(self, role, what):
        """A unique name for something the role makes (app 2's never hold app 1's marker)."""
        return unique(self.words(role, what).replace(" ", "-"))

    def words(self, role, what):
        """Free text for a role's request: app 2's requests never carry app 1's marker
        (a refusal may be audited with them, in app 2's log)."""
        return ("oth %s" if role in OTHER_APP else "qqazm %s") % what

    def new_account(self, username, role="user"):
        body = self.ok("POST", "/v1/admin/users", self.admin_token,
                       json={"username": username, "password": PASSWORD, "role": role})
        return User(username, PASSWORD, None, body["id"])

    def new_key(self, scopes):
        return self.ok("POST", "/v1/admin/api-keys", self.admin_token,
                       json={"name": unique("qqazm-key"), "scopes": scopes})

    def fresh_user(self):
        return self._pool.pop() if self._pool else self.srv.register(unique("qqazm-tmp"))

    def send(self, user, cid, words=None, body=None):
        body = body or text(words)
        return self.ok("POST", "/v1/conversations/%d/messages" % cid, user.token,
                       json={"cmid": new_cmid("az"), "body": body})["seq"]

    def upload(self, user, data, name):
        r = self.srv.request("POST", "/v1/files", token=user.token, data=data,
                             params={"name": name},
                             headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def new_device(self, user):
        return self.ok("POST", "/v1/devices", user.token,
                       json={"platform": "fcm", "token": unique("qqazm-fcm-")})["id"]

    def fresh_conv(self):
        return self.ok("POST", "/v1/conversations", self.loginee.token, json={
            "type": "group", "title": unique("qqazm-tmp-conv"), "members": []})["id"]

    def fresh_group(self, before_kick=None):
        """A new group with G's roles: owner, gadmin (admin), member, late (added), victim
        (a second plain member), kicked (removed; `before_kick(cid)` runs before)."""
        own = self.u["owner"]
        cid = self.ok("POST", "/v1/conversations", own.token, json={
            "type": "group", "title": unique("qqazm-tmp-group"),
            "members": [self.u[r].id for r in ("gadmin", "member", "kicked")] + [
                self.victim.id]})["id"]
        self.ok("PATCH", "/v1/conversations/%d/members/%d" % (cid, self.u["gadmin"].id),
                own.token, json={"role": "admin"})
        if before_kick is not None:
            before_kick(cid)
        self.expect("DELETE", "/v1/conversations/%d/members/%d" % (cid, self.u["kicked"].id),
                    own.token, 204)
        self.ok("POST", "/v1/conversations/%d/members" % cid, own.token,
                json={"user": self.u["late"].id})
        return cid

    def fresh_flag(self):
        """A new content flag (a message of loginee's with the flagged word): its id."""
        cid = self.fresh_conv()
        seq = self.send(self.loginee, cid, "qqazm %s here" % FLAG_WORD)
        for f in self.ok("GET", "/v1/admin/content-flags", self.admin_token)["flags"]:
            if f["conv"] == cid and f["seq"] == seq:
                return f["id"]
        raise AssertionError("the message was not flagged")

    def session_id(self, token):
        for s in self.ok("GET", "/v1/me/sessions", token)["sessions"]:
            if s["current"]:
                return s["id"]
        raise AssertionError("no current session")

    def fresh_session(self, user):
        """A new session of an app-1 user: (token, session id)."""
        tok = self.srv.login(user.username, user.password)
        return tok, self.session_id(tok)

    def spare_session(self, role):
        """Another session of the role's user, to end."""
        if role == "other_admin":
            assert self.other_spares, "other_admin's spare sessions are used up (row order?)"
            tok = self.other_spares.pop()
            return tok, self.session_id(tok)
        return self.fresh_session(self.u[role])

    def mfa_on(self, role):
        """The role's user with two-factor authentication on: their Codes."""
        if self.mfa.get(role) is None:
            user = self.u[role]
            secret = self.ok("POST", "/v1/me/mfa", user.token,
                             json={"password": user.password})["secret"]
            codes = Codes(secret)
            self.ok("POST", "/v1/me/mfa/confirm", user.token, json={"code": codes.next()})
            self.mfa[role] = codes
        return self.mfa[role]

    def mfa_off(self, role):
        codes = self.mfa.get(role)
        if codes is not None:
            user = self.u[role]
            self.expect("POST", "/v1/me/mfa/disable", user.token, 204,
                        json={"password": user.password, "code": codes.next()})
            self.mfa[role] = None

    def push_done(self, token, pid, inapp=None):
        body = self.ok("GET", "/v1/push/%d" % pid, token)
        if body.get("state") != "done":
            return None
        if inapp is not None:
            got = body["counts"]["by_channel"].get("inapp", {}).get("sent", 0)
            if got != inapp:
                return None
        return body


FLAG_WORD = "qqazmflagged"
TURN_URL = "turn:127.0.0.1:3478"
TOPIC = "zqtopic"                                   # loginee's alone
VICTIM_TAGS = {"plan": "gold", "cohort": "zqvictim"}  # victim's alone


@pytest.fixture(scope="module")
def srv(module_server_factory):
    # Rate limits off: a cell is a handful of requests, but a user makes many in a row.
    # Webhooks may point at loopback: theirs name the discard port, where nothing listens.
    # GET /v1/turn needs a TURN secret: nothing listens at its URL, none is asked.
    s = module_server_factory("--registration", "open", "--user-request-rate", "0",
                              "--user-message-rate", "0", "--webhook-allow-private", "yes",
                              "--turn-secret", "zqturnsecret", "--turn-urls", TURN_URL,
                              start=False)
    # The content filter's default directory: a message with FLAG_WORD is flagged.
    (s.data_dir / "filters").mkdir(parents=True)
    (s.data_dir / "filters" / "review.flag.txt").write_text(FLAG_WORD + "\n")
    return s.start()


@pytest.fixture(scope="module")
def cast(srv):
    c = Cast(srv)
    yield c
    c._ex.shutdown(wait=False)


# -- requests ------------------------------------------------------------------------------

DEFAULT = object()


class Req:
    """One cell's request. `token` defaults to the role's credentials; `check(resp)` runs
    on a success, `after(resp)` always."""

    def __init__(self, path, json=None, params=None, data=None, headers=None, token=DEFAULT,
                 check=None, after=None, raw=None):
        self.path = path
        self.json = json
        self.params = params
        self.data = data
        self.headers = headers
        self.token = token
        self.check = check
        self.after = after
        self.raw = raw


BUILD = {}


def builds(*keys):
    def deco(fn):
        for k in keys:
            assert k not in BUILD, k
            BUILD[k] = fn
        return fn
    return deco


def user_or(c, role, fallback):
    u = c.who(role)
    return u if u is not None else fallback


def sees(word, roles):
    """A check: the answer holds `word` for the roles in `roles`."""
    def check(c, role, body):
        if role in roles:
            assert word in body, "%s should see %r: %r" % (role, word, body[:400])
    return check


def still_works(c, token):
    def after(resp):
        r = c.srv.get("/v1/me", token=token)
        assert r.status_code == 200, "a refused request ended someone else's session"
    return after


@builds(("GET", "/healthz"))
def _(c, role):
    return Req("/healthz")


@builds(("GET", "/metrics"))
def _(c, role):
    return Req("/metrics")


@builds(("POST", "/v1/auth/register"))
def _(c, role):
    return Req("/v1/auth/register", json={"username": c.name(role, "reg"), "password": PASSWORD})


@builds(("POST", "/v1/auth/login"))
def _(c, role):
    return Req("/v1/auth/login", json={"username": c.loginee.username, "password": PASSWORD})


@builds(("POST", "/v1/auth/logout"))
def _(c, role):
    if role in USER_ROLES:
        return Req("/v1/auth/logout", token=c.spare_session(role)[0])
    return Req("/v1/auth/logout")


@builds(("GET", "/v1/me"))
def _(c, role):
    def check(c, role, body):
        assert json.loads(body)["id"] == c.who(role).id
    return Req("/v1/me", check=check)


@builds(("GET", "/v1/me/sessions"))
def _(c, role):
    return Req("/v1/me/sessions")


@builds(("DELETE", "/v1/me/sessions/{}"))
def _(c, role):
    if role in USER_ROLES:
        tok, sid = c.spare_session(role)
    else:
        tok, sid = c.fresh_session(c.loginee)
    return Req("/v1/me/sessions/%d" % sid)


@builds(("DELETE", "/v1/me/sessions/{}", "others"))
def _(c, role):
    tok, sid = c.fresh_session(c.loginee)
    return Req("/v1/me/sessions/%d" % sid, after=still_works(c, tok))


@builds(("DELETE", "/v1/me/sessions"))
def _(c, role):
    return Req("/v1/me/sessions")


@builds(("GET", "/v1/me/mfa"))
def _(c, role):
    return Req("/v1/me/mfa")


@builds(("POST", "/v1/me/mfa"))
def _(c, role):
    u = c.who(role)
    return Req("/v1/me/mfa", json={"password": u.password if u else PASSWORD})


@builds(("POST", "/v1/me/mfa/confirm"))
def _(c, role):
    if role not in USER_ROLES:
        return Req("/v1/me/mfa/confirm", json={"code": "000000"})
    c.mfa_off(role)
    u = c.who(role)
    secret = c.ok("POST", "/v1/me/mfa", u.token, json={"password": u.password})["secret"]
    codes = Codes(secret)

    def after(resp):
        if resp.status_code == 200:
            c.mfa[role] = codes
    return Req("/v1/me/mfa/confirm", json={"code": codes.next()}, after=after)


@builds(("POST", "/v1/me/mfa/recovery-codes"))
def _(c, role):
    if role not in USER_ROLES:
        return Req("/v1/me/mfa/recovery-codes", json={"code": "000000"})
    return Req("/v1/me/mfa/recovery-codes", json={"code": c.mfa_on(role).next()})


@builds(("POST", "/v1/me/mfa/disable"))
def _(c, role):
    if role not in USER_ROLES:
        return Req("/v1/me/mfa/disable", json={"password": PASSWORD, "code": "000000"})
    u = c.who(role)

    def after(resp):
        if resp.status_code == 204:
            c.mfa[role] = None
    return Req("/v1/me/mfa/disable", json={"password": u.password,
                                           "code": c.mfa_on(role).next()}, after=after)


@builds(("POST", "/v1/me/password"))
def _(c, role):
    u = c.who(role)
    pw = u.password if u else PASSWORD

    def after(resp):
        # The password is "changed" to itself; the new session replaces the old one.
        if u is not None and resp.status_code == 200:
            c.set_token(role, resp.json()["token"])
    return Req("/v1/me/password", json={"password": pw, "new_password": pw}, after=after)


# admin: users

@builds(("POST", "/v1/admin/users"))
def _(c, role):
    return Req("/v1/admin/users", json={"username": c.name(role, "made"), "password": PASSWORD,
                                        "role": "user"})


@builds(("POST", "/v1/admin/users", "role-admin"))
def _(c, role):
    return Req("/v1/admin/users", json={"username": c.name(role, "madeadm"),
                                        "password": PASSWORD, "role": "admin"})


@builds(("GET", "/v1/admin/users"))
def _(c, role):
    return Req("/v1/admin/users", params={"limit": 200},
               check=sees(c.victim.username.encode(), ("admin", "key_users", "key_admin")))


@builds(("GET", "/v1/admin/users/{}"))
def _(c, role):
    return Req("/v1/admin/users/%d" % c.victim.id)


@builds(("GET", "/v1/admin/users/{}", "admin-target"))
def _(c, role):
    return Req("/v1/admin/users/%d" % c.admin2.id)


@builds(("PATCH", "/v1/admin/users/{}"))
def _(c, role):
    return Req("/v1/admin/users/%d" % c.victim.id, json={"display_name": c.words(role, "victim")})


@builds(("GET", "/v1/admin/users/{}", "other-app"))
def _(c, role):
    return Req("/v1/admin/users/%d" % c.other_app_user(role).id)


@builds(("PATCH", "/v1/admin/users/{}", "other-app"))
def _(c, role):
    return Req("/v1/admin/users/%d" % c.other_app_user(role).id,
               json={"display_name": c.words(role, "renamed")})


@builds(("PATCH", "/v1/admin/users/{}", "admin-target"))
def _(c, role):
    return Req("/v1/admin/users/%d" % c.admin2.id,
               json={"display_name": c.words(role, "admin two")})


@builds(("PATCH", "/v1/admin/users/{}", "grant-admin"))
def _(c, role):
    return Req("/v1/admin/users/%d" % c.fresh_user().id, json={"role": "admin"})


@builds(("POST", "/v1/admin/users/{}/password"))
def _(c, role):
    return Req("/v1/admin/users/%d/password" % c.victim.id, json={"password": PASSWORD})


@builds(("POST", "/v1/admin/users/{}/password", "admin-target"))
def _(c, role):
    return Req("/v1/admin/users/%d/password" % c.admin2.id, json={"password": PASSWORD})


@builds(("GET", "/v1/admin/users/{}/sessions"))
def _(c, role):
    return Req("/v1/admin/users/%d/sessions" % c.victim.id)


@builds(("DELETE", "/v1/admin/users/{}/sessions"))
def _(c, role):
    return Req("/v1/admin/users/%d/sessions" % c.victim.id)


@builds(("DELETE", "/v1/admin/users/{}/sessions", "admin-target"))
def _(c, role):
    return Req("/v1/admin/users/%d/sessions" % c.admin2.id)


@builds(("DELETE", "/v1/admin/users/{}/sessions/{}"))
def _(c, role):
    tok, sid = c.fresh_session(c.victim)
    return Req("/v1/admin/users/%d/sessions/%d" % (c.victim.id, sid))


@builds(("DELETE", "/v1/admin/users/{}/sessions/{}", "admin-target"))
def _(c, role):
    tok, sid = c.fresh_session(c.admin2)
    return Req("/v1/admin/users/%d/sessions/%d" % (c.admin2.id, sid))


@builds(("DELETE", "/v1/admin/users/{}/mfa"))
def _(c, role):
    return Req("/v1/admin/users/%d/mfa" % c.victim.id)


@builds(("POST", "/v1/admin/users/{}/erase"))
def _(c, role):
    return Req("/v1/admin/users/%d/erase" % c.fresh_user().id)


# admin: conversations, holds, export, audit, keys, app

@builds(("GET", "/v1/admin/conversations"))
def _(c, role):
    return Req("/v1/admin/conversations", params={"limit": 200},
               check=sees(b"qqazm-group", ("admin", "key_admin")))


@builds(("GET", "/v1/admin/conversations/{}"))
def _(c, role):
    return Req("/v1/admin/conversations/%d" % c.G)


@builds(("PATCH", "/v1/admin/conversations/{}"))
def _(c, role):
    return Req("/v1/admin/conversations/%d" % c.G, json={"message_retention_days": None})


@builds(("DELETE", "/v1/admin/conversations/{}"))
def _(c, role):
    return Req("/v1/admin/conversations/%d" % c.fresh_conv())


@builds(("GET", "/v1/admin/conversations/{}/members"))
def _(c, role):
    return Req("/v1/admin/conversations/%d/members" % c.G)


@builds(("POST", "/v1/admin/holds"))
def _(c, role):
    return Req("/v1/admin/holds", json={"conv": c.fresh_conv(), "reason": c.words(role, "hold")})


@builds(("POST", "/v1/admin/holds", "other-app-user"))
def _(c, role):
    return Req("/v1/admin/holds", json={"user": c.other_app_user(role).username,
                                        "reason": c.words(role, "hold")})


@builds(("GET", "/v1/admin/holds"))
def _(c, role):
    return Req("/v1/admin/holds")


@builds(("DELETE", "/v1/admin/holds/{}"))
def _(c, role):
    hold = c.ok("POST", "/v1/admin/holds", c.admin_token,
                json={"conv": c.fresh_conv(), "reason": "qqazm hold to lift"})
    return Req("/v1/admin/holds/%d" % hold["id"])


@builds(("GET", "/v1/admin/export"))
def _(c, role):
    return Req("/v1/admin/export", params={"conv": c.G})


@builds(("GET", "/v1/admin/export", "other-app-user"))
def _(c, role):
    return Req("/v1/admin/export", params={"user": c.other_app_user(role).username})


@builds(("GET", "/v1/admin/stats"))
def _(c, role):
    return Req("/v1/admin/stats")


@builds(("GET", "/v1/admin/audit"))
def _(c, role):
    return Req("/v1/admin/audit")


@builds(("GET", "/v1/admin/audit/verify"))
def _(c, role):
    return Req("/v1/admin/audit/verify")


@builds(("POST", "/v1/admin/api-keys"))
def _(c, role):
    return Req("/v1/admin/api-keys", json={"name": c.name(role, "key"), "scopes": ["push"]})


@builds(("GET", "/v1/admin/api-keys"))
def _(c, role):
    return Req("/v1/admin/api-keys")


@builds(("DELETE", "/v1/admin/api-keys/{}"))
def _(c, role):
    return Req("/v1/admin/api-keys/%d" % c.new_key(["push"])["id"])


@builds(("GET", "/v1/admin/content-flags"))
def _(c, role):
    return Req("/v1/admin/content-flags")


@builds(("DELETE", "/v1/admin/content-flags/{}"))
def _(c, role):
    return Req("/v1/admin/content-flags/%d" % c.fresh_flag())


@builds(("GET", "/v1/admin/app"))
def _(c, role):
    return Req("/v1/admin/app")


@builds(("PATCH", "/v1/admin/app"))
def _(c, role):
    return Req("/v1/admin/app", json={"message_retention_days": None})


# admin: webhooks. Their URLs name the discard port on loopback (the server allows
# private addresses for webhooks): every attempt to deliver is refused, nothing is sent.

HOOK_URL = "https://127.0.0.1:9/%s"

def new_hook(c, role="admin"):
    return c.ok("POST", "/v1/admin/webhooks", c.admin_token, json={
        "url": HOOK_URL % c.name(role, "hook"), "events": ["push.clicked"]})["id"]


def app_hook(c):
    """App 1's webhook the cells look at, made on first use."""
    if getattr(c, "hook", None) is None:
        c.hook = new_hook(c)
    return c.hook


def failed_delivery(c, hid):
    """A ping of webhook `hid`, marked failed in the store (only a failed one may be
    retried; failing for real takes webhook_retry_for, a day): its id."""
    did = c.ok("POST", "/v1/admin/webhooks/%d/ping" % hid, c.admin_token)["delivery"]

    def mark():
        db = sqlite3.connect(str(c.srv.data_dir / "pipit.db"), timeout=30)
        try:
            with db:
                return db.execute(
                    "UPDATE webhook_deliveries SET state = 'failed', next_at = NULL, "
                    "finished_at = ?, last_error = 'marked failed by the test' "
                    "WHERE id = ? AND state = 'queued'", (now_ms(), did)).rowcount
        finally:
            db.close()
    poll_until(mark, T(10), what="delivery %d queued, to mark it failed" % did)
    return did


@builds(("POST", "/v1/admin/webhooks"))
def _(c, role):
    return Req("/v1/admin/webhooks", json={
        "url": HOOK_URL % c.name(role, "hook"), "events": ["push.clicked"],
        "description": c.words(role, "hook")})


@builds(("GET", "/v1/admin/webhooks"))
def _(c, role):
    app_hook(c)
    return Req("/v1/admin/webhooks", params={"limit": 200},
               check=sees(b"qqazm-hook", ("admin", "key_admin")))


@builds(("GET", "/v1/admin/webhooks/{}"))
def _(c, role):
    return Req("/v1/admin/webhooks/%d" % app_hook(c))


@builds(("PATCH", "/v1/admin/webhooks/{}"))
def _(c, role):
    return Req("/v1/admin/webhooks/%d" % app_hook(c), json={"description": c.words(role, "hook")})


@builds(("DELETE", "/v1/admin/webhooks/{}"))
def _(c, role):
    hid = new_hook(c)

    def after(resp):
        r = c.srv.get("/v1/admin/webhooks/%d" % hid, token=c.admin_token)
        assert r.status_code == (404 if resp.status_code == 204 else 200), (
            "DELETE answered %d but the webhook is %s" % (resp.status_code, r.status_code))
    return Req("/v1/admin/webhooks/%d" % hid, after=after)


@builds(("POST", "/v1/admin/webhooks/{}/secret"))
def _(c, role):
    return Req("/v1/admin/webhooks/%d/secret" % app_hook(c))


@builds(("POST", "/v1/admin/webhooks/{}/ping"))
def _(c, role):
    return Req("/v1/admin/webhooks/%d/ping" % app_hook(c))


@builds(("GET", "/v1/admin/webhooks/{}/deliveries"))
def _(c, role):
    return Req("/v1/admin/webhooks/%d/deliveries" % app_hook(c))


@builds(("POST", "/v1/admin/webhooks/{}/deliveries/{}/retry"))
def _(c, role):
    hid = app_hook(c)
    did = failed_delivery(c, hid)

    def after(resp):
        ds = c.ok("GET", "/v1/admin/webhooks/%d/deliveries" % hid, c.admin_token,
                  params={"limit": 200})["deliveries"]
        state = [d["state"] for d in ds if d["id"] == did]
        assert state and (state[0] == "failed") == (resp.status_code != 202), (
            "retry answered %d and left the delivery %r" % (resp.status_code, state))
    return Req("/v1/admin/webhooks/%d/deliveries/%d/retry" % (hid, did), after=after)


# admin: the before-send hook, one per app. Every cell makes one in each app (app 1's
# and app 2's, named for their app), and removes both after: while app 1 has one, each
# message sent in app 1 would ask it.

BEFORE_SEND = "/v1/admin/before-send"


def app_admin_token(c, app2):
    return c.u["other_admin"].token if app2 else c.admin_token


def app_admin_role(app2):
    return "other_admin" if app2 else "admin"


def before_send_url(c, app2):
    """The app's before-send hook URL now, or None."""
    r = c.srv.get(BEFORE_SEND, token=app_admin_token(c, app2))
    assert r.status_code in (200, 404), r.text[:300]
    return r.json()["url"] if r.status_code == 200 else None


def before_send_both(c):
    """A before-send hook in each app: their URLs (app 1's, app 2's)."""
    urls = []
    for app2 in (False, True):
        url = HOOK_URL % c.name(app_admin_role(app2), "bsend")
        c.ok("PUT", BEFORE_SEND, app_admin_token(c, app2), json={"url": url})
        urls.append(url)
    return urls


def before_send_after(c, role, urls, what):
    """After a cell: each app's hook is what the answer says it did (`what(ok)` gives the
    URL the role's app should have, the other app's keeps its own); both are removed."""
    def after(resp):
        try:
            ok = 200 <= resp.status_code < 300
            mine = role in OTHER_APP
            for app2, url in zip((False, True), urls):
                want = what(ok, url) if app2 == mine else url
                got = before_send_url(c, app2)
                assert got == want, "%s answered %d; app %d's hook is %r, want %r" % (
                    role, resp.status_code, 2 if app2 else 1, got, want)
        finally:
            for app2 in (False, True):
                r = c.srv.request("DELETE", BEFORE_SEND, token=app_admin_token(c, app2))
                assert r.status_code in (204, 404), r.text[:300]
    return after


def own_app_url(urls):
    """A check: the answer is the role's own app's hook."""
    def check(c, role, body):
        assert json.loads(body)["url"] == urls[role in OTHER_APP], (role, urls, body[:300])
    return check


@builds(("GET", "/v1/admin/before-send"))
def _(c, role):
    urls = before_send_both(c)
    return Req(BEFORE_SEND, check=own_app_url(urls),
               after=before_send_after(c, role, urls, lambda ok, url: url))


@builds(("PUT", "/v1/admin/before-send"))
def _(c, role):
    urls = before_send_both(c)
    new = HOOK_URL % c.name(role, "bsput")
    return Req(BEFORE_SEND, json={"url": new, "timeout_ms": 500},
               after=before_send_after(c, role, urls, lambda ok, url: new if ok else url))


@builds(("DELETE", "/v1/admin/before-send"))
def _(c, role):
    urls = before_send_both(c)
    return Req(BEFORE_SEND, after=before_send_after(c, role, urls,
                                                    lambda ok, url: None if ok else url))


@builds(("POST", "/v1/admin/before-send/secret"))
def _(c, role):
    urls = before_send_both(c)

    def check(c, role, body):
        own_app_url(urls)(c, role, body)
        assert json.loads(body).get("secret"), body[:300]
    return Req(BEFORE_SEND + "/secret", check=check,
               after=before_send_after(c, role, urls, lambda ok, url: url))


# admin: bots. app 1's bot the cells look at (`app_bot`), and spare ones for the cells
# that delete a bot or give it a new key (a bot a cell left alone goes back).

def new_bot(c, app2=False):
    """A new bot of the app: (id, key)."""
    role = app_admin_role(app2)
    b = c.ok("POST", "/v1/admin/bots", app_admin_token(c, app2), json={
        "username": c.name(role, "bot"), "display_name": c.words(role, "bot")})
    return b["bot"]["id"], b["key"]


def app_bot(c):
    if c.bot is None:
        c.bot = new_bot(c)
    return c.bot[0]


def spare_bot(c):
    return c.bot_spares.pop() if c.bot_spares else new_bot(c)


def bot_of(c, bid):
    return c.ok("GET", "/v1/admin/bots/%d" % bid, c.admin_token)


@builds(("POST", "/v1/admin/bots"))
def _(c, role):
    def check(c, role, body):
        b = json.loads(body)
        # Made in the caller's app, and its key signs it in.
        r = c.srv.get("/v1/admin/bots/%d" % b["bot"]["id"], token=c.admin_token)
        assert r.status_code == (404 if role in OTHER_APP else 200), (role, r.status_code)
        me = c.ok("GET", "/v1/me", b["key"])
        assert me["id"] == b["bot"]["id"], (me, b)
    return Req("/v1/admin/bots", json={"username": c.name(role, "mkbot"),
                                       "display_name": c.words(role, "made bot")}, check=check)


@builds(("GET", "/v1/admin/bots"))
def _(c, role):
    app_bot(c)
    return Req("/v1/admin/bots", params={"limit": 200},
               check=sees(b"qqazm-bot", ("admin", "key_admin")))


@builds(("GET", "/v1/admin/bots/{}"))
def _(c, role):
    return Req("/v1/admin/bots/%d" % app_bot(c))


@builds(("PATCH", "/v1/admin/bots/{}"))
def _(c, role):
    bid = app_bot(c)
    before = bot_of(c, bid)["display_name"]

    def after(resp):
        if not 200 <= resp.status_code < 300:
            assert bot_of(c, bid)["display_name"] == before, "a refused PATCH renamed the bot"
    return Req("/v1/admin/bots/%d" % bid, json={"display_name": c.words(role, "renamed bot")},
               after=after)


@builds(("DELETE", "/v1/admin/bots/{}"))
def _(c, role):
    bot = spare_bot(c)

    def after(resp):
        gone = resp.status_code == 204
        assert bot_of(c, bot[0])["disabled"] == gone, "DELETE answered %d" % resp.status_code
        r = c.srv.get("/v1/me", token=bot[1])
        assert r.status_code == (401 if gone else 200), (resp.status_code, r.status_code)
        if not gone:
            c.bot_spares.append(bot)
    return Req("/v1/admin/bots/%d" % bot[0], after=after)


@builds(("POST", "/v1/admin/bots/{}/key"))
def _(c, role):
    bot = spare_bot(c)

    def after(resp):
        rotated = 200 <= resp.status_code < 300
        r = c.srv.get("/v1/me", token=bot[1])
        assert r.status_code == (401 if rotated else 200), (resp.status_code, r.status_code)
        c.bot_spares.append((bot[0], resp.json()["key"]) if rotated else bot)
    return Req("/v1/admin/bots/%d/key" % bot[0], after=after)


@builds(("GET", "/v1/admin/bots/{}", "user-target"))
def _(c, role):
    return Req("/v1/admin/bots/%d" % c.victim.id)


@builds(("PATCH", "/v1/admin/bots/{}", "user-target"))
def _(c, role):
    return Req("/v1/admin/bots/%d" % c.victim.id,
               json={"display_name": c.words(role, "not a bot")})


@builds(("DELETE", "/v1/admin/bots/{}", "user-target"))
def _(c, role):
    u = c.fresh_user()
    return Req("/v1/admin/bots/%d" % u.id, after=still_works(c, u.token))


@builds(("POST", "/v1/admin/bots/{}/key", "user-target"))
def _(c, role):
    return Req("/v1/admin/bots/%d/key" % c.victim.id)


# admin: the assistant, one per app (made when missing: each time with a bot of a new
# name, since a removed assistant's bot stays). Never enabled: nobody is answered.

ASSISTANT = "/v1/admin/assistant"


def assistant_model(c, app2):
    r = c.srv.get(ASSISTANT, token=app_admin_token(c, app2))
    assert r.status_code in (200, 404), r.text[:300]
    return r.json()["model"] if r.status_code == 200 else None


def assistant_both(c):
    """An assistant in each app: their models (app 1's, app 2's)."""
    models = []
    for app2 in (False, True):
        model = assistant_model(c, app2)
        if model is None:
            role = app_admin_role(app2)
            model = c.ok("PUT", ASSISTANT, app_admin_token(c, app2), json={
                "base_url": HOOK_URL % c.name(role, "llm"), "model": c.name(role, "model"),
                "username": c.name(role, "asst"), "enabled": False})["model"]
        models.append(model)
    return models


def assistant_after(c, role, models, what):
    def after(resp):
        ok = 200 <= resp.status_code < 300
        for app2, model in zip((False, True), models):
            want = what(ok, model) if app2 == (role in OTHER_APP) else model
            got = assistant_model(c, app2)
            assert got == want, "%s answered %d; app %d's assistant has model %r, want %r" % (
                role, resp.status_code, 2 if app2 else 1, got, want)
    return after


@builds(("GET", "/v1/admin/assistant"))
def _(c, role):
    models = assistant_both(c)

    def check(c, role, body):
        assert json.loads(body)["model"] == models[role in OTHER_APP], (models, body[:300])
    return Req(ASSISTANT, check=check)


@builds(("PUT", "/v1/admin/assistant"))
def _(c, role):
    models = assistant_both(c)
    new = c.name(role, "model")
    return Req(ASSISTANT, json={"base_url": HOOK_URL % c.name(role, "llm"), "model": new,
                                "enabled": False},
               after=assistant_after(c, role, models, lambda ok, m: new if ok else m))


@builds(("DELETE", "/v1/admin/assistant"))
def _(c, role):
    models = assistant_both(c)
    return Req(ASSISTANT, after=assistant_after(c, role, models,
                                                lambda ok, m: None if ok else m))


@builds(("GET", "/v1/turn"))
def _(c, role):
    def check(c, role, body):
        b = json.loads(body)
        assert b["urls"] == [TURN_URL], b
        assert b["username"].endswith(":%d" % c.who(role).id), (role, b)
    return Req("/v1/turn", check=check)


# push: devices, topics, tags, settings, categories, pushes

@builds(("POST", "/v1/devices"))
def _(c, role):
    return Req("/v1/devices", json={"platform": "fcm", "token": c.name(role, "fcm")})


@builds(("GET", "/v1/devices"))
def _(c, role):
    def check(c, role, body):
        ids = [d["id"] for d in json.loads(body)["devices"]]
        assert (c.device in ids) == (role == "member"), (role, ids)
    return Req("/v1/devices", check=check)


@builds(("DELETE", "/v1/devices/{}"))
def _(c, role):
    return Req("/v1/devices/%d" % c.new_device(user_or(c, role, c.loginee)))


@builds(("DELETE", "/v1/devices/{}", "others"))
def _(c, role):
    dev = c.new_device(c.loginee)

    def after(resp):
        ids = [d["id"] for d in c.ok("GET", "/v1/devices", c.loginee.token)["devices"]]
        assert dev in ids, "a refused request deleted someone else's device"
    return Req("/v1/devices/%d" % dev, after=after)


@builds(("PUT", "/v1/me/topics/{}"))
def _(c, role):
    return Req("/v1/me/topics/news")


@builds(("DELETE", "/v1/me/topics/{}"))
def _(c, role):
    return Req("/v1/me/topics/news")


@builds(("GET", "/v1/me/topics"))
def _(c, role):
    return Req("/v1/me/topics")


@builds(("PUT", "/v1/users/{}/tags"))
def _(c, role):
    return Req("/v1/users/%d/tags" % c.victim.id, json=VICTIM_TAGS)


@builds(("PUT", "/v1/users/{}/tags", "self"))
def _(c, role):
    return Req("/v1/users/%d/tags" % user_or(c, role, c.loginee).id, json={"plan": "silver"})


@builds(("PUT", "/v1/users/{}/tags", "other-app"))
def _(c, role):
    return Req("/v1/users/%d/tags" % c.other_app_user(role).id, json={"plan": "silver"})


@builds(("GET", "/v1/users/{}/tags"))
def _(c, role):
    return Req("/v1/users/%d/tags" % c.victim.id)


@builds(("GET", "/v1/users/{}/tags", "other-app-name"))
def _(c, role):
    return Req("/v1/users/%s/tags" % c.other_app_user(role).username)


@builds(("GET", "/v1/users"))
def _(c, role):
    return Req("/v1/users", params={"limit": 20})


@builds(("GET", "/v1/me/notification-settings"))
def _(c, role):
    return Req("/v1/me/notification-settings")


@builds(("PUT", "/v1/me/notification-settings"))
def _(c, role):
    return Req("/v1/me/notification-settings", json={})


@builds(("GET", "/v1/push/vapid-public-key"))
def _(c, role):
    return Req("/v1/push/vapid-public-key")


@builds(("GET", "/v1/push/categories"))
def _(c, role):
    def check(c, role, body):
        if role in OTHER_APP:
            assert b"sharedcat" not in body, "app 2 sees app 1's category: %r" % body
        else:
            assert b"sharedcat" in body, body
    return Req("/v1/push/categories", check=check)


@builds(("PUT", "/v1/push/categories/{}"))
def _(c, role):
    return Req("/v1/push/categories/%s" % c.name(role, "cat"), json={"urgent": False})


@builds(("DELETE", "/v1/push/categories/{}"))
def _(c, role):
    if role not in OTHER_APP:
        return Req("/v1/push/categories/%s" % c.name(role, "nocat"))

    # App 2 deletes the name app 1 uses: app 1's entry must stay.
    def after(resp):
        names = json.dumps(c.ok("GET", "/v1/push/categories", c.admin_token))
        assert "sharedcat" in names, "app 2 deleted app 1's category"
    return Req("/v1/push/categories/sharedcat", after=after)


def reaches(app1, app2):
    """A check on a push's audience, once expanded: app1 / app2 (numbers, or functions of
    the cast and role) users for a push sent by a caller of that app."""
    def check(c, role, body):
        want = app2 if role in OTHER_APP else app1
        want = want(c, role) if callable(want) else want
        pid = json.loads(body)["id"]
        done = poll_until(lambda: c.push_done(c.token(role), pid), T(10),
                          what="push %d expanded" % pid)
        assert done["counts"]["targeted"] == want, (role, want, done)
    return check


def app_users(c, role):
    return len(c.ok("GET", "/v1/admin/users", c.token(role), params={"limit": 200})["users"])


def push_req(c, role, to, check):
    return Req("/v1/push", json={"to": to, "notification": {"title": c.name(role, "push")}},
               check=check)


@builds(("POST", "/v1/push"))
def _(c, role):
    # App 1's victim: no user of app 2's.
    return push_req(c, role, {"users": [c.victim.id]}, reaches(1, 0))


@builds(("POST", "/v1/push", "other-app-user"))
def _(c, role):
    return push_req(c, role, {"users": [c.other_app_user(role).id]}, reaches(0, 0))


@builds(("POST", "/v1/push", "other-app-name"))
def _(c, role):
    return push_req(c, role, {"users": [c.other_app_user(role).username]}, reaches(0, 0))


@builds(("POST", "/v1/push", "topic"))
def _(c, role):
    return push_req(c, role, {"topic": TOPIC}, reaches(1, 0))


@builds(("POST", "/v1/push", "tags"))
def _(c, role):
    return push_req(c, role, {"tags": {"cohort": VICTIM_TAGS["cohort"]}}, reaches(1, 0))


@builds(("POST", "/v1/push", "all"))
def _(c, role):
    if role in ("key_push",):
        # A push key cannot list users; the admin's view of the same app.
        return push_req(c, role, {"all": True},
                        reaches(lambda c, r: app_users(c, "admin"), None))
    return push_req(c, role, {"all": True}, reaches(app_users, app_users))


@builds(("GET", "/v1/push"))
def _(c, role):
    return Req("/v1/push", params={"limit": 200})


@builds(("GET", "/v1/push/{}"))
def _(c, role):
    return Req("/v1/push/%d" % c.P)


@builds(("POST", "/v1/push/{}/events"))
def _(c, role):
    return Req("/v1/push/%d/events" % c.P, json={"type": "opened"})


@builds(("GET", "/v1/ws"))
def _(c, role):
    tok = c.token(role)
    extra = [("Authorization", "Bearer " + tok)] if tok else []
    return Req("/v1/ws", raw=lambda: try_handshake(c.srv.port, timeout=T(10), extra=extra))


# conversations

@builds(("POST", "/v1/conversations"))
def _(c, role):
    return Req("/v1/conversations", json={"type": "group", "title": c.name(role, "g"),
                                          "members": []})


@builds(("POST", "/v1/conversations", "other-app-peer"))
def _(c, role):
    return Req("/v1/conversations", json={"type": "direct", "peer": c.other_app_user(role).id})


@builds(("POST", "/v1/conversations", "other-app-member"))
def _(c, role):
    return Req("/v1/conversations", json={"type": "group", "title": c.name(role, "g"),
                                          "members": [c.other_app_user(role).id]})


@builds(("GET", "/v1/conversations"))
def _(c, role):
    return Req("/v1/conversations", check=sees(b"qqazm-group", IN_G))


def conv_of(c, key):
    return c.D if len(key) > 2 and key[2] == "direct" else c.G


@builds(("GET", "/v1/conversations/{}"), ("GET", "/v1/conversations/{}", "direct"))
def _(c, role, key):
    return Req("/v1/conversations/%d" % conv_of(c, key))


@builds(("PATCH", "/v1/conversations/{}"), ("PATCH", "/v1/conversations/{}", "direct"))
def _(c, role, key):
    return Req("/v1/conversations/%d" % conv_of(c, key),
               json={"description": c.words(role, "about")})


@builds(("POST", "/v1/conversations", "other-app-name"))
def _(c, role):
    return Req("/v1/conversations", json={"type": "direct",
                                          "peer": c.other_app_user(role).username})


@builds(("POST", "/v1/conversations/{}/owner"))
def _(c, role):
    return Req("/v1/conversations/%d/owner" % c.fresh_group(), json={"user": c.u["gadmin"].id})


@builds(("GET", "/v1/conversations/{}/members"),
        ("GET", "/v1/conversations/{}/members", "direct"))
def _(c, role, key):
    return Req("/v1/conversations/%d/members" % conv_of(c, key))


@builds(("POST", "/v1/conversations/{}/members"))
def _(c, role):
    return Req("/v1/conversations/%d/members" % c.fresh_group(), json={"user": c.loginee.id})


@builds(("POST", "/v1/conversations/{}/members", "direct"))
def _(c, role):
    return Req("/v1/conversations/%d/members" % c.D, json={"user": c.loginee.id})


@builds(("POST", "/v1/conversations/{}/members", "other-app-user"))
def _(c, role):
    return Req("/v1/conversations/%d/members" % c.fresh_group(),
               json={"user": c.u["other_admin"].id})


@builds(("POST", "/v1/conversations/{}/members", "other-app-name"))
def _(c, role):
    return Req("/v1/conversations/%d/members" % c.fresh_group(),
               json={"user": c.u["other_admin"].username})


@builds(("PATCH", "/v1/conversations/{}/members/{}", "role"))
def _(c, role):
    return Req("/v1/conversations/%d/members/%d" % (c.fresh_group(), c.u["member"].id),
               json={"role": "admin"})


@builds(("PATCH", "/v1/conversations/{}/members/{}", "mute"))
def _(c, role):
    return Req("/v1/conversations/%d/members/%d" % (c.fresh_group(), c.victim.id),
               json={"muted_until": now_ms() + 3600 * 1000})


@builds(("PATCH", "/v1/conversations/{}/members/{}", "mute-owner"))
def _(c, role):
    return Req("/v1/conversations/%d/members/%d" % (c.fresh_group(), c.u["owner"].id),
               json={"muted_until": now_ms() + 3600 * 1000})


@builds(("DELETE", "/v1/conversations/{}/members/{}"))
def _(c, role):
    return Req("/v1/conversations/%d/members/%d" % (c.fresh_group(), c.victim.id))


@builds(("DELETE", "/v1/conversations/{}/members/{}", "owner"))
def _(c, role):
    return Req("/v1/conversations/%d/members/%d" % (c.fresh_group(), c.u["owner"].id))


@builds(("DELETE", "/v1/conversations/{}/members/{}", "self"))
def _(c, role):
    return Req("/v1/conversations/%d/members/%d" % (c.fresh_group(),
                                                    user_or(c, role, c.victim).id))


@builds(("DELETE", "/v1/conversations/{}/members/{}", "direct"))
def _(c, role):
    return Req("/v1/conversations/%d/members/%d" % (c.D, c.u["nonmember"].id))


@builds(("GET", "/v1/conversations/{}/messages"),
        ("GET", "/v1/conversations/{}/messages", "direct"))
def _(c, role, key):
    direct = conv_of(c, key) == c.D
    return Req("/v1/conversations/%d/messages" % conv_of(c, key), params={"limit": 200},
               check=sees(D_SECRET, IN_D) if direct else sees(G_SECRET, SEES_G))


@builds(("POST", "/v1/conversations/{}/messages"),
        ("POST", "/v1/conversations/{}/messages", "direct"))
def _(c, role, key):
    return Req("/v1/conversations/%d/messages" % conv_of(c, key),
               json={"cmid": new_cmid("az"), "body": text(c.words(role, "rest"))})


@builds(("POST", "/v1/conversations/{}/messages", "foreign-file"))
def _(c, role):
    fid = c.upload(c.loginee, b"qqazm loginee's own file", "qqazm-own.txt")
    return Req("/v1/conversations/%d/messages" % c.G,
               json={"cmid": new_cmid("az"), "body": {"type": "file", "file": fid}})


def stream_msg(c, user, cid):
    return c.ok("POST", "/v1/conversations/%d/messages" % cid, user.token, json={
        "cmid": new_cmid("az"), "body": text("qqazm streaming"), "streaming": True})["seq"]


def stream_target(c, role, own):
    """(conv, seq): a streaming message in a fresh group with G's roles, the role's own
    (`own`; kicked's, sent before it was removed) or someone else's (the owner's; the
    member's for the owner)."""
    if own and role == "kicked":
        seqs = []
        cid = c.fresh_group(before_kick=lambda cid: seqs.append(
            stream_msg(c, c.u["kicked"], cid)))
        return cid, seqs[0]
    cid = c.fresh_group()
    if own and role in IN_G:
        author = c.u[role]
    else:
        author = c.u["member"] if role == "owner" else c.u["owner"]
    return cid, stream_msg(c, author, cid)


def stream_text(c, cid, seq):
    for e in c.ok("GET", "/v1/conversations/%d/messages" % cid, c.u["owner"].token,
                  params={"limit": 200})["events"]:
        if e.get("seq") == seq:
            return e["body"]["text"]
    raise AssertionError("no message %d in %d" % (seq, cid))


@builds(("POST", "/v1/conversations/{}/messages/{}/append"),
        ("POST", "/v1/conversations/{}/messages/{}/append", "others"),
        ("POST", "/v1/conversations/{}/messages/{}/replace"),
        ("POST", "/v1/conversations/{}/messages/{}/replace", "others"))
def _(c, role, key):
    cid, seq = stream_target(c, role, own=len(key) == 2)
    chunk = c.words(role, "chunk")

    def after(resp):
        now = stream_text(c, cid, seq)
        if 200 <= resp.status_code < 300:
            assert now.endswith(chunk), (now, chunk)
        else:
            assert now == "qqazm streaming", "a refused %s changed the text: %r" % (key, now)
    return Req("/v1/conversations/%d/messages/%d/%s" % (cid, seq, key[1].rsplit("/", 1)[1]),
               json={"text": chunk}, after=after)


# files and search

@builds(("POST", "/v1/files"))
def _(c, role):
    return Req("/v1/files", data=c.name(role, "bytes").encode(), params={"name": "x.txt"},
               headers={"Content-Type": "application/octet-stream"})


@builds(("GET", "/v1/files/{}"), ("GET", "/v1/files/{}", "direct"),
        ("GET", "/v1/files/{}", "unshared"))
def _(c, role, key):
    fid = {None: c.F, "direct": c.FD, "unshared": c.FU}[key[2] if len(key) > 2 else None]
    return Req("/v1/files/%d" % fid)


@builds(("GET", "/v1/files/{}/thumbnail"))
def _(c, role):
    return Req("/v1/files/%d/thumbnail" % c.F)


@builds(("GET", "/v1/search"))
def _(c, role):
    return Req("/v1/search", params={"q": "zqgsecret"}, check=sees(G_SECRET, SEES_G))


@builds(("GET", "/v1/search", "conv"))
def _(c, role):
    return Req("/v1/search", params={"q": "zqgsecret", "conv": c.G},
               check=sees(G_SECRET, SEES_G))


# -- WebSocket requests ------------------------------------------------------------------

WS_BUILD = {}


def ws_builds(*keys):
    def deco(fn):
        for k in keys:
            assert k not in WS_BUILD, k
            WS_BUILD[k] = fn
        return fn
    return deco


def own_seq(c, role):
    """A fresh message of the role's in G; kicked's pre-kick one; G's secret one for the
    rest (refused anyway)."""
    if role in IN_G:
        return c.send(c.u[role], c.G, "qqazm own")
    return c.kseq if role == "kicked" else c.gseq


@ws_builds("auth")
def _(c, role):
    return {}   # run_ws sends the role's token


@ws_builds("ping")
def _(c, role):
    return {}


@ws_builds("send")
def _(c, role):
    return dict(conv=c.G, cmid=new_cmid("az"), body=text(c.words(role, "ws")))


@ws_builds(("send", "direct"))
def _(c, role):
    return dict(conv=c.D, cmid=new_cmid("az"), body=text(c.words(role, "ws")))


@ws_builds(("send", "foreign-file"))
def _(c, role):
    fid = c.upload(c.loginee, b"qqazm loginee's file", "qqazm-own.txt")
    return dict(conv=c.G, cmid=new_cmid("az"), body={"type": "file", "file": fid})


@ws_builds("edit")
def _(c, role):
    return dict(conv=c.G, seq=c.kseq, body=text(c.words(role, "edited")))


@ws_builds(("edit", "own"))
def _(c, role):
    return dict(conv=c.G, seq=own_seq(c, role), body=text(c.words(role, "edited own")))


@ws_builds(("edit", "foreign-file"))
def _(c, role):
    fid = c.upload(c.loginee, b"qqazm loginee's file", "qqazm-own.txt")
    return dict(conv=c.G, seq=own_seq(c, role), body={"type": "file", "file": fid})


@ws_builds("recall")
def _(c, role):
    author = c.u["owner"] if role == "member" else c.u["member"]
    return dict(conv=c.G, seq=c.send(author, c.G, "qqazm to recall"))


@ws_builds(("recall", "own"))
def _(c, role):
    return dict(conv=c.G, seq=own_seq(c, role))


@ws_builds("delete")
def _(c, role):
    return dict(conv=c.G, seq=c.send(c.u["owner"], c.G, "qqazm to hide"))


@ws_builds("read", "ack")
def _(c, role):
    return dict(conv=c.G, seq=c.gseq)


@ws_builds("typing")
def _(c, role):
    return dict(conv=c.G)


@ws_builds("history")
def _(c, role):
    return dict(conv=c.G, limit=200)


@ws_builds("sync")
def _(c, role):
    return dict(convs={})


@ws_builds("search")
def _(c, role):
    return dict(q="zqgsecret")


@ws_builds(("search", "conv"))
def _(c, role):
    return dict(q="zqgsecret", conv=c.G)


@ws_builds("push_event")
def _(c, role):
    return dict(push=c.P, type="opened")


@ws_builds("append", ("append", "others"), "replace", ("replace", "others"))
def _(c, role, key):
    cid, seq = stream_target(c, role, own=isinstance(key, str))
    return dict(conv=cid, seq=seq, text=c.words(role, "chunk"))


def new_call(c, caller, kicked_too=False):
    """A call `caller` makes in a fresh group with G's roles, ringing the others: its
    id. `kicked_too`: kicked is back in the group for the invite, and removed after."""
    cid = c.fresh_group()
    own = c.u["owner"]
    kicked = c.u["kicked"]
    if kicked_too:
        c.ok("POST", "/v1/conversations/%d/members" % cid, own.token, json={"user": kicked.id})
    with Chat(c.srv, c.u[caller]) as w:
        call = w.ok("call_invite", conv=cid, media="audio")["call"]
    if kicked_too:
        c.expect("DELETE", "/v1/conversations/%d/members/%d" % (cid, kicked.id), own.token, 204)
    return call


def during_call(key):
    return isinstance(key, tuple) and key[1] == "kicked-during-call"


def caller_for(role):
    """Who calls the role: the owner; the member calls the owner."""
    return "member" if role == "owner" else "owner"


@ws_builds("call_invite")
def _(c, role):
    return dict(conv=c.fresh_group(), media="video")


@ws_builds("call_ringing", "call_accept", "call_reject", "call_hangup", ("call_cancel", "callee"),
           ("call_accept", "kicked-during-call"))
def _(c, role, key):
    return dict(call=new_call(c, caller_for(role), kicked_too=during_call(key)))


@ws_builds("call_cancel")
def _(c, role):
    return dict(call=new_call(c, role if role in IN_G else "owner"))


@ws_builds("call_signal", ("call_signal", "kicked-during-call"))
def _(c, role, key):
    caller = caller_for(role)
    return dict(call=new_call(c, caller, kicked_too=during_call(key)),
                to=c.u[caller].id, data={"type": "offer", "sdp": "v=0 zqcall"})


WS_CHECKS = {
    "history": sees(G_SECRET, SEES_G),
    "sync": lambda c, role, body: (sees(G_SECRET, SEES_G)(c, role, body),
                                   sees(D_SECRET, IN_D)(c, role, body)),
    "search": sees(G_SECRET, SEES_G),
    ("search", "conv"): sees(G_SECRET, SEES_G),
}


# -- running a cell ------------------------------------------------------------------------

def call_builder(fn, c, role, key):
    """A builder takes (cast, role), or (cast, role, key) when it serves several rows."""
    if len(inspect.signature(fn).parameters) == 3:
        return fn(c, role, key)
    return fn(c, role)


def route_re(template):
    return re.compile(re.escape(template).replace(re.escape("{}"), "[^/]+"))


def no_leak(role, path, body):
    """The answer holds nothing the role may not see."""
    if role in OTHER_APP:
        for word in (APP1, G_SECRET, D_SECRET):
            assert word not in body, "app 2's %s got app 1's %r: %r" % (role, word, body[:400])
        return
    if role in USER_ROLES and not path.startswith("/v1/admin/"):
        if role not in SEES_G:
            assert G_SECRET not in body, "%s sees G: %r" % (role, body[:400])
        if role not in IN_D:
            assert D_SECRET not in body, "%s sees D: %r" % (role, body[:400])


# Routes open to everyone answer the same whoever asks (a login answers the loginee).
PUBLIC = {k for k, row in EXPECT.items() if all(v == OK for v in row.values())}


def want_of(cell):
    return cell.want if isinstance(cell, Bug) else cell


def row_name(key):
    """GET /v1/files/{} [direct], send [direct], ping."""
    if isinstance(key, str):
        return key
    if key[0].isupper():
        return " ".join(key[:2]) + ("" if len(key) == 2 else " [%s]" % key[2])
    return "%s [%s]" % key


def cell_params(table):
    """One test per (row, role); a Bug cell is a strict xfail."""
    out = []
    for key, row in table.items():
        for role in ROLES:
            cell = row[role]
            bug = isinstance(cell, Bug)
            marks = [pytest.mark.xfail(reason=cell.why, strict=True)] if bug else []
            out.append(pytest.param(key, role, marks=marks,
                                    id="%s :: %s" % (row_name(key), role)))
    return out


@pytest.mark.parametrize("key,role", cell_params(EXPECT))
def test_route(srv, cast, key, role):
    want = want_of(EXPECT[key][role])
    method, template = key[0], key[1]
    req = call_builder(BUILD[key], cast, role, key)
    assert route_re(template).fullmatch(req.path), (req.path, template)
    if req.raw is not None:
        resp = req.raw()
        status, body = resp.status, resp.body
        code = resp.json()["error"]["code"] if status >= 400 and body else None
    else:
        token = cast.token(role) if req.token is DEFAULT else req.token
        kw = {k: v for k, v in (("json", req.json), ("params", req.params), ("data", req.data),
                                ("headers", req.headers)) if v is not None}
        resp = srv.request(method, req.path, token=token, timeout=T(30), **kw)
        status, body = resp.status_code, resp.content
        code = error_code(resp) if status >= 400 else None
    try:
        got = OK if 200 <= status < 300 or status == 101 else "%d %s" % (status, code)
        assert got == want, "%s %s as %s: got %s, want %s: %r" % (
            method, req.path, role, got, want, body[:300])
        if want == OK:
            if key not in PUBLIC:
                no_leak(role, req.path, body)
            if req.check is not None:
                req.check(cast, role, body)
    finally:
        if req.after is not None:
            req.after(resp)


@pytest.mark.parametrize("key,role", cell_params(OPS_EXPECT))
def test_ws_op(srv, cast, key, role):
    want = want_of(OPS_EXPECT[key][role])
    op = key if isinstance(key, str) else key[0]
    fields = call_builder(WS_BUILD[key], cast, role, key)
    events = []
    if role in USER_ROLES and op != "auth":
        conn = Chat(srv, cast.u[role])
        events = conn.events
    else:
        conn = WSConn(srv.port, timeout=T(10))
    with conn:
        if op == "auth":
            token = cast.token(role)
            if token is not None:
                fields["token"] = token
        elif role not in USER_ROLES and role != "anon":
            # A key, a bad or a dead token: refused, and the session stays unauthenticated.
            ans = conn.auth(cast.token(role))
            assert ans.get("error", {}).get("code") == "unauthorized", (role, ans)
        ans = conn.request(op, **fields)
        if "ok" in ans and "error" not in ans:
            got = OK
        else:
            assert "error" in ans and "ok" not in ans, ans
            got = ans["error"]["code"]
        assert got == want, "op %s as %s: got %s, want %s: %r" % (key, role, got, want, ans)
        body = json.dumps([ans] + events, ensure_ascii=False).encode()
        if want == OK:
            if op == "auth":
                assert ans["ok"]["user"]["id"] == cast.u[role].id, ans
            no_leak(role, "ws", body)
            check = WS_CHECKS.get(key)
            if check is not None:
                check(cast, role, body)
        else:
            no_leak(role, "ws", body)
        if role in USER_ROLES and (op != "auth" or got == OK):
            # The session still works after the answer.
            assert conn.request("ping").get("ok") == {}, (key, role)
