/*
 * pipit-loadgen: opens many authenticated WebSocket sessions against pipitd.
 *
 *   pipit-loadgen --port P --token T --server-pid PID [--conns N] [--procs K]
 *
 * Mode "idle" (the only one so far): N sessions (spread over K processes, since
 * one process may hold at most ~20k descriptors here) each do the handshake,
 * authenticate and answer one ping op, then stay idle. The parent reads the
 * server's VmRSS before and after and prints bytes per connection, plus the
 * connect+auth rate. Each process binds its sockets to its own source address
 * (127.0.0.2, 127.0.0.3, …) so ephemeral ports never run out.
 *
 * One epoll loop per process, non-blocking sockets, at most MAX_CONNECTING
 * handshakes in flight so the server's accept backlog is never the bottleneck.
 * Bounded: every phase has a deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#define IN_CAP 512
#define PHASE_SECONDS 120

enum state { S_CONNECTING, S_HANDSHAKE, S_AUTH, S_PING, S_IDLE, S_FAILED };

struct session {
    int fd;
    enum state state;
    size_t in_len;
    char in[IN_CAP];
};

static int opt_port;
static const char *opt_token;
static int opt_conns = 10000;
static int opt_procs = 4;
static int opt_pid;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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

/* A masked client text frame (RFC 6455 §5.2) of a short payload. */
static size_t text_frame(char *out, const char *payload)
{
    static const unsigned char mask[4] = { 0x12, 0x34, 0x56, 0x78 };
    size_t n = strlen(payload), o = 0;

    out[o++] = (char)0x81;
    if (n < 126) {
        out[o++] = (char)(0x80 | n);
    } else {
        out[o++] = (char)(0x80 | 126);
        out[o++] = (char)(n >> 8);
        out[o++] = (char)(n & 0xff);
    }
    memcpy(out + o, mask, 4);
    o += 4;
    for (size_t i = 0; i < n; i++) {
        out[o++] = (char)(payload[i] ^ mask[i % 4]);
    }
    return o;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0) {
            return false; /* tiny messages on a fresh socket: a short write is a failure */
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Takes one whole server frame out of s->in; returns its payload length or -1. */
static long take_frame(struct session *s, char *payload, size_t cap)
{
    size_t hdr = 2, len;

    if (s->in_len < 2) {
        return -1;
    }
    len = (unsigned char)s->in[1] & 0x7f;
    if (len == 126) {
        if (s->in_len < 4) {
            return -1;
        }
        len = (size_t)(unsigned char)s->in[2] << 8 | (unsigned char)s->in[3];
        hdr = 4;
    }
    if (s->in_len < hdr + len || len >= cap) {
        return -1;
    }
    memcpy(payload, s->in + hdr, len);
    payload[len] = '\0';
    memmove(s->in, s->in + hdr + len, s->in_len - hdr - len);
    s->in_len -= hdr + len;
    return (long)len;
}

static void advance(struct session *s, int *ready, int *failed)
{
    char payload[IN_CAP], out[600];

    if (s->state == S_HANDSHAKE) {
        char *end = memmem(s->in, s->in_len, "\r\n\r\n", 4);

        if (end == NULL) {
            return;
        }
        if (strncmp(s->in, "HTTP/1.1 101", 12) != 0) {
            goto fail;
        }
        s->in_len -= (size_t)(end + 4 - s->in);
        memmove(s->in, end + 4, s->in_len);
        snprintf(payload, sizeof(payload), "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\"}", opt_token);
        if (!send_all(s->fd, out, text_frame(out, payload))) {
            goto fail;
        }
        s->state = S_AUTH;
    }
    while (s->state == S_AUTH || s->state == S_PING) {
        if (take_frame(s, payload, sizeof(payload)) < 0) {
            return;
        }
        if (strstr(payload, "\"ok\"") == NULL) {
            goto fail;
        }
        if (s->state == S_AUTH) {
            if (!send_all(s->fd, out, text_frame(out, "{\"id\":2,\"op\":\"ping\"}"))) {
                goto fail;
            }
            s->state = S_PING;
        } else {
            s->state = S_IDLE;
            (*ready)++;
        }
    }
    return;
fail:
    s->state = S_FAILED;
    (*failed)++;
}

static int start_connect(struct session *s, int epfd, struct sockaddr_in *src,
                         struct sockaddr_in *dst)
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

/* One child: opens n sessions from 127.0.0.(2+index), reports, holds until stdin closes. */
static int child(int index, int n, int report_fd, int hold_fd)
{
    struct session *ss = calloc((size_t)n, sizeof(*ss));
    struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET };
    struct epoll_event evs[256];
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    int next = 0, connecting = 0, ready = 0, failed = 0;
    double deadline = now_s() + PHASE_SECONDS;
    char msg[64], byte;

    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)index);
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    dst.sin_port = htons((uint16_t)opt_port);
    while (ready + failed < n && now_s() < deadline) {
        while (next < n && connecting < MAX_CONNECTING) {
            if (start_connect(&ss[next], epfd, &src, &dst) != 0) {
                ss[next].state = S_FAILED;
                failed++;
            } else {
                connecting++;
            }
            next++;
        }
        int k = epoll_wait(epfd, evs, 256, 100);

        for (int i = 0; i < k; i++) {
            struct session *s = evs[i].data.ptr;
            enum state before = s->state;

            if (s->state == S_CONNECTING && (evs[i].events & EPOLLOUT)) {
                static const char req[] =
                    "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

                epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
                if (!send_all(s->fd, req, sizeof(req) - 1)) {
                    s->state = S_FAILED;
                    failed++;
                } else {
                    s->state = S_HANDSHAKE;
                }
            }
            if ((evs[i].events & EPOLLIN) && s->state != S_FAILED && s->state != S_CONNECTING) {
                ssize_t r = recv(s->fd, s->in + s->in_len, IN_CAP - s->in_len, 0);

                if (r <= 0) {
                    s->state = S_FAILED;
                    failed++;
                } else {
                    s->in_len += (size_t)r;
                    advance(s, &ready, &failed);
                }
            }
            if ((evs[i].events & (EPOLLERR | EPOLLHUP)) && s->state != S_FAILED &&
                s->state != S_IDLE) {
                s->state = S_FAILED;
                failed++;
            }
            if (before < S_IDLE && (s->state == S_IDLE || s->state == S_FAILED)) {
                connecting--;
            }
        }
    }
    snprintf(msg, sizeof(msg), "%d %d\n", ready, failed);
    if (write(report_fd, msg, strlen(msg)) < 0) {
        return 1;
    }
    /* Hold the sessions until the parent closes our pipe (bounded by its deadline). */
    if (read(hold_fd, &byte, 1) < 0) {
        byte = 0;
    }
    for (int i = 0; i < n; i++) {
        if (ss[i].fd > 0) {
            close(ss[i].fd);
        }
    }
    free(ss);
    return 0;
}

int main(int argc, char **argv)
{
    int report[2], hold[2];
    int total_ready = 0, total_failed = 0;
    long before, after;
    double t0, elapsed;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) {
            opt_port = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--token") == 0) {
            opt_token = argv[i + 1];
        } else if (strcmp(argv[i], "--conns") == 0) {
            opt_conns = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--procs") == 0) {
            opt_procs = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--server-pid") == 0) {
            opt_pid = atoi(argv[i + 1]);
        }
    }
    if (opt_port <= 0 || opt_token == NULL || opt_pid <= 0 || opt_procs < 1 || opt_conns < 1 ||
        opt_conns / opt_procs > 19000) {
        fprintf(stderr, "usage: pipit-loadgen --port P --token T --server-pid PID "
                        "[--conns N] [--procs K]  (N/K <= 19000)\n");
        return 2;
    }
    if (pipe(report) != 0 || pipe(hold) != 0) {
        return 1;
    }
    before = rss_kib(opt_pid);
    t0 = now_s();
    for (int p = 0; p < opt_procs; p++) {
        pid_t pid = fork();

        if (pid == 0) {
            close(report[0]);
            close(hold[1]);
            _exit(child(p, opt_conns / opt_procs, report[1], hold[0]));
        }
    }
    close(report[1]);
    close(hold[0]);
    {
        FILE *f = fdopen(report[0], "r");
        int r, fl;

        for (int p = 0; p < opt_procs && fscanf(f, "%d %d", &r, &fl) == 2; p++) {
            total_ready += r;
            total_failed += fl;
        }
        elapsed = now_s() - t0;
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
        fclose(f);
    }
    close(hold[1]); /* children close their sessions and exit */
    while (wait(NULL) > 0) {
    }
    return total_failed == 0 ? 0 : 1;
}
