"""Message search (issue 8): word and CJK matching, snippets, who sees what (members only,
from the seq they joined, not after they left), filters, paging, ranking, and the index
following edits, recalls, deletions and restarts with search turned off and on.

Contract: docs/openapi.yaml and docs/protocol.md (search);
design: docs/internals/files-and-search.md.
"""

import sqlite3

import pytest

from chatlib import (Chat, add_member, api, create_direct, create_group, expect, now_ms,
                     remove_member, rest_send, text, users)
from conftest import T, error_code, poll_until
from fileslib import file_body, upload_ok

RESULT_KEYS = {"conv", "seq", "id", "from", "ts", "body", "snippet"}


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("--registration", "open")


def search(srv, user, q=None, status=200, code=None, **params):
    if q is not None:
        params["q"] = q
    body = expect(api(srv, "GET", "/v1/search", user, params=params), status, code)
    if status == 200:
        assert set(body) == {"results", "next_offset"}, body
        for r in body["results"]:
            assert RESULT_KEYS <= set(r) and "ev" not in r, r
            assert isinstance(r["snippet"], list) and r["snippet"], r
    return body


def texts(srv, user, q, **params):
    """The texts of the messages found for q, in the order given."""
    return [r["body"].get("text") for r in search(srv, user, q, **params)["results"]]


def found(srv, user, q, **params):
    return set(texts(srv, user, q, **params))


def say(srv, user, cid, *lines):
    """Sends each line as a text message; returns the acks."""
    return [rest_send(srv, user, cid, text(s)) for s in lines]


def snippet_text(result):
    return "".join(p["text"] for p in result["snippet"])


def merged(result):
    """The snippet with neighbouring parts of the same kind joined (the split is free)."""
    out = []
    for p in result["snippet"]:
        assert set(p) <= {"text", "hit"} and p["text"] and p.get("hit", True) is True, p
        if out and bool(out[-1].get("hit")) == bool(p.get("hit")):
            out[-1] = dict(out[-1], text=out[-1]["text"] + p["text"])
        else:
            out.append(dict(p))
    return out


def hits(result):
    return [p["text"] for p in result["snippet"] if p.get("hit")]


@pytest.fixture
def pair(srv):
    """Two users and their direct conversation."""
    a, b = users(srv, 2)
    return a, b, create_direct(srv, a, b.id)["id"]


# -- matching: Latin ----------------------------------------------------------------------------

def test_words_case_and_accents(srv, pair):
    a, b, d = pair
    say(srv, a, d, "Café au lait", "the cat sat on the mat", "concatenate strings",
        "ＨＥＬＬＯ from a full-width keyboard", "naïve résumé", "Ünïcödé ÅNGSTRÖM")
    assert found(srv, b, "cafe") == {"Café au lait"}
    assert found(srv, b, "CAFÉ") == {"Café au lait"}
    assert found(srv, b, "Cafe") == {"Café au lait"}
    assert found(srv, b, "cat") == {"the cat sat on the mat"}, "whole words only"
    assert found(srv, b, "concat") == set(), "no prefix search"
    assert found(srv, b, "hello") == {"ＨＥＬＬＯ from a full-width keyboard"}
    assert found(srv, b, "resume") == {"naïve résumé"}
    assert found(srv, b, "NAIVE") == {"naïve résumé"}
    assert found(srv, b, "angstrom unicode") == {"Ünïcödé ÅNGSTRÖM"}
    assert found(srv, b, "mat") == {"the cat sat on the mat"}
    assert found(srv, b, "dog") == set()


def test_every_term_must_match(srv, pair):
    a, b, d = pair
    say(srv, a, d, "the quick brown fox", "the quick red cat", "a lazy brown dog")
    assert found(srv, b, "quick") == {"the quick brown fox", "the quick red cat"}
    assert found(srv, b, "quick brown") == {"the quick brown fox"}
    assert found(srv, b, "brown   QUICK") == {"the quick brown fox"}
    assert found(srv, b, "quick brown elephant") == set()
    assert found(srv, b, "brown\u3000dog") == {"a lazy brown dog"}, "ideographic space"


# -- matching: Chinese, Japanese, mixed ---------------------------------------------------------

def test_chinese_substrings(srv, pair):
    a, b, d = pair
    say(srv, a, d, "我在北京大学读书", "南京", "北京欢迎你", "大家好")
    assert found(srv, b, "北京") == {"我在北京大学读书", "北京欢迎你"}
    assert found(srv, b, "京") == {"我在北京大学读书", "南京", "北京欢迎你"}
    assert found(srv, b, "北") == {"我在北京大学读书", "北京欢迎你"}
    assert found(srv, b, "大学") == {"我在北京大学读书"}
    assert found(srv, b, "北京大") == {"我在北京大学读书"}
    assert found(srv, b, "北京大学读书") == {"我在北京大学读书"}
    assert found(srv, b, "我在北京大学读书") == {"我在北京大学读书"}
    assert found(srv, b, "大") == {"我在北京大学读书", "大家好"}
    assert found(srv, b, "北大") == set(), "non-adjacent characters do not match"
    assert found(srv, b, "北学") == set()
    assert found(srv, b, "京北") == set()
    assert found(srv, b, "上海") == set()
    assert found(srv, b, "北京 读书") == {"我在北京大学读书"}, "two CJK terms, both required"
    assert found(srv, b, "北京 上海") == set()


def test_japanese_kana(srv, pair):
    a, b, d = pair
    say(srv, a, d, "これはひらがなのテストです", "カタカナだけ")
    assert found(srv, b, "ひらがな") == {"これはひらがなのテストです"}
    assert found(srv, b, "テスト") == {"これはひらがなのテストです"}
    assert found(srv, b, "カタ") == {"カタカナだけ"}
    assert found(srv, b, "カナ") == {"カタカナだけ"}
    assert found(srv, b, "ひがら") == set()


def test_mixed_script_terms_are_phrases(srv, pair):
    a, b, d = pair
    say(srv, a, d, "我买了iPhone手机壳", "iPhone和手机", "手机iPhone")
    assert found(srv, b, "iPhone手机") == {"我买了iPhone手机壳"}
    assert found(srv, b, "iphone手机") == {"我买了iPhone手机壳"}
    assert found(srv, b, "iPhone") == {"我买了iPhone手机壳", "iPhone和手机", "手机iPhone"}
    assert found(srv, b, "iPhone 手机") == {"我买了iPhone手机壳", "iPhone和手机", "手机iPhone"}


# -- snippets -----------------------------------------------------------------------------------

def test_snippet_marks_the_match(srv, pair):
    a, b, d = pair
    say(srv, a, d, "Meet me at the Café tomorrow", "我在北京大学读书")
    (r,) = search(srv, b, "cafe")["results"]
    assert snippet_text(r) == "Meet me at the Café tomorrow"
    assert hits(r) == ["Café"]
    assert merged(r)[0] == {"text": "Meet me at the "}
    (r,) = search(srv, b, "北京")["results"]
    assert snippet_text(r) == "我在北京大学读书"
    assert merged(r) == [{"text": "我在"}, {"text": "北京", "hit": True}, {"text": "大学读书"}]
    (r,) = search(srv, b, "京")["results"]
    assert hits(r) == ["京"]
    (r,) = search(srv, b, "北京大学")["results"]
    assert hits(r) == ["北京大学"] and snippet_text(r) == "我在北京大学读书"


def test_snippet_of_repeated_characters_is_the_text_once(srv, pair):
    """Matches at neighbouring positions overlap (谢谢, 谢你): marked once, never copied."""
    a, b, d = pair
    say(srv, a, d, "谢谢你的帮助", "哈哈哈哈")
    (r,) = search(srv, b, "谢")["results"]
    assert snippet_text(r) == "谢谢你的帮助" and hits(r) == ["谢"], r["snippet"]
    (r,) = search(srv, b, "哈哈")["results"]
    assert snippet_text(r) == "哈哈哈哈" and hits(r) == ["哈哈"], r["snippet"]


def test_snippet_of_a_long_message_is_cut_around_the_hit(srv, pair):
    a, b, d = pair
    words = ["filler" + chr(ord("a") + i % 26) for i in range(150)]
    words[100] = "needle"
    say(srv, a, d, " ".join(words))
    (r,) = search(srv, b, "needle")["results"]
    assert hits(r) == ["needle"]
    s = snippet_text(r)
    assert len(s) < len(" ".join(words)) and "…" in s, s
    assert "needle" in s


def test_snippet_marks_every_occurrence(srv, pair):
    a, b, d = pair
    say(srv, a, d, "apple and another apple")
    (r,) = search(srv, b, "apple")["results"]
    assert hits(r) == ["apple", "apple"]
    assert snippet_text(r) == "apple and another apple"


def test_snippet_hit_of_a_mixed_term_is_the_term(srv, pair):
    a, b, d = pair
    say(srv, a, d, "我买了iPhone手机壳")
    (r,) = search(srv, b, "iPhone手机")["results"]
    assert hits(r) == ["iPhone手机"], r["snippet"]


# -- who sees what ------------------------------------------------------------------------------

def test_non_members_see_nothing(srv):
    a, b, c = users(srv, 3)
    g = create_group(srv, a, [b])["id"]
    say(srv, a, g, "confidential merger plans")
    assert found(srv, b, "merger") == {"confidential merger plans"}
    assert found(srv, a, "merger") == {"confidential merger plans"}, "own messages too"
    assert found(srv, c, "merger") == set()


@pytest.mark.parametrize("how", ["left", "kicked"])
def test_member_who_left_sees_nothing_from_that_conversation(srv, how):
    a, b = users(srv, 2)
    g = create_group(srv, a, [b])["id"]
    d = create_direct(srv, a, b.id)["id"]
    say(srv, a, g, "zeppelin in the group")
    say(srv, a, d, "zeppelin in the direct chat")
    say(srv, b, g, "zeppelin said by b")
    assert found(srv, b, "zeppelin") == {"zeppelin in the group", "zeppelin in the direct chat",
                                         "zeppelin said by b"}
    remove_member(srv, b if how == "left" else a, g, b)
    assert found(srv, b, "zeppelin") == {"zeppelin in the direct chat"}, \
        "messages of a conversation the user left are still found"
    search(srv, b, "zeppelin", status=404, code="not_found", conv=g)
    # The others still find everything.
    assert len(search(srv, a, "zeppelin", conv=g)["results"]) == 2


def test_member_added_later_sees_only_what_came_after(srv):
    a, b, c = users(srv, 3)
    g = create_group(srv, a, [b])["id"]
    say(srv, a, g, "walrus before c joined")
    add_member(srv, a, g, c)
    say(srv, a, g, "walrus after c joined")
    assert found(srv, b, "walrus") == {"walrus before c joined", "walrus after c joined"}
    assert found(srv, c, "walrus") == {"walrus after c joined"}
    assert found(srv, c, "walrus", conv=g) == {"walrus after c joined"}


def test_rejoining_does_not_bring_back_the_gap(srv):
    a, b = users(srv, 2)
    g = create_group(srv, a, [b])["id"]
    say(srv, a, g, "ocelot one")
    remove_member(srv, b, g, b)
    say(srv, a, g, "ocelot two")
    add_member(srv, a, g, b)
    say(srv, a, g, "ocelot three")
    assert found(srv, b, "ocelot") == {"ocelot three"}


# -- filters ------------------------------------------------------------------------------------

def test_conv_filter(srv):
    a, b, c = users(srv, 3)
    g1 = create_group(srv, a, [b])["id"]
    g2 = create_group(srv, a, [b])["id"]
    g3 = create_group(srv, c, [])["id"]
    say(srv, a, g1, "narwhal one")
    say(srv, a, g2, "narwhal two")
    say(srv, c, g3, "narwhal three")
    assert found(srv, b, "narwhal") == {"narwhal one", "narwhal two"}
    assert found(srv, b, "narwhal", conv=g1) == {"narwhal one"}
    assert found(srv, b, "narwhal", conv=g2) == {"narwhal two"}
    for conv in (g3, 987654321):
        r = search(srv, b, "narwhal", status=404, conv=conv)
        assert r["error"]["code"] == "not_found"
    search(srv, b, "narwhal", status=400, code="bad_request", conv="abc")


def test_from_filter(srv):
    a, b, c = users(srv, 3)
    g = create_group(srv, a, [b, c])["id"]
    say(srv, a, g, "pelican by a")
    say(srv, b, g, "pelican by b")
    say(srv, c, g, "pelican by c")
    assert found(srv, a, "pelican", **{"from": b.id}) == {"pelican by b"}
    assert found(srv, a, "pelican", **{"from": a.id}) == {"pelican by a"}
    assert found(srv, a, "pelican", **{"from": 987654321}) == set()
    for r in search(srv, a, "pelican", **{"from": c.id})["results"]:
        assert r["from"] == c.id
    search(srv, a, "pelican", status=400, code="bad_request", **{"from": "bob"})


def test_before_and_after_are_exclusive_ts_bounds(srv, pair):
    a, b, d = pair
    acks = []
    for i in range(4):
        if acks:
            last = acks[-1]["ts"]
            poll_until(lambda: now_ms() > last + 1, T(2), interval=0.002, what="the next ms")
        acks.append(rest_send(srv, a, d, text("lemur %d" % i)))
    ts = [x["ts"] for x in acks]
    assert ts == sorted(ts) and len(set(ts)) == 4, ts
    assert found(srv, b, "lemur", before=ts[2]) == {"lemur 0", "lemur 1"}
    assert found(srv, b, "lemur", after=ts[1]) == {"lemur 2", "lemur 3"}
    assert found(srv, b, "lemur", after=ts[0], before=ts[3]) == {"lemur 1", "lemur 2"}
    assert found(srv, b, "lemur", after=ts[1], before=ts[2]) == set()
    assert found(srv, b, "lemur", before=ts[0]) == set()
    assert found(srv, b, "lemur", after=ts[3]) == set()
    for r in search(srv, b, "lemur")["results"]:
        assert r["ts"] in ts and r["seq"] in [x["seq"] for x in acks]


# -- paging and ranking -------------------------------------------------------------------------

def test_paging_finds_everything_once(srv, pair):
    a, b, d = pair
    lines = ["wombat number %d" % i for i in range(25)]
    say(srv, a, d, *lines)
    seen = []
    offset = 0
    pages = []
    for _ in range(10):
        body = search(srv, b, "wombat", limit=10, offset=offset)
        pages.append(len(body["results"]))
        seen += [r["id"] for r in body["results"]]
        if body["next_offset"] is None:
            break
        assert body["next_offset"] == offset + 10
        offset = body["next_offset"]
    assert pages == [10, 10, 5], pages
    assert len(seen) == len(set(seen)) == 25
    assert sorted(texts(srv, b, "wombat", limit=100)) == sorted(lines)
    whole = search(srv, b, "wombat", limit=25)
    assert len(whole["results"]) == 25 and whole["next_offset"] is None
    assert [r["id"] for r in whole["results"]] == seen, "pages follow the one order"
    assert search(srv, b, "wombat", limit=24)["next_offset"] == 24
    past = search(srv, b, "wombat", offset=25)
    assert past == {"results": [], "next_offset": None}
    assert len(search(srv, b, "wombat")["results"]) == 20, "default limit"


def test_next_offset_is_always_a_valid_offset(srv, pair):
    a, b, d = pair
    for i in range(1011):
        rest_send(srv, a, d, text("profuse %d" % i))
    for offset, limit in ((990, 20), (1000, 10), (900, 100), (0, 100)):
        body = search(srv, b, "profuse", offset=offset, limit=limit)
        assert len(body["results"]) == limit, (offset, limit)
        nxt = body["next_offset"]
        if nxt is not None:
            assert nxt == offset + limit
            follow = api(srv, "GET", "/v1/search", b,
                         params={"q": "profuse", "offset": nxt, "limit": limit})
            assert follow.status_code == 200, (offset, limit, nxt, follow.text)


def test_ranking_more_occurrences_first_then_newest(srv, pair):
    a, b, d = pair
    once = rest_send(srv, a, d, text("mango kiwi pear"))
    twice = rest_send(srv, a, d, text("mango mango pear"))
    once2 = rest_send(srv, a, d, text("mango kiwi plum"))
    ids = [r["id"] for r in search(srv, b, "mango")["results"]]
    assert ids[0] == twice["id"], ids
    assert set(ids) == {once["id"], twice["id"], once2["id"]}
    # Equal rank: the newest first.
    t1 = rest_send(srv, a, d, text("identical tapir"))
    t2 = rest_send(srv, a, d, text("identical tapir"))
    assert [r["id"] for r in search(srv, b, "tapir")["results"]] == [t2["id"], t1["id"]]


# -- the index follows changes ------------------------------------------------------------------

def test_edit_reindexes(srv, pair):
    a, b, d = pair
    (m,) = say(srv, a, d, "the old giraffe")
    with Chat(srv, a) as w:
        w.ok("edit", conv=d, seq=m["seq"], body=text("the new hippo"))
    assert found(srv, b, "giraffe") == set()
    (r,) = search(srv, b, "hippo")["results"]
    assert r["body"] == text("the new hippo") and r["seq"] == m["seq"] and r["id"] == m["id"]
    assert r["edited"] is True and isinstance(r["edited_at"], int)
    assert found(srv, b, "old") == set() and found(srv, b, "new") == {"the new hippo"}


def test_recall_removes_from_results(srv, pair):
    a, b, d = pair
    (m, keep) = say(srv, a, d, "oops wrong chat armadillo", "armadillo stays")
    with Chat(srv, a) as w:
        w.ok("recall", conv=d, seq=m["seq"])
    assert found(srv, b, "armadillo") == {"armadillo stays"}
    assert found(srv, a, "armadillo") == {"armadillo stays"}
    assert found(srv, b, "oops") == set()


def test_delete_for_me_hides_only_for_that_user(srv, pair):
    a, b, d = pair
    (m,) = say(srv, a, d, "hide this platypus")
    with Chat(srv, b) as w:
        assert w.ok("delete", conv=d, seq=m["seq"]) == {}
    assert found(srv, b, "platypus") == set()
    assert found(srv, a, "platypus") == {"hide this platypus"}


def test_deleted_conversation_leaves_the_results(srv):
    a, b = users(srv, 2)
    g = create_group(srv, a, [b])["id"]
    keep = create_group(srv, a, [b])["id"]
    say(srv, a, g, "flamingo doomed")
    say(srv, a, keep, "flamingo kept")
    assert found(srv, b, "flamingo") == {"flamingo doomed", "flamingo kept"}
    r = api(srv, "DELETE", "/v1/admin/conversations/%d" % g, srv.admin_token())
    assert r.status_code == 204, r.text
    assert found(srv, b, "flamingo") == {"flamingo kept"}
    assert found(srv, a, "flamingo") == {"flamingo kept"}


def test_file_messages_are_found_by_name(srv, pair):
    a, b, d = pair
    f = upload_ok(srv, a, b"%PDF-1.4\n%%EOF\n", "quarterly-report.pdf")
    rest_send(srv, a, d, file_body(f))
    g = upload_ok(srv, a, b"annual", "年度报告.pdf")
    rest_send(srv, a, d, file_body(g))
    (r,) = search(srv, b, "quarterly")["results"]
    assert r["body"]["file"] == f["id"] and r["body"]["name"] == "quarterly-report.pdf"
    assert "quarterly" in "".join(hits(r)).lower()
    assert [x["body"]["file"] for x in search(srv, b, "report")["results"]] == [f["id"]]
    assert [x["body"]["file"] for x in search(srv, b, "报告")["results"]] == [g["id"]]
    # A caption (text) and a name are both searched.
    h = upload_ok(srv, a, b"img", "beach.txt")
    rest_send(srv, a, d, dict(file_body(h), text="sunset photo"))
    assert [x["body"]["file"] for x in search(srv, b, "sunset beach")["results"]] == [h["id"]]


def test_websocket_search_answers_like_rest(srv, pair):
    a, b, d = pair
    say(srv, a, d, "koala one", "koala two", "koala three 北京")
    with Chat(srv, b) as w:
        for params in ({"q": "koala"}, {"q": "koala", "limit": 2}, {"q": "koala", "offset": 1},
                       {"q": "koala", "conv": d}, {"q": "北京"}, {"q": "nothing"}):
            ws = w.ok("search", **params)
            rest = search(srv, b, **params)
            assert ws == rest, params
        assert w.err("search", q="koala", conv=987654321) == "not_found"
        assert w.err("search") == "bad_request"
        assert w.err("search", q="!!!") == "bad_request"
        assert w.err("search", q="koala", limit=0) == "bad_request"
        w.ping_ok()


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {}, {"q": ""}, {"q": "   "}, {"q": "!!! ??? ..."}, {"q": "😀 🎉"}, {"q": "a" * 257},
    {"q": "北" * 86}, {"q": " ".join("t%d" % i for i in range(17))},
    {"q": "x", "limit": 0}, {"q": "x", "limit": 101}, {"q": "x", "limit": -1},
    {"q": "x", "limit": "ten"}, {"q": "x", "offset": 1001}, {"q": "x", "offset": -1},
    {"q": "x", "conv": "abc"}, {"q": "x", "from": "abc"}, {"q": "x", "before": "yesterday"},
    {"q": "x", "after": "1.5"},
], ids=lambda p: ",".join("%s=%s" % (k, str(v)[:12]) for k, v in p.items()) or "no-q")
def test_bad_search_input_is_400(srv, params):
    a = srv.new_user()
    r = api(srv, "GET", "/v1/search", a, params=params)
    assert r.status_code == 400 and error_code(r) == "bad_request", (params, r.text)


@pytest.mark.parametrize("params", [
    {"q": "a" * 256}, {"q": "北" * 85}, {"q": " ".join("t%d" % i for i in range(16))},
    {"q": "x", "limit": 1}, {"q": "x", "limit": 100}, {"q": "x", "offset": 1000},
    {"q": "x", "offset": 0}, {"q": "x", "before": 1, "after": 0},
], ids=lambda p: ",".join("%s=%s" % (k, str(v)[:12]) for k, v in p.items()))
def test_search_input_at_the_bounds_is_accepted(srv, params):
    a = srv.new_user()
    r = api(srv, "GET", "/v1/search", a, params=params)
    assert r.status_code == 200, (params, r.text)
    assert r.json() == {"results": [], "next_offset": None}


def test_search_needs_a_user_session(srv):
    r = srv.get("/v1/search", params={"q": "x"})
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    key = expect(srv.post("/v1/admin/api-keys", token=srv.admin_token(),
                          json={"name": "search-key", "scopes": ["push", "users", "admin"]}),
                 201)["key"]
    r = api(srv, "GET", "/v1/search", key, params={"q": "x"})
    assert r.status_code in (401, 403), r.text


INJECTIONS = ['"', '""', '"unbalanced', 'NEAR(', 'NEAR(a b)', '*', 'a*', 'OR', 'AND', 'NOT',
              'a OR b', 'a NOT b', 'text:x', 'name:x', '{text name}:x', '^', '^start', '(', ')',
              'a)', "'", "\\", '-x', '+x', 'col : x', '"a" "b"', 'x"; DROP TABLE events; --',
              'message_search', 'rank', '%', '_', 'a\tb', 'NEAR/2']


@pytest.mark.parametrize("q", INJECTIONS)
def test_fts_syntax_is_just_text(srv, q):
    a = srv.new_user()
    r = api(srv, "GET", "/v1/search", a, params={"q": q})
    assert r.status_code in (200, 400), (q, r.status_code, r.text)
    if r.status_code == 400:
        assert r.json()["error"]["message"] == "the query has nothing to search for", r.text
        assert not any(c.isalnum() for c in q), "a query with words was refused: %r" % q


def test_operators_are_matched_as_words(srv, pair):
    a, b, d = pair
    say(srv, a, d, "alpha", "beta", "alpha OR beta written out", "see text:x here",
        "NEAR the end", "alphabet soup")
    assert found(srv, b, "alpha OR beta") == {"alpha OR beta written out"}
    assert found(srv, b, "OR") == {"alpha OR beta written out"}
    assert found(srv, b, "text:x") == {"see text:x here"}
    assert found(srv, b, "NEAR(the") == {"NEAR the end"}
    assert found(srv, b, "alpha*") == {"alpha", "alpha OR beta written out"}, \
        "* is not a prefix operator"
    assert found(srv, b, "alph*") == set()
    assert found(srv, b, "NOT alpha") == set()
    assert found(srv, b, '"alpha"') == {"alpha", "alpha OR beta written out"}
    assert found(srv, b, "^alpha") == {"alpha", "alpha OR beta written out"}


# -- search off, and the index rebuilt ----------------------------------------------------------

def test_search_turned_off_is_503(server_factory):
    s = server_factory.new("--registration", "open", "--search", "no")
    a, b = users(s, 2)
    d = create_direct(s, a, b.id)["id"]
    say(s, a, d, "indexed nowhere")
    r = api(s, "GET", "/v1/search", b, params={"q": "indexed"})
    assert r.status_code == 503 and error_code(r) == "unavailable", r.text
    assert r.json()["error"]["message"] == "search is turned off on this server"
    with Chat(s, b) as w:
        assert w.err("search", q="indexed") == "unavailable"
        w.ping_ok()


def test_index_is_rebuilt_when_search_is_turned_back_on(server_factory):
    s = server_factory.new("--registration", "open")
    a, b = users(s, 2)
    d = create_direct(s, a, b.id)["id"]
    g = create_group(s, a, [b])["id"]
    (first,) = say(s, a, d, "capybara before")
    (gone,) = say(s, a, g, "capybara recalled while off")
    assert found(s, b, "capybara") == {"capybara before", "capybara recalled while off"}
    s.stop()
    s.args += ["--search", "no"]
    s.start()
    assert api(s, "GET", "/v1/search", b, params={"q": "capybara"}).status_code == 503
    (during,) = say(s, a, d, "capybara while off")
    with Chat(s, a) as w:
        w.ok("edit", conv=d, seq=first["seq"], body=text("capybara before, edited while off"))
        w.ok("recall", conv=g, seq=gone["seq"])
    s.stop()
    s.args = s.args[:-2] + ["--search", "yes"]
    s.start()
    assert found(s, b, "capybara") == {"capybara before, edited while off",
                                       "capybara while off"}
    assert found(s, b, "edited") == {"capybara before, edited while off"}
    # And it keeps following new messages.
    say(s, a, d, "capybara after")
    assert len(search(s, b, "capybara")["results"]) == 3
    s.stop()
    s.start()
    assert len(search(s, b, "capybara")["results"]) == 3


def test_index_made_with_an_older_token_layout_is_rebuilt(server_factory):
    """An index whose layout (search_layout) is not the server's is made again at start,
    so an upgrade that changes what a text becomes never answers from stale terms."""
    s = server_factory.new("--registration", "open")
    a, b = users(s, 2)
    d = create_direct(s, a, b.id)["id"]
    say(s, a, d, "我在北京大学读书", "南京 nanjing")
    s.stop()
    rebuilt = "search: indexed the stored messages"
    before = s.log_text().count(rebuilt)
    db = sqlite3.connect(s.data_dir / "pipit.db")
    with db:
        assert db.execute("SELECT version FROM search_layout").fetchall() == [(2,)]
        db.execute("UPDATE search_layout SET version = 1")
    db.close()
    s.start()
    assert s.log_text().count(rebuilt) == before + 1, s.log_tail()
    assert found(s, b, "北京") == {"我在北京大学读书"}
    assert found(s, b, "京") == {"我在北京大学读书", "南京 nanjing"}
    assert found(s, b, "nanjing") == {"南京 nanjing"}
    s.stop()
    db = sqlite3.connect(s.data_dir / "pipit.db")
    assert db.execute("SELECT version FROM search_layout").fetchall() == [(2,)]
    db.close()
    # Once recorded, a start does not rebuild again.
    s.start()
    assert s.log_text().count(rebuilt) == before + 1
    assert found(s, b, "大学") == {"我在北京大学读书"}
