/*
 * push.c: the push routes that are not store actions.
 */
#include "api/api.h"
#include "push/vapid.h"
#include "server.h"

void push_vapid_public_key(struct http_exchange *x)
{
    json_t *body = json_pack("{s:s}", "key", vapid_public_key(x->conn->w->srv->vapid));

    http_respond_json(x, 200, body);
}
