/*
 * err.h: the one error space of pipit.
 *
 * Every fallible function returns int: 0 on success, a negative PIPIT_E* on
 * failure. Each code carries the HTTP status and the snake_case wire code a client
 * sees, so the layer that answers a request never maps errors by hand. Statuses
 * that are not failures ("need more input") live here too and never reach a client.
 *
 * Thread-safe: the table is constant.
 */
#ifndef PIPIT_UTIL_ERR_H
#define PIPIT_UTIL_ERR_H

/* XX(NAME, http status, wire code, message) */
#define PIPIT_ERR_MAP(XX)                                                        \
    XX(AGAIN, 500, "internal", "need more input")                               \
    XX(PROTO, 400, "bad_request", "protocol error")                             \
    XX(NOMEM, 500, "internal", "out of memory")                                 \
    XX(IO, 500, "internal", "input/output error")                               \
    XX(STORE, 500, "internal", "storage error")                                 \
    XX(INTERNAL, 500, "internal", "internal error")                             \
    XX(BAD_REQUEST, 400, "bad_request", "malformed request")                    \
    XX(INVALID_USERNAME, 400, "invalid_username",                               \
       "usernames are 1 to 64 letters, digits, '.', '_' or '-'")               \
    XX(WEAK_PASSWORD, 400, "weak_password",                                     \
       "passwords need at least 8 characters")                                 \
    XX(UNKNOWN_OP, 400, "unknown_op", "unknown op")                             \
    XX(UNAUTHORIZED, 401, "unauthorized", "missing, invalid or expired token")  \
    XX(INVALID_CREDENTIALS, 401, "invalid_credentials",                         \
       "wrong username or password")                                           \
    XX(UNAUTHENTICATED, 401, "unauthenticated", "authenticate first")           \
    XX(MFA_REQUIRED, 401, "mfa_required",                                       \
       "this account needs a code from its authenticator app (or a recovery code)") \
    XX(FORBIDDEN, 403, "forbidden", "not allowed")                              \
    XX(MUTED, 403, "muted", "you are muted in this conversation")             \
    XX(MESSAGE_REJECTED, 403, "message_rejected",                               \
       "the message was not accepted")                                          \
    XX(FORBIDDEN_ORIGIN, 403, "forbidden_origin", "origin not allowed")        \
    XX(CONTENT_BLOCKED, 400, "content_blocked",                                 \
       "the text contains words this server does not allow")                   \
    XX(REGISTRATION_CLOSED, 403, "registration_closed",                        \
       "registration is closed on this server")                                \
    XX(ACCOUNT_DISABLED, 403, "account_disabled", "this account is disabled")  \
    XX(INVALID_MFA_CODE, 403, "invalid_mfa_code",                               \
       "wrong or already used code")                                           \
    XX(WRONG_PASSWORD, 403, "wrong_password", "the current password is wrong")  \
    XX(MFA_ENROLLMENT_REQUIRED, 403, "mfa_enrollment_required",                \
       "set up two-factor authentication first (POST /v1/me/mfa)")             \
    XX(NOT_FOUND, 404, "not_found", "not found")                                \
    XX(METHOD_NOT_ALLOWED, 405, "method_not_allowed", "method not allowed")     \
    XX(REQUEST_TIMEOUT, 408, "request_timeout", "request took too long")        \
    XX(USERNAME_TAKEN, 409, "username_taken", "username is taken")              \
    XX(CONFLICT, 409, "conflict", "conflicts with the current state")          \
    XX(ALREADY_AUTHENTICATED, 409, "already_authenticated",                     \
       "this connection is already authenticated")                             \
    XX(MEMBER_LIMIT, 409, "member_limit", "the conversation is full")          \
    XX(CMID_CONFLICT, 409, "cmid_conflict",                                     \
       "this cmid was already used for another conversation")                  \
    XX(PAYLOAD_TOO_LARGE, 413, "payload_too_large", "request body too large")   \
    XX(RANGE_NOT_SATISFIABLE, 416, "range_not_satisfiable",                     \
       "the range is outside the file")                                          \
    XX(URI_TOO_LONG, 414, "uri_too_long", "request URL too long")               \
    XX(UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type",                   \
       "send JSON with Content-Type: application/json")                        \
    XX(BAD_WS_VERSION, 426, "unsupported_websocket_version",                    \
       "only WebSocket version 13 is supported")                               \
    XX(RATE_LIMITED, 429, "rate_limited", "too many attempts, retry later")     \
    XX(HEADERS_TOO_LARGE, 431, "headers_too_large",                             \
       "request headers too large or too many")                                \
    XX(UNAVAILABLE, 503, "unavailable", "server is busy or shutting down")      \
    XX(INSUFFICIENT_STORAGE, 507, "insufficient_storage",                       \
       "the server has no room to store this")

enum pipit_err {
    PIPIT_OK = 0,
    PIPIT__ERR_BASE = -1000,
#define PIPIT__ERR_ENUM(name, status, code, msg) PIPIT_E##name,
    PIPIT_ERR_MAP(PIPIT__ERR_ENUM)
#undef PIPIT__ERR_ENUM
    PIPIT__ERR_END
};

/* Human-readable message; never NULL. */
const char *pipit_strerror(int err);
/* Wire code ("bad_request"); never NULL. */
const char *pipit_errcode(int err);
/* HTTP status for the error; 500 for anything unknown. */
int pipit_errstatus(int err);

#endif
