"""A world for the retention, legal hold and export tests: one server, two users, a direct
conversation and a group, and a clock that moves.

Time: pipitd's wall clock is shifted with PIPIT_CLOCK_OFFSET_MS, and a restart moves it
forward (the data persists), so messages sent before it are days old after it. Offsets
only grow, so the users' tokens (30 days) stay valid.
"""

import sealing

from chatlib import Chat, api, create_direct, create_group, expect, rest_history, rest_send, text

DAY = 86400000
SLOW = "1d"      # a sweep that never comes during a test
FAST = "200ms"


class World:
    """One server, two users, a direct conversation and a group, and a movable clock."""

    def __init__(self, server_factory, sweep=SLOW, *args):
        self.offset = 0
        self.srv = server_factory.new("--retention-sweep-interval", sweep, *args, start=False,
                                      env={"PIPIT_CLOCK_OFFSET_MS": "0"})
        self.srv.start()
        self.admin = self.srv.admin_token()
        self.a = self.srv.create_user()
        self.b = self.srv.create_user()
        self.direct = create_direct(self.srv, self.a, self.b.id)["id"]
        self.group = create_group(self.srv, self.a, [self.b], title="team")["id"]

    def age(self, days, sweep=None):
        """Restarts the server `days` later; optionally with another sweep interval."""
        self.srv.stop()
        self.offset += days * DAY
        self.srv.env["PIPIT_CLOCK_OFFSET_MS"] = str(self.offset)
        if sweep is not None:
            i = self.srv.args.index("--retention-sweep-interval")
            self.srv.args[i + 1] = sweep
        self.srv.start()

    def send(self, user, conv, words):
        return rest_send(self.srv, user, conv, body=text(words))

    def op(self, user, op, **fields):
        """A WebSocket op's answer: ("ok", result) or ("error", code)."""
        c = Chat(self.srv, user)
        try:
            ans = c.request(op, **fields)
        finally:
            c.close()
        return ("ok", ans["ok"]) if "ok" in ans else ("error", ans["error"]["code"])

    def edit(self, user, conv, seq, words):
        return self.op(user, "edit", conv=conv, seq=seq, body=text(words))

    def keep(self, status=200, **settings):
        return expect(api(self.srv, "PATCH", "/v1/admin/app", self.admin, settings), status)

    def keep_conv(self, conv, status=200, **settings):
        return expect(api(self.srv, "PATCH", "/v1/admin/conversations/%d" % conv, self.admin,
                          settings), status)

    def texts(self, user, conv):
        """The texts of the messages user sees in conv, oldest first."""
        events = sorted(rest_history(self.srv, user, conv, limit=100)["events"],
                        key=lambda e: e["seq"])
        return [e["body"]["text"] for e in events
                if e["ev"] == "message" and "text" in e.get("body", {})]

    def search(self, user, q):
        r = api(self.srv, "GET", "/v1/search", user, params={"q": q})
        return [h["body"]["text"] for h in expect(r, 200)["results"]]

    def db(self):
        """The store, with pipit_unseal to read bodies however they are stored."""
        return sealing.connect(self.srv.data_dir, timeout=10)

    def rows(self, sql, *args):
        c = self.db()
        try:
            return c.execute(sql, args).fetchall()
        finally:
            c.close()

    def stored(self, words):
        """How many stored events (messages and edits) hold `words`, whatever reads show."""
        return self.rows("SELECT count(*) FROM events WHERE pipit_unseal(body, conv_id, seq) "
                         "LIKE ?", "%" + words + "%")[0][0]

    def hold(self, status=201, **target):
        body = dict(target)
        body.setdefault("reason", "case 2026-17")
        return expect(api(self.srv, "POST", "/v1/admin/holds", self.admin, body), status)

    def lift(self, hold_id, status=200):
        return expect(api(self.srv, "DELETE", "/v1/admin/holds/%d" % hold_id, self.admin), status)
