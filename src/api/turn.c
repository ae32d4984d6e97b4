/*
 * turn.c: GET /v1/turn, time-limited TURN credentials for a call, in the
 * TURN REST API scheme coturn implements (`use-auth-secret`): the username is
 * "<expiry, unix seconds>:<user id>" and the password the base64 of its
 * HMAC-SHA1 under the secret pipit and the TURN server share. The TURN server
 * checks them alone; pipit keeps nothing.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "server.h"
#include "util/b64.h"
#include "util/clock.h"
#include "util/err.h"

void turn_credentials(struct http_exchange *x)
{
    const struct config *cfg = &x->conn->w->srv->cfg;
    const struct api_request *ar = api_request_of(x);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char username[64], password[B64_ENCODED_SIZE(EVP_MAX_MD_SIZE)];
    int64_t expires = clock_now_ms() / 1000 + cfg->turn_ttl / 1000;
    json_t *urls = json_array();
    const char *u = cfg->turn_urls;

    if (cfg->turn_secret[0] == '\0') {
        json_decref(urls);
        http_respond_error(x, PIPIT_ENOT_FOUND, "this server has no TURN server configured",
                           NULL);
        return;
    }
    snprintf(username, sizeof(username), "%lld:%lld", (long long)expires,
             (long long)ar->who.user.id);
    if (HMAC(EVP_sha1(), cfg->turn_secret, (int)strlen(cfg->turn_secret),
             (const unsigned char *)username, strlen(username), mac, &mac_len) == NULL) {
        json_decref(urls);
        http_respond_error(x, PIPIT_EINTERNAL, NULL, NULL);
        return;
    }
    b64_encode(password, mac, mac_len);
    while (*u != '\0') {
        size_t len = strcspn(u, ",");
        size_t lead = strspn(u, " ");

        if (len > lead) {
            json_array_append_new(urls, json_stringn(u + lead, len - lead));
        }
        u += len + (u[len] == ',');
    }
    http_respond_json(x, 200, json_pack("{s:o,s:s,s:s,s:I,s:I}", "urls", urls, "username",
                                        username, "credential", password, "ttl",
                                        (json_int_t)(cfg->turn_ttl / 1000), "expires_at",
                                        (json_int_t)expires * 1000));
}
