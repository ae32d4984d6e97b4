#include "proto/proto.h"

#include <string.h>

#include "util/err.h"

static json_t *valid_id(json_t *id)
{
    if (json_is_integer(id)) {
        return id;
    }
    if (json_is_string(id) && json_string_length(id) >= 1 &&
        json_string_length(id) <= PROTO_ID_MAX) {
        return id;
    }
    return NULL;
}

int proto_decode(const char *data, size_t len, struct proto_frame *out, const char **why)
{
    json_error_t jerr;
    json_t *op;

    memset(out, 0, sizeof(*out));
    out->root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (out->root == NULL) {
        *why = "not valid JSON";
        return PIPIT_EBAD_REQUEST;
    }
    if (!json_is_object(out->root)) {
        *why = "a frame must be a JSON object";
        return PIPIT_EBAD_REQUEST;
    }
    out->id = valid_id(json_object_get(out->root, "id"));
    if (out->id == NULL) {
        *why = "\"id\" must be a non-empty string (at most 128 bytes) or an integer";
        return PIPIT_EBAD_REQUEST;
    }
    op = json_object_get(out->root, "op");
    if (!json_is_string(op) || json_string_length(op) < 1 ||
        json_string_length(op) > PROTO_OP_MAX) {
        *why = "\"op\" must be a non-empty string";
        return PIPIT_EBAD_REQUEST;
    }
    out->op = json_string_value(op);
    return 0;
}

void proto_frame_free(struct proto_frame *f)
{
    json_decref(f->root);
    memset(f, 0, sizeof(*f));
}

json_t *proto_ok(json_t *id, json_t *ok)
{
    return json_pack("{s:O,s:o}", "re", id != NULL ? id : json_null(), "ok",
                     ok != NULL ? ok : json_object());
}

json_t *proto_error(json_t *id, int err, const char *message)
{
    return json_pack("{s:O,s:{s:s,s:s}}", "re", id != NULL ? id : json_null(), "error",
                     "code", pipit_errcode(err), "message",
                     message != NULL ? message : pipit_strerror(err));
}
