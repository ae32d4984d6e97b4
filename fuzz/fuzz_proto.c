/*
 * fuzz_proto.c: session protocol frames (src/proto/proto.h).
 *
 * The input is one WebSocket text message. Whatever proto_decode says, the frame
 * is freed, and an answer naming its id is built and serialised, as the session
 * layer does.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/proto.h"
#include "util/err.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_frame f;
    const char *why = NULL;
    json_t *answer;
    char *text;
    int rc = proto_decode((const char *)data, size, &f, &why);

    if (rc == 0) {
        CHECK(f.root != NULL && json_is_object(f.root));
        CHECK(f.id != NULL && (json_is_integer(f.id) || json_is_string(f.id)));
        CHECK(f.op != NULL && strlen(f.op) >= 1 && strlen(f.op) <= PROTO_OP_MAX);
        answer = proto_ok(f.id, json_pack("{s:s}", "op", f.op));
    } else {
        CHECK(rc == PIPIT_EBAD_REQUEST);
        CHECK(why != NULL);
        if (f.id != NULL) {
            CHECK(json_is_integer(f.id) ||
                  (json_is_string(f.id) && json_string_length(f.id) <= PROTO_ID_MAX));
        }
        answer = proto_error(f.id, rc, why);
    }
    proto_frame_free(&f);
    CHECK(answer != NULL);
    text = json_dumps(answer, JSON_COMPACT);
    CHECK(text != NULL);
    free(text);
    json_decref(answer);
    return 0;
}
