#include "util/metrics.h"

static const int status_codes[] = {
#define XX(code) code,
    METRICS_STATUSES(XX)
#undef XX
};

static int status_index(int status)
{
    for (int i = 0; i < METRICS_STATUS_OTHER; i++) {
        if (status_codes[i] == status) {
            return i;
        }
    }
    return METRICS_STATUS_OTHER;
}

void metrics_count_http(struct metrics *m, int route, int status)
{
    if (route < 0 || route >= METRICS_MAX_ROUTES) {
        return;
    }
    atomic_fetch_add_explicit(&m->http[route][status_index(status)], 1,
                              memory_order_relaxed);
}

static long rd(atomic_long *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

int metrics_render(struct metrics *m, struct buf *out, const char *(*route_name)(int route),
                   int nroutes)
{
    int rc = buf_printf(out,
        "# HELP pipit_connections Open client connections.\n"
        "# TYPE pipit_connections gauge\n"
        "pipit_connections %ld\n"
        "# HELP pipit_connections_total Client connections accepted.\n"
        "# TYPE pipit_connections_total counter\n"
        "pipit_connections_total %ld\n"
        "# HELP pipit_ws_sessions Open WebSocket sessions.\n"
        "# TYPE pipit_ws_sessions gauge\n"
        "pipit_ws_sessions %ld\n"
        "# HELP pipit_ws_authenticated WebSocket sessions authenticated as a user.\n"
        "# TYPE pipit_ws_authenticated gauge\n"
        "pipit_ws_authenticated %ld\n"
        "# HELP pipit_ws_frames_in_total WebSocket messages received.\n"
        "# TYPE pipit_ws_frames_in_total counter\n"
        "pipit_ws_frames_in_total %ld\n"
        "# HELP pipit_ws_frames_out_total WebSocket messages sent.\n"
        "# TYPE pipit_ws_frames_out_total counter\n"
        "pipit_ws_frames_out_total %ld\n"
        "# HELP pipit_store_commits_total Store transactions committed (group commits).\n"
        "# TYPE pipit_store_commits_total counter\n"
        "pipit_store_commits_total %ld\n"
        "# HELP pipit_store_writes_total Store writes committed.\n"
        "# TYPE pipit_store_writes_total counter\n"
        "pipit_store_writes_total %ld\n"
        "# HELP pipit_chat_messages_total Chat messages stored.\n"
        "# TYPE pipit_chat_messages_total counter\n"
        "pipit_chat_messages_total %ld\n"
        "# HELP pipit_chat_events_total Chat events published (each once, whatever its audience).\n"
        "# TYPE pipit_chat_events_total counter\n"
        "pipit_chat_events_total %ld\n"
        "# HELP pipit_chat_deliveries_total Chat event frames written to sessions.\n"
        "# TYPE pipit_chat_deliveries_total counter\n"
        "pipit_chat_deliveries_total %ld\n"
        "# HELP pipit_pushes_total Pushes accepted by POST /v1/push.\n"
        "# TYPE pipit_pushes_total counter\n"
        "pipit_pushes_total %ld\n"
        "# HELP pipit_push_chat_total Chat messages that notified members with no session.\n"
        "# TYPE pipit_push_chat_total counter\n"
        "pipit_push_chat_total %ld\n"
        "# HELP pipit_push_inflight Requests to push providers in flight.\n"
        "# TYPE pipit_push_inflight gauge\n"
        "pipit_push_inflight %ld\n"
        "# HELP pipit_push_attempts_total Deliveries attempted, by what became of them.\n"
        "# TYPE pipit_push_attempts_total counter\n"
        "pipit_push_attempts_total{outcome=\"sent\"} %ld\n"
        "pipit_push_attempts_total{outcome=\"retry\"} %ld\n"
        "pipit_push_attempts_total{outcome=\"gone\"} %ld\n"
        "pipit_push_attempts_total{outcome=\"failed\"} %ld\n"
        "pipit_push_attempts_total{outcome=\"expired\"} %ld\n"
        "# HELP pipit_webhook_deliveries_total Webhook attempts, by what became of them.\n"
        "# TYPE pipit_webhook_deliveries_total counter\n"
        "pipit_webhook_deliveries_total{outcome=\"delivered\"} %ld\n"
        "pipit_webhook_deliveries_total{outcome=\"retried\"} %ld\n"
        "pipit_webhook_deliveries_total{outcome=\"failed\"} %ld\n",
        rd(&m->connections), rd(&m->connections_total), rd(&m->ws_sessions),
        rd(&m->ws_authenticated),
        rd(&m->ws_frames_in), rd(&m->ws_frames_out), rd(&m->store_commits),
        rd(&m->store_writes), rd(&m->chat_messages), rd(&m->chat_events),
        rd(&m->chat_deliveries), rd(&m->pushes), rd(&m->push_chat), rd(&m->push_inflight),
        rd(&m->push_sent), rd(&m->push_retried), rd(&m->push_gone), rd(&m->push_failed),
        rd(&m->push_expired), rd(&m->webhook_delivered), rd(&m->webhook_retried),
        rd(&m->webhook_failed));

    /* In enum limit_kind's order (net/limits.h). */
    static const char *const limits[METRICS_NLIMITS] = {
        "ip_requests", "user_requests", "user_messages", "ip_connections", "ip_preauth",
    };

    if (rc == 0) {
        rc = buf_printf(out, "# HELP pipit_rate_limited_total Requests, messages and connections "
                             "refused by a rate limit, by limit.\n"
                             "# TYPE pipit_rate_limited_total counter\n");
    }
    for (int i = 0; rc == 0 && i < METRICS_NLIMITS; i++) {
        rc = buf_printf(out, "pipit_rate_limited_total{limit=\"%s\"} %ld\n", limits[i],
                        rd(&m->rate_limited[i]));
    }
    if (rc == 0) {
        rc = buf_printf(out, "# HELP pipit_http_requests_total HTTP requests answered, by "
                             "route and status.\n# TYPE pipit_http_requests_total counter\n");
    }
    for (int r = 0; rc == 0 && r < nroutes && r < METRICS_MAX_ROUTES; r++) {
        for (int s = 0; rc == 0 && s < METRICS_NSTATUS; s++) {
            long v = rd(&m->http[r][s]);

            if (v == 0) {
                continue;
            }
            if (s == METRICS_STATUS_OTHER) {
                rc = buf_printf(out,
                    "pipit_http_requests_total{route=\"%s\",status=\"other\"} %ld\n",
                    route_name(r), v);
            } else {
                rc = buf_printf(out,
                    "pipit_http_requests_total{route=\"%s\",status=\"%d\"} %ld\n",
                    route_name(r), status_codes[s], v);
            }
        }
    }
    return rc;
}
