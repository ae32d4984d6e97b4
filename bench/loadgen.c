/*
 * pipit-loadgen: drives many authenticated WebSocket sessions against pipitd.
 *
 *   pipit-loadgen --mode idle   --port P --token T --server-pid PID [--conns N] [--procs K]
 *   pipit-loadgen --mode pairs  --port P --setup FILE [--procs K] [--window W]
 *                 [--warmup S] [--duration S] [--rate R] [--text-bytes B] [--words 1]
 *                 [--server-pid PID]
 *   pipit-loadgen --mode fanout --port P --setup FILE [--procs K] [--window W]
 *                 [--messages M] [--duration S] [--rate R] [--server-pid PID]
 *
 * idle:   N sessions (one token) each do the handshake, authenticate and answer one
 *         ping op, then stay idle. The parent reads the server's VmRSS before and
 *         after and prints bytes per connection, plus the connect+auth rate.
 * pairs:  the setup file (bench/chat_setup.py writes it) has lines "S CONV TOKEN"
 *         (a sender) and "R CONV TOKEN" (a receiver). Every sender keeps W `send`
 *         ops unacknowledged (or, with --rate, sends at R messages/s in total, evenly
 *         paced, W still capping what is in flight). The body's "tag" holds the
 *         intended send time, so a receiver knows its latency; its text is 'x'
 *         padding, or with --words 1, English-like and Chinese words as chat has, so
 *         that the search index works as hard as it would (the tag is not indexed:
 *         no chat has two unique numbers in every message). After a warm-up, for
 *         --duration seconds: delivered messages/s (ev:"message" frames seen by the
 *         receivers), and send→ack / send→receive latency percentiles of the
 *         messages sent in that window (the senders keep going for TAIL_SECONDS so
 *         late answers are still counted).
 * fanout: the same file with one "S" line (the sender, a member of the group) and
 *         N "R" lines (the other members). The sender sends M messages (window W);
 *         the run ends when every receiver has all of them, or after --duration
 *         seconds. Deliveries/s = ev:"message" frames at the receivers / (last
 *         delivery - first send); per message, the time until the last member had
 *         it (p50/p99/max).
 *
 * Sessions are spread over K processes (the open-file cap is 20k per process here),
 * each binding its sockets to its own source address (127.0.0.2, 127.0.0.3, …) so
 * ephemeral ports never run out. One epoll loop per process, non-blocking sockets,
 * writes batched per loop turn, at most MAX_CONNECTING handshakes in flight.
 * Latencies go into log-linear histograms (64 sub-buckets per power of two: ±1.6 %),
 * merged by the parent. Bounded: every phase has a deadline.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTING 512
#define SETUP_SECONDS 120
#define TAIL_SECONDS 1
#define SCRATCH (256 * 1024)
#define WINDOW_MAX 4096
#define MAX_PROCS 64
#define SUB_BITS 6
#define SUB (1 << SUB_BITS)
#define HBUCKETS (SUB + (64 - SUB_BITS) * (SUB / 2))
#define NS 1000000000LL

enum mode { M_IDLE, M_PAIRS, M_FANOUT };
enum state { S_CONNECTING, S_HANDSHAKE, S_AUTH, S_PING, S_READY, S_FAILED };
enum role { R_IDLE, R_SEND, R_RECV };

struct session {
    int fd;
    uint8_t state, role;
    bool dirty, want_out;
    int64_t conv;
    const char *token;
    char *in, *out;
    uint32_t in_len, in_cap, out_len, out_cap;
    /* senders */
    int64_t *slot_ts; /* intended send time per window slot (ns), -1 when free */
    uint16_t *free_slot;
    int nfree;
    uint64_t counter; /* messages sent by this session */
};

/* What a child sends its parent at the end (then, in fanout mode, M int64 + M int32). */
struct stats {
    int64_t sent, acked, errors, received, disconnects;
    int64_t first_send, first_recv, last_recv;
    int64_t late_sum, late_max, late_n;
    uint64_t h_ack[HBUCKETS], h_recv[HBUCKETS];
    char first_error[256];
};

static enum mode opt_mode = M_IDLE;
static int opt_port;
static const char *opt_token;
static const char *opt_setup;
static int opt_conns = 10000;
static int opt_procs = 4;
static int opt_pid;
static int opt_window = 16;
static double opt_warmup = 3, opt_duration = 10, opt_rate;
static long opt_messages = 1000;
static int opt_text_bytes = 64;
static bool opt_words;

/* Per process (child) state. */
static struct session *ss;
static int nss;
static struct session **dirty;
static int ndirty;
static int epfd;
static struct stats st;
static int64_t t_go = -1, t_meas0, t_meas1, t_stop;
static int64_t *fan_maxlat;
static int32_t *fan_cnt;
static int64_t fan_expected, fan_got;
static char nonce[24];
static char scratch[SCRATCH + 1];
static int ctl_marker; /* its address tags the control pipe in epoll */
static int g_ready, g_failed; /* sessions that came up / failed before coming up */

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = { .tv_sec = t / NS, .tv_nsec = t % NS };

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* ---- histograms ---------------------------------------------------------------- */

static int hbucket(uint64_t v)
{
    int m, shift;

    if (v < SUB) {
        return (int)v;
    }
    m = 63 - __builtin_clzll(v);
    shift = m - SUB_BITS + 1;
    return SUB + (shift - 1) * (SUB / 2) + (int)((v >> shift) - SUB / 2);
}

/* The middle of bucket i. */
static double hvalue(int i)
{
    int k, shift;
    uint64_t sub;

    if (i < SUB) {
        return i;
    }
    k = i - SUB;
    shift = k / (SUB / 2) + 1;
    sub = (uint64_t)(k % (SUB / 2) + SUB / 2);
    return (double)(sub << shift) + (double)(1ULL << shift) / 2;
}

static void hadd(uint64_t *h, int64_t v)
{
    h[hbucket(v < 0 ? 0 : (uint64_t)v)]++;
}

static uint64_t htotal(const uint64_t *h)
{
    uint64_t n = 0;

    for (int i = 0; i < HBUCKETS; i++) {
        n += h[i];
    }
    return n;
}

/* q in [0,1]; ns. */
static double hquantile(const uint64_t *h, double q)
{
    uint64_t n = htotal(h), rank, seen = 0;
    int last = 0;

    if (n == 0) {
        return 0;
    }
    rank = (uint64_t)(q * (double)n + 0.999999);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    for (int i = 0; i < HBUCKETS; i++) {
        if (h[i] != 0) {
            last = i;
        }
        seen += h[i];
        if (seen >= rank) {
            return hvalue(i);
        }
    }
    return hvalue(last);
}

static void print_hist(const char *what, const uint64_t *h)
{
    uint64_t n = htotal(h);

    if (n == 0) {
        printf("%-22s no samples\n", what);
        return;
    }
    printf("%-22s p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  (n=%" PRIu64 ")\n",
           what, hquantile(h, 0.5) / 1e6, hquantile(h, 0.99) / 1e6, hquantile(h, 0.999) / 1e6,
           hquantile(h, 1.0) / 1e6, n);
}

/* ---- frames and buffers ---------------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        _exit(1);
    }
    return p;
}

static void mark_dirty(struct session *s)
{
    if (!s->dirty) {
        s->dirty = true;
        dirty[ndirty++] = s;
    }
}

static void out_append(struct session *s, const void *p, size_t n)
{
    if (s->out_len + n > s->out_cap) {
        s->out_cap = (uint32_t)((s->out_len + n) * 2 < 4096 ? 4096 : (s->out_len + n) * 2);
        s->out = xrealloc(s->out, s->out_cap);
    }
    memcpy(s->out + s->out_len, p, n);
    s->out_len += (uint32_t)n;
    mark_dirty(s);
}

/* Appends a masked client frame (RFC 6455 §5.2). */
static void out_frame(struct session *s, int opcode, const char *payload, size_t n)
{
    static const unsigned char mask[4] = { 0x12, 0x34, 0x56, 0x78 };
    char hdr[14], buf[2048];
    size_t h = 0;

    hdr[h++] = (char)(0x80 | opcode);
    if (n < 126) {
        hdr[h++] = (char)(0x80 | n);
    } else {
        hdr[h++] = (char)(0x80 | 126);
        hdr[h++] = (char)(n >> 8);
        hdr[h++] = (char)(n & 0xff);
    }
    memcpy(hdr + h, mask, 4);
    h += 4;
    if (n > sizeof(buf)) {
        return; /* never: our payloads are small */
    }
    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)(payload[i] ^ mask[i & 3]);
    }
    out_append(s, hdr, h);
    out_append(s, buf, n);
}

static void set_events(struct session *s, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = s };

    epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

static void fail(struct session *s)
{
    if (s->state == S_FAILED) {
        return;
    }
    if (s->state == S_READY) {
        st.disconnects++;
    } else {
        g_failed++;
    }
    s->state = S_FAILED;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    s->out_len = 0;
}

static void flush(struct session *s)
{
    uint32_t off = 0;

    while (off < s->out_len && s->fd >= 0) {
        ssize_t w = send(s->fd, s->out + off, s->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            if (errno == EINTR) {
                continue;
            }
            fail(s);
            return;
        }
        off += (uint32_t)w;
    }
    if (s->fd < 0) {
        return;
    }
    memmove(s->out, s->out + off, s->out_len - off);
    s->out_len -= off;
    if (s->out_len > 0 && !s->want_out) {
        s->want_out = true;
        set_events(s, EPOLLIN | EPOLLOUT);
    } else if (s->out_len == 0 && s->want_out) {
        s->want_out = false;
        set_events(s, EPOLLIN);
    }
    if (s->out_len == 0 && s->out_cap > 65536) {
        free(s->out);
        s->out = NULL;
        s->out_cap = 0;
    }
}

static void flush_dirty(void)
{
    for (int i = 0; i < ndirty; i++) {
        dirty[i]->dirty = false;
        flush(dirty[i]);
    }
    ndirty = 0;
}

/* ---- chat ------------------------------------------------------------------------ */

static bool may_send(const struct session *s)
{
    if (s->state != S_READY || s->nfree == 0) {
        return false;
    }
    if (opt_mode == M_FANOUT) {
        return s->counter < (uint64_t)opt_messages;
    }
    return now_ns() < t_stop;
}

/*
 * n bytes (or a little less: characters are not cut) of chat-like text: words
 * from a small vocabulary, English-like or Chinese, changing with seed.
 */
static void fill_words(char *out, size_t n, uint64_t seed)
{
    static const char *const en[] = { "meeting", "tomorrow", "report", "please", "check",
                                      "the", "new", "design", "before", "lunch", "thanks",
                                      "budget", "review", "client", "deadline", "call" };
    static const char *const zh[] = { "明天", "开会", "报告", "请", "检查", "新的", "设计",
                                      "午饭", "谢谢", "预算", "客户", "截止", "电话", "北京" };
    size_t o = 0;

    for (uint64_t i = seed * 2654435761u;; i = i * 6364136223846793005ULL + 1442695040888963407ULL) {
        bool chinese = (seed & 1) != 0;
        const char *w = chinese ? zh[(i >> 33) % 14] : en[(i >> 33) % 16];
        size_t len = strlen(w) + (chinese ? 0 : 1);

        if (o + len > n) {
            break;
        }
        memcpy(out + o, w, strlen(w));
        if (!chinese) {
            out[o + len - 1] = ' ';
        }
        o += len;
    }
    out[o] = '\0';
}

/* intended: the time the message was due (the latency clock starts there). */
static void send_msg(struct session *s, int64_t intended)
{
    char payload[1200];
    char pad[1025];
    int slot = s->free_slot[--s->nfree];
    uint64_t id = (s->counter << 16) | (uint64_t)slot;
    int head, n, padn;

    s->slot_ts[slot] = intended;
    head = snprintf(pad, sizeof(pad), "T%" PRId64 ":%" PRIu64 ":", intended, s->counter);
    padn = opt_text_bytes - head;
    if (padn < 0) {
        padn = 0;
    }
    if (opt_words) {
        fill_words(pad + head, (size_t)padn, s->counter);
    } else {
        memset(pad + head, 'x', (size_t)padn);
        pad[head + padn] = '\0';
    }
    n = snprintf(payload, sizeof(payload),
                 "{\"id\":%" PRIu64 ",\"op\":\"send\",\"conv\":%" PRId64
                 ",\"cmid\":\"%s-%d-%" PRIu64 "\",\"body\":{\"type\":\"text\",\"tag\":\"%.*s\",\"text\":\"%s\"}}",
                 id, s->conv, nonce, (int)(s - ss), s->counter, head, pad, pad + head);
    out_frame(s, 1, payload, (size_t)n);
    if (st.sent == 0) {
        st.first_send = now_ns();
    }
    s->counter++;
    st.sent++;
}

static void pump(struct session *s)
{
    int64_t t = now_ns();

    while (may_send(s)) {
        send_msg(s, t);
    }
}

static bool in_window(int64_t t)
{
    return opt_mode == M_FANOUT || (t >= t_meas0 && t < t_meas1);
}

static void on_answer(struct session *s, const char *p, int64_t now)
{
    const char *re = strstr(p, "\"re\":");
    uint64_t id;
    int slot;
    int64_t t0;

    if (re == NULL) {
        return;
    }
    id = strtoull(re + 5, NULL, 10);
    slot = (int)(id & 0xffff);
    if (s->role != R_SEND || slot >= opt_window || s->slot_ts[slot] < 0) {
        return;
    }
    t0 = s->slot_ts[slot];
    s->slot_ts[slot] = -1;
    s->free_slot[s->nfree++] = (uint16_t)slot;
    if (strstr(p, "\"error\"") != NULL) {
        st.errors++;
        if (st.first_error[0] == '\0') {
            snprintf(st.first_error, sizeof(st.first_error), "%s", p);
        }
    } else {
        st.acked++;
        if (in_window(t0)) {
            hadd(st.h_ack, now - t0);
        }
    }
    if (opt_rate <= 0) {
        pump(s);
    }
}

static void on_message(struct session *s, const char *p, int64_t now)
{
    const char *t = strstr(p, "\"tag\":\"T");
    char *end;
    int64_t ts;
    uint64_t idx;

    if (s->role != R_RECV || t == NULL) {
        return;
    }
    ts = strtoll(t + 8, &end, 10);
    idx = *end == ':' ? strtoull(end + 1, NULL, 10) : 0;
    if (opt_mode == M_FANOUT) {
        if (idx < (uint64_t)opt_messages) {
            if (now - ts > fan_maxlat[idx]) {
                fan_maxlat[idx] = now - ts;
            }
            fan_cnt[idx]++;
        }
        fan_got++;
    }
    if (opt_mode == M_FANOUT || (now >= t_meas0 && now < t_meas1)) {
        st.received++;
        if (st.first_recv == 0) {
            st.first_recv = now;
        }
        st.last_recv = now;
    }
    if (in_window(ts)) {
        hadd(st.h_recv, now - ts);
    }
}

/* ---- session state machine ------------------------------------------------------ */

static void on_text(struct session *s, char *p, int64_t now)
{
    if (s->state == S_READY) {
        if (strstr(p, "\"ev\":\"message\"") != NULL) {
            on_message(s, p, now);
        } else if (strstr(p, "\"ev\":") == NULL) {
            on_answer(s, p, now);
        }
        return;
    }
    if (s->state != S_AUTH && s->state != S_PING) {
        return;
    }
    if (strstr(p, "\"re\":") == NULL) {
        return; /* an event before our answer */
    }
    if (strstr(p, "\"ok\"") == NULL) {
        if (st.first_error[0] == '\0') {
            snprintf(st.first_error, sizeof(st.first_error), "auth: %s", p);
        }
        fail(s);
        return;
    }
    if (s->state == S_AUTH && s->role == R_IDLE) {
        out_frame(s, 1, "{\"id\":2,\"op\":\"ping\"}", 20);
        s->state = S_PING;
        return;
    }
    s->state = S_READY;
    g_ready++;
}

/* Frames out of buf[0..n); returns bytes consumed. */
static size_t parse_frames(struct session *s, char *buf, size_t n, int64_t now)
{
    size_t off = 0;

    while (s->state != S_FAILED && n - off >= 2) {
        unsigned char b0 = (unsigned char)buf[off], b1 = (unsigned char)buf[off + 1];
        uint64_t len = b1 & 0x7f;
        size_t hdr = 2;
        char save;

        if (len == 126) {
            if (n - off < 4) {
                break;
            }
            len = (uint64_t)(unsigned char)buf[off + 2] << 8 | (unsigned char)buf[off + 3];
            hdr = 4;
        } else if (len == 127) {
            if (n - off < 10) {
                break;
            }
            len = 0;
            for (int i = 0; i < 8; i++) {
                len = len << 8 | (unsigned char)buf[off + 2 + i];
            }
            hdr = 10;
        }
        if (len > SCRATCH / 2) {
            fail(s); /* bigger than we ever expect */
            break;
        }
        if (n - off < hdr + len) {
            break;
        }
        switch (b0 & 0x0f) {
        case 1:
            save = buf[off + hdr + len];
            buf[off + hdr + len] = '\0';
            on_text(s, buf + off + hdr, now);
            buf[off + hdr + len] = save;
            break;
        case 9:
            out_frame(s, 10, buf + off + hdr, (size_t)len);
            break;
        case 8:
            fail(s);
            return n;
        default:
            break;
        }
        off += hdr + (size_t)len;
    }
    return off;
}

static void on_readable(struct session *s)
{
    size_t have = s->in_len, used;
    ssize_t r;
    int64_t now;

    if (have > 0) {
        memcpy(scratch, s->in, have);
    }
    r = recv(s->fd, scratch + have, SCRATCH - have, 0);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        fail(s);
        return;
    }
    now = now_ns();
    have += (size_t)r;
    used = 0;
    if (s->state == S_HANDSHAKE) {
        char *end = memmem(scratch, have, "\r\n\r\n", 4);
        char auth[300];
        int n;

        if (end == NULL) {
            used = 0;
            goto keep;
        }
        if (strncmp(scratch, "HTTP/1.1 101", 12) != 0) {
            fail(s);
            return;
        }
        used = (size_t)(end + 4 - scratch);
        n = snprintf(auth, sizeof(auth), "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\"}", s->token);
        out_frame(s, 1, auth, (size_t)n);
        s->state = S_AUTH;
    }
    used += parse_frames(s, scratch + used, have - used, now);
keep:
    if (s->state == S_FAILED) {
        return;
    }
    have -= used;
    if (have > 0) {
        if (have > s->in_cap) {
            s->in_cap = (uint32_t)have;
            s->in = xrealloc(s->in, have);
        }
        memmove(s->in, scratch + used, have);
    } else if (s->in_cap > 0) {
        free(s->in);
        s->in = NULL;
        s->in_cap = 0;
    }
    s->in_len = (uint32_t)have;
}

static int start_connect(struct session *s, struct sockaddr_in *src, struct sockaddr_in *dst)
{
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN };
    int one = 1;

    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        return -1;
    }
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(s->fd, (struct sockaddr *)src, sizeof(*src)) != 0 ||
        (connect(s->fd, (struct sockaddr *)dst, sizeof(*dst)) != 0 && errno != EINPROGRESS)) {
        close(s->fd);
        s->fd = -1;
        return -1;
    }
    s->state = S_CONNECTING;
    ev.data.ptr = s;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

static void on_event(struct epoll_event *e)
{
    struct session *s = e->data.ptr;

    if (s->state == S_FAILED) {
        return;
    }
    if (s->state == S_CONNECTING) {
        static const char req[] =
            "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        int err = 0;
        socklen_t len = sizeof(err);

        if ((e->events & (EPOLLERR | EPOLLHUP)) ||
            getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            fail(s);
            return;
        }
        if (!(e->events & EPOLLOUT)) {
            return;
        }
        s->want_out = false;
        set_events(s, EPOLLIN);
        s->state = S_HANDSHAKE;
        out_append(s, req, sizeof(req) - 1);
        return;
    }
    if (e->events & EPOLLOUT) {
        flush(s);
    }
    if (s->fd >= 0 && (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        on_readable(s);
    }
}

/* ---- child ----------------------------------------------------------------------- */

struct line {
    char role;
    int64_t conv;
    const char *token;
};

static struct line *lines;
static int nlines;

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            _exit(1);
        }
        c += w;
        n -= (size_t)w;
    }
}

static bool read_all(int fd, void *p, size_t n)
{
    char *c = p;

    while (n > 0) {
        ssize_t r = read(fd, c, n);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        c += r;
        n -= (size_t)r;
    }
    return true;
}

static int child(int index, int report_fd, int ctl_fd, int result_fd)
{
    struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
    struct epoll_event evs[512];
    struct epoll_event cev = { .events = EPOLLIN, .data.ptr = &ctl_marker };
    struct session **senders;
    int nsenders = 0, total_senders = 0, rr = 0;
    int next = 0;
    int64_t deadline = now_ns() + (int64_t)SETUP_SECONDS * NS, next_due = 0;
    double interval = 0;
    bool ctl_open = true;
    char msg[64];

    epfd = epoll_create1(EPOLL_CLOEXEC);
    epoll_ctl(epfd, EPOLL_CTL_ADD, ctl_fd, &cev);
    if (opt_mode == M_IDLE) {
        nss = opt_conns / opt_procs;
    } else {
        for (int i = index; i < nlines; i += opt_procs) {
            nss++;
        }
    }
    ss = calloc((size_t)(nss > 0 ? nss : 1), sizeof(*ss));
    dirty = calloc((size_t)(nss > 0 ? nss : 1), sizeof(*dirty));
    senders = calloc((size_t)(nss > 0 ? nss : 1), sizeof(*senders));
    for (int i = 0; i < nlines; i++) {
        total_senders += lines[i].role == 'S';
    }
    for (int i = 0; i < nss; i++) {
        struct session *s = &ss[i];

        s->fd = -1;
        if (opt_mode == M_IDLE) {
            s->role = R_IDLE;
            s->token = opt_token;
            continue;
        }
        struct line *l = &lines[index + i * opt_procs];

        s->conv = l->conv;
        s->token = l->token;
        s->role = l->role == 'S' ? R_SEND : R_RECV;
        if (s->role == R_SEND) {
            s->slot_ts = malloc(sizeof(int64_t) * (size_t)opt_window);
            s->free_slot = malloc(sizeof(uint16_t) * (size_t)opt_window);
            for (int w = 0; w < opt_window; w++) {
                s->slot_ts[w] = -1;
                s->free_slot[w] = (uint16_t)(opt_window - 1 - w);
            }
            s->nfree = opt_window;
            senders[nsenders++] = s;
        } else {
            fan_expected += opt_mode == M_FANOUT ? opt_messages : 0;
        }
    }
    if (opt_mode == M_FANOUT) {
        fan_maxlat = calloc((size_t)opt_messages, sizeof(*fan_maxlat));
        fan_cnt = calloc((size_t)opt_messages, sizeof(*fan_cnt));
    }

    /* Connect, handshake, authenticate. */
    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)index);
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    dst.sin_port = htons((uint16_t)opt_port);
    while (g_ready + g_failed < nss && now_ns() < deadline) {
        while (next < nss && next - g_ready - g_failed < MAX_CONNECTING) {
            if (start_connect(&ss[next], &src, &dst) != 0) {
                ss[next].state = S_FAILED;
                g_failed++;
            }
            next++;
        }
        int k = epoll_wait(epfd, evs, 512, 100);

        for (int i = 0; i < k; i++) {
            if (evs[i].data.ptr != &ctl_marker) {
                on_event(&evs[i]);
            }
        }
        flush_dirty();
    }
    snprintf(msg, sizeof(msg), "%d %d\n", g_ready, nss - g_ready);
    write_all(report_fd, msg, strlen(msg));

    /* Wait for the start time (or, idle mode, for the parent to let go), serving pings. */
    while (ctl_open && (opt_mode == M_IDLE || t_go < 0)) {
        int k = epoll_wait(epfd, evs, 512, 1000);

        for (int i = 0; i < k; i++) {
            if (evs[i].data.ptr == &ctl_marker) {
                if (!read_all(ctl_fd, &t_go, sizeof(t_go))) {
                    ctl_open = false;
                    t_go = -1;
                }
            } else {
                on_event(&evs[i]);
            }
        }
        flush_dirty();
    }
    if (!ctl_open || opt_mode == M_IDLE) {
        return 0;
    }

    /* Run. */
    t_meas0 = t_go + (int64_t)(opt_warmup * NS);
    t_meas1 = t_meas0 + (int64_t)(opt_duration * NS);
    t_stop = opt_mode == M_PAIRS ? t_meas1 + TAIL_SECONDS * NS : INT64_MAX;
    deadline = opt_mode == M_PAIRS ? t_stop : t_go + (int64_t)(opt_duration * NS);
    if (opt_rate > 0 && nsenders > 0) {
        interval = 1e9 / (opt_rate * nsenders / (total_senders > 0 ? total_senders : 1));
        next_due = t_go + (int64_t)(interval * index / opt_procs);
    }
    sleep_until(t_go);
    if (opt_rate <= 0) {
        for (int i = 0; i < nsenders; i++) {
            pump(senders[i]);
        }
    }
    for (;;) {
        int64_t now = now_ns();
        struct timespec tmo = { 0, 100 * 1000000 };
        int k;

        if (now >= deadline) {
            break;
        }
        if (opt_mode == M_FANOUT && fan_got >= fan_expected) {
            bool acked = true;

            for (int i = 0; i < nsenders; i++) {
                acked = acked && senders[i]->nfree == opt_window &&
                        senders[i]->counter >= (uint64_t)opt_messages;
            }
            if (acked) {
                break;
            }
        }
        if (interval > 0) {
            while (next_due <= now) {
                struct session *s = NULL;

                for (int j = 0; j < nsenders; j++) {
                    struct session *c = senders[(rr + j) % nsenders];

                    if (may_send(c)) {
                        s = c;
                        rr = (rr + j + 1) % nsenders;
                        break;
                    }
                }
                if (s == NULL) {
                    break; /* every window full (or done): fall behind, retry next turn */
                }
                send_msg(s, next_due);
                st.late_sum += now - next_due;
                st.late_max = now - next_due > st.late_max ? now - next_due : st.late_max;
                st.late_n++;
                next_due += (int64_t)interval;
            }
            if (next_due > now) {
                int64_t d = next_due - now;

                tmo.tv_sec = 0;
                tmo.tv_nsec = d < 100 * 1000000 ? d : 100 * 1000000;
            } else {
                tmo.tv_nsec = 1000000;
            }
        }
        flush_dirty();
        k = epoll_pwait2(epfd, evs, 512, &tmo, NULL);
        for (int i = 0; i < k; i++) {
            if (evs[i].data.ptr != &ctl_marker) {
                on_event(&evs[i]);
            }
        }
        flush_dirty();
    }
    write_all(result_fd, &st, sizeof(st));
    if (opt_mode == M_FANOUT) {
        write_all(result_fd, fan_maxlat, sizeof(*fan_maxlat) * (size_t)opt_messages);
        write_all(result_fd, fan_cnt, sizeof(*fan_cnt) * (size_t)opt_messages);
    }
    return 0;
}

/* ---- parent ---------------------------------------------------------------------- */

static long rss_kib(int pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
        }
    }
    fclose(f);
    return kib;
}

/* utime+stime (clock ticks) from a /proc stat file; name gets the comm. */
static long long stat_ticks(const char *path, char *name, size_t cap)
{
    char buf[1024], *open, *close_;
    unsigned long long ut = 0, stt = 0;
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    open = strchr(buf, '(');
    close_ = strrchr(buf, ')');
    if (open == NULL || close_ == NULL) {
        return -1;
    }
    if (name != NULL) {
        snprintf(name, cap, "%.*s", (int)(close_ - open - 1), open + 1);
    }
    /* after ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(close_ + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) !=
        2) {
        return -1;
    }
    return (long long)(ut + stt);
}

struct cpu_sample {
    int n;
    int tid[128];
    char name[128][32];
    long long ticks[128];
    long long children;
};

static void sample_cpu(struct cpu_sample *c, const pid_t *kids, int nkids)
{
    char path[320];
    DIR *d;
    struct dirent *e;

    c->n = 0;
    c->children = 0;
    for (int i = 0; i < nkids; i++) {
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)kids[i]);
        long long t = stat_ticks(path, NULL, 0);

        c->children += t > 0 ? t : 0;
    }
    if (opt_pid <= 0) {
        return;
    }
    snprintf(path, sizeof(path), "/proc/%d/task", opt_pid);
    d = opendir(path);
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL && c->n < 128) {
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", opt_pid, e->d_name);
        c->tid[c->n] = atoi(e->d_name);
        c->ticks[c->n] = stat_ticks(path, c->name[c->n], sizeof(c->name[c->n]));
        if (c->ticks[c->n] >= 0) {
            c->n++;
        }
    }
    closedir(d);
}

static void print_cpu(const struct cpu_sample *a, const struct cpu_sample *b, double secs,
                      int nkids)
{
    double hz = (double)sysconf(_SC_CLK_TCK), total = 0;
    char line[2048];
    size_t o = 0;

    if (opt_pid > 0 && b->n > 0) {
        for (int i = 0; i < b->n; i++) {
            for (int j = 0; j < a->n; j++) {
                if (a->tid[j] == b->tid[i]) {
                    double pct = (double)(b->ticks[i] - a->ticks[j]) / hz / secs * 100;

                    total += pct;
                    if (pct >= 1 && o < sizeof(line) - 64) {
                        o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%s/%d %.0f%%",
                                              o ? ", " : "", b->name[i], b->tid[i], pct);
                    }
                }
            }
        }
        line[o] = '\0';
        printf("server CPU (window):   %.0f%% of one core (by thread name/tid: %s)\n", total,
               line);
    }
    printf("loadgen CPU (window):  %.0f%% of one core (%d processes)\n",
           (double)(b->children - a->children) / hz / secs * 100, nkids);
}

static int load_setup(const char *path)
{
    FILE *f = fopen(path, "r");
    char role[8], tok[256];
    long long conv;
    int cap = 0;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    while (fscanf(f, "%7s %lld %255s", role, &conv, tok) == 3) {
        if (nlines == cap) {
            cap = cap ? cap * 2 : 1024;
            lines = xrealloc(lines, sizeof(*lines) * (size_t)cap);
        }
        lines[nlines].role = role[0];
        lines[nlines].conv = conv;
        lines[nlines].token = strdup(tok);
        nlines++;
    }
    fclose(f);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: pipit-loadgen --mode idle --port P --token T --server-pid PID [--conns N] "
            "[--procs K]\n"
            "       pipit-loadgen --mode pairs|fanout --port P --setup FILE [--procs K] "
            "[--window W]\n"
            "           [--warmup S] [--duration S] [--rate R] [--messages M] [--text-bytes B] "
            "[--server-pid PID]\n"
            "  (at most 19000 sessions per process, at most %d processes)\n",
            MAX_PROCS);
}

int main(int argc, char **argv)
{
    int report[2], ctl[MAX_PROCS][2], result[MAX_PROCS][2];
    pid_t kids[MAX_PROCS];
    int total_ready = 0, total_failed = 0, nsessions;
    long before, after;
    int64_t t0;
    double elapsed;
    FILE *rf;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];

        if (strcmp(k, "--mode") == 0) {
            opt_mode = strcmp(v, "pairs") == 0    ? M_PAIRS
                       : strcmp(v, "fanout") == 0 ? M_FANOUT
                                                  : M_IDLE;
        } else if (strcmp(k, "--port") == 0) {
            opt_port = atoi(v);
        } else if (strcmp(k, "--token") == 0) {
            opt_token = v;
        } else if (strcmp(k, "--setup") == 0) {
            opt_setup = v;
        } else if (strcmp(k, "--conns") == 0) {
            opt_conns = atoi(v);
        } else if (strcmp(k, "--procs") == 0) {
            opt_procs = atoi(v);
        } else if (strcmp(k, "--server-pid") == 0) {
            opt_pid = atoi(v);
        } else if (strcmp(k, "--window") == 0) {
            opt_window = atoi(v);
        } else if (strcmp(k, "--warmup") == 0) {
            opt_warmup = atof(v);
        } else if (strcmp(k, "--duration") == 0) {
            opt_duration = atof(v);
        } else if (strcmp(k, "--rate") == 0) {
            opt_rate = atof(v);
        } else if (strcmp(k, "--messages") == 0) {
            opt_messages = atol(v);
        } else if (strcmp(k, "--text-bytes") == 0) {
            opt_text_bytes = atoi(v);
        } else if (strcmp(k, "--words") == 0) {
            opt_words = atoi(v) != 0;
        } else {
            usage();
            return 2;
        }
    }
    if (opt_mode != M_IDLE && opt_setup != NULL && load_setup(opt_setup) != 0) {
        return 2;
    }
    nsessions = opt_mode == M_IDLE ? opt_conns : nlines;
    if (opt_port <= 0 || opt_procs < 1 || opt_procs > MAX_PROCS || nsessions < 1 ||
        (nsessions + opt_procs - 1) / opt_procs > 19000 || opt_window < 1 ||
        opt_window > WINDOW_MAX || opt_text_bytes < 0 || opt_text_bytes > 1000 ||
        opt_messages < 1 || opt_duration <= 0 ||
        (opt_mode == M_IDLE && (opt_token == NULL || opt_pid <= 0)) ||
        (opt_mode != M_IDLE && opt_setup == NULL)) {
        usage();
        return 2;
    }
    snprintf(nonce, sizeof(nonce), "b%lx", (long)(now_ns() / 1000) ^ (long)getpid());
    if (pipe(report) != 0) {
        return 1;
    }
    before = opt_pid > 0 ? rss_kib(opt_pid) : -1;
    t0 = now_ns();
    for (int p = 0; p < opt_procs; p++) {
        if (pipe(ctl[p]) != 0 || pipe(result[p]) != 0) {
            return 1;
        }
        kids[p] = fork();
        if (kids[p] == 0) {
            close(report[0]);
            for (int q = 0; q <= p; q++) {
                close(ctl[q][1]);
                close(result[q][0]);
            }
            _exit(child(p, report[1], ctl[p][0], result[p][1]));
        }
        close(ctl[p][0]);
        close(result[p][1]);
    }
    close(report[1]);
    rf = fdopen(report[0], "r");
    {
        int r, fl;

        for (int p = 0; p < opt_procs && fscanf(rf, "%d %d", &r, &fl) == 2; p++) {
            total_ready += r;
            total_failed += fl;
        }
    }
    elapsed = (double)(now_ns() - t0) / 1e9;
    if (opt_mode == M_IDLE) {
        sleep(1);
        after = rss_kib(opt_pid);
        printf("sessions:              %d ready, %d failed (%d processes)\n", total_ready,
               total_failed, opt_procs);
        printf("connect+auth+ping:     %.2f s (%.0f sessions/s)\n", elapsed,
               total_ready / elapsed);
        printf("server RSS before:     %ld KiB\n", before);
        printf("server RSS with them:  %ld KiB\n", after);
        if (total_ready > 0) {
            printf("RSS per connection:    %.0f bytes\n",
                   (double)(after - before) * 1024.0 / total_ready);
        }
        printf("RESULT mode=idle sessions=%d failed=%d bytes_per_conn=%.0f\n", total_ready,
               total_failed, total_ready > 0 ? (double)(after - before) * 1024.0 / total_ready : 0);
        for (int p = 0; p < opt_procs; p++) {
            close(ctl[p][1]); /* children close their sessions and exit */
        }
        while (wait(NULL) > 0) {
        }
        return total_failed == 0 ? 0 : 1;
    }

    /* Chat modes: start everyone at once, sample CPU over the window, merge results. */
    printf("sessions:              %d ready, %d failed (%d processes), connect+auth %.2f s\n",
           total_ready, total_failed, opt_procs, elapsed);
    fflush(stdout);
    {
        int64_t go = now_ns() + 300 * 1000000LL;
        int64_t m0 = go + (int64_t)(opt_warmup * NS), m1 = m0 + (int64_t)(opt_duration * NS);
        struct cpu_sample *ca = calloc(1, sizeof(*ca)), *cb = calloc(1, sizeof(*cb));
        struct stats *sum = calloc(1, sizeof(*sum)), *one = calloc(1, sizeof(*one));
        int64_t *maxlat = NULL, *tmp64 = NULL;
        int32_t *cnt = NULL, *tmp32 = NULL;
        int64_t first_send = INT64_MAX, last_recv = 0, first_recv = INT64_MAX;
        int64_t receivers = 0, cpu_t0, cpu_t1 = 0;
        int got = 0;

        for (int i = 0; i < nlines; i++) {
            receivers += lines[i].role == 'R';
        }
        for (int p = 0; p < opt_procs; p++) {
            write_all(ctl[p][1], &go, sizeof(go));
        }
        if (opt_mode == M_PAIRS) {
            sleep_until(m0);
        } else {
            sleep_until(go);
        }
        cpu_t0 = now_ns();
        sample_cpu(ca, kids, opt_procs);
        if (opt_mode == M_PAIRS) {
            sleep_until(m1);
            cpu_t1 = now_ns();
            sample_cpu(cb, kids, opt_procs);
        }
        if (opt_mode == M_FANOUT) {
            maxlat = calloc((size_t)opt_messages, sizeof(*maxlat));
            cnt = calloc((size_t)opt_messages, sizeof(*cnt));
            tmp64 = calloc((size_t)opt_messages, sizeof(*tmp64));
            tmp32 = calloc((size_t)opt_messages, sizeof(*tmp32));
        }
        for (int p = 0; p < opt_procs; p++) {
            if (!read_all(result[p][0], one, sizeof(*one))) {
                continue;
            }
            got++;
            sum->sent += one->sent;
            sum->acked += one->acked;
            sum->errors += one->errors;
            sum->received += one->received;
            sum->disconnects += one->disconnects;
            sum->late_sum += one->late_sum;
            sum->late_n += one->late_n;
            sum->late_max = one->late_max > sum->late_max ? one->late_max : sum->late_max;
            if (one->sent > 0 && one->first_send < first_send) {
                first_send = one->first_send;
            }
            if (one->received > 0) {
                first_recv = one->first_recv < first_recv ? one->first_recv : first_recv;
                last_recv = one->last_recv > last_recv ? one->last_recv : last_recv;
            }
            for (int i = 0; i < HBUCKETS; i++) {
                sum->h_ack[i] += one->h_ack[i];
                sum->h_recv[i] += one->h_recv[i];
            }
            if (sum->first_error[0] == '\0' && one->first_error[0] != '\0') {
                memcpy(sum->first_error, one->first_error, sizeof(sum->first_error));
            }
            if (opt_mode == M_FANOUT) {
                if (!read_all(result[p][0], tmp64, sizeof(*tmp64) * (size_t)opt_messages) ||
                    !read_all(result[p][0], tmp32, sizeof(*tmp32) * (size_t)opt_messages)) {
                    continue;
                }
                for (long i = 0; i < opt_messages; i++) {
                    maxlat[i] = tmp64[i] > maxlat[i] ? tmp64[i] : maxlat[i];
                    cnt[i] += tmp32[i];
                }
            }
        }
        if (opt_mode == M_FANOUT) {
            cpu_t1 = now_ns();
            sample_cpu(cb, kids, opt_procs);
        }
        while (wait(NULL) > 0) {
        }
        if (got < opt_procs) {
            printf("WARNING: %d of %d load processes reported nothing\n", opt_procs - got,
                   opt_procs);
        }
        if (opt_mode == M_PAIRS) {
            double rate = (double)sum->received / opt_duration;

            printf("senders/receivers:     %d / %" PRId64 ", window %d, %s, text %d B, "
                   "warm-up %.0f s, measured %.0f s\n",
                   nlines - (int)receivers, receivers, opt_window,
                   opt_rate > 0 ? "paced" : "unpaced (max rate)", opt_text_bytes, opt_warmup,
                   opt_duration);
            if (opt_rate > 0) {
                printf("offered rate:          %.0f msgs/s; pacing lateness avg %.3f ms, "
                       "max %.3f ms (latency counts from the intended send time)\n",
                       opt_rate, sum->late_n ? (double)sum->late_sum / sum->late_n / 1e6 : 0,
                       (double)sum->late_max / 1e6);
            }
            printf("delivered:             %.0f msgs/s (%" PRId64 " in %.1f s)\n", rate,
                   sum->received, opt_duration);
            printf("sent / acked / errors: %" PRId64 " / %" PRId64 " / %" PRId64
                   " (whole run incl. warm-up and tail); disconnects %" PRId64 "\n",
                   sum->sent, sum->acked, sum->errors, sum->disconnects);
            print_hist("send->ack:", sum->h_ack);
            print_hist("send->receive:", sum->h_recv);
            print_cpu(ca, cb, (double)(cpu_t1 - cpu_t0) / 1e9, opt_procs);
            printf("RESULT mode=pairs rate=%.0f delivered_per_s=%.0f ack_p50_ms=%.3f "
                   "ack_p99_ms=%.3f ack_p999_ms=%.3f recv_p50_ms=%.3f recv_p99_ms=%.3f "
                   "recv_p999_ms=%.3f errors=%" PRId64 "\n",
                   opt_rate, rate, hquantile(sum->h_ack, 0.5) / 1e6,
                   hquantile(sum->h_ack, 0.99) / 1e6, hquantile(sum->h_ack, 0.999) / 1e6,
                   hquantile(sum->h_recv, 0.5) / 1e6, hquantile(sum->h_recv, 0.99) / 1e6,
                   hquantile(sum->h_recv, 0.999) / 1e6, sum->errors);
        } else {
            uint64_t *h_last = calloc(HBUCKETS, sizeof(*h_last));
            long complete = 0;
            double secs = last_recv > first_send && first_send != INT64_MAX
                              ? (double)(last_recv - first_send) / 1e9
                              : 0;
            double rate = secs > 0 ? (double)sum->received / secs : 0;

            for (long i = 0; i < opt_messages; i++) {
                if (cnt[i] >= receivers) {
                    complete++;
                    hadd(h_last, maxlat[i]);
                }
            }
            printf("group:                 1 sender + %" PRId64 " receiving members, "
                   "%ld messages, window %d%s\n",
                   receivers, opt_messages, opt_window, opt_rate > 0 ? ", paced" : "");
            printf("deliveries:            %.0f /s (%" PRId64 " of %" PRId64
                   " expected, first send to last delivery %.2f s)\n",
                   rate, sum->received, receivers * opt_messages, secs);
            printf("sent / acked / errors: %" PRId64 " / %" PRId64 " / %" PRId64
                   "; disconnects %" PRId64 "\n",
                   sum->sent, sum->acked, sum->errors, sum->disconnects);
            printf("messages complete:     %ld of %ld (every receiver had it)\n", complete,
                   opt_messages);
            print_hist("send->last member:", h_last);
            print_hist("send->each delivery:", sum->h_recv);
            print_hist("send->ack:", sum->h_ack);
            print_cpu(ca, cb, (double)(cpu_t1 - cpu_t0) / 1e9, opt_procs);
            printf("RESULT mode=fanout deliveries_per_s=%.0f complete=%ld last_p50_ms=%.3f "
                   "last_p99_ms=%.3f last_max_ms=%.3f errors=%" PRId64 "\n",
                   rate, complete, hquantile(h_last, 0.5) / 1e6, hquantile(h_last, 0.99) / 1e6,
                   hquantile(h_last, 1.0) / 1e6, sum->errors);
        }
        if (sum->first_error[0] != '\0') {
            printf("first error:           %s\n", sum->first_error);
        }
        return sum->errors == 0 && total_failed == 0 ? 0 : 1;
    }
}
