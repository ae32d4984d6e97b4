/*
 * proto.h: the WebSocket session protocol's frames (docs/protocol.md).
 *
 * Client → server: {"id": <string or integer>, "op": "<name>", …}
 * Answers:        {"re": <id>, "ok": {…}} or {"re": <id>, "error": {"code", "message"}}
 * Events:         {"ev": "<name>", …}
 *
 * proto_decode is a pure function (fuzzed): text in, a validated frame or a
 * reason out. Thread-safe.
 */
#ifndef PIPIT_PROTO_PROTO_H
#define PIPIT_PROTO_PROTO_H

#include <jansson.h>
#include <stddef.h>

#define PROTO_VERSION 1
#define PROTO_ID_MAX 128
#define PROTO_OP_MAX 64

struct proto_frame {
    json_t *root;    /* owned: the whole object */
    json_t *id;      /* borrowed from root; NULL when missing or invalid */
    const char *op;  /* borrowed from root */
};

/*
 * Parses one text message. Returns 0 with a frame (free with proto_frame_free),
 * or PIPIT_EBAD_REQUEST with *why set; even then out->id may be usable so the
 * error can name the request it answers (out->root then still needs freeing).
 */
int proto_decode(const char *data, size_t len, struct proto_frame *out, const char **why);
void proto_frame_free(struct proto_frame *f);

/* {"re":id,"ok":ok}: takes ok; id is copied (JSON null when NULL). */
json_t *proto_ok(json_t *id, json_t *ok);
/* {"re":id,"error":{"code","message"}}; message NULL = the error's default. */
json_t *proto_error(json_t *id, int err, const char *message);

#endif
