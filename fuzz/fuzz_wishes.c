/*
 * fuzz_wishes.c: what users and business servers send about time and wishes
 * (src/push/wishes.c): notification settings, RFC 3339 instants and local
 * wall-clock times.
 *
 * The input is tried as settings JSON (checked: never crashes; valid settings
 * stay valid once stored and read back), as an instant (a parse is within the
 * years the format can write), and as a local time (converted in a zone with
 * daylight saving time lands within a day of the naive UTC reading).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "push/push.h"

#define YEAR_10000_MS 253402300800000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    json_t *settings;

    memcpy(text, data, size);
    text[size] = '\0';
    settings = json_loadb(text, size, 0, NULL);
    if (settings != NULL && wishes_check(settings) == NULL) {
        char *stored = json_dumps(settings, JSON_COMPACT);
        json_t *again = json_loads(stored, 0, NULL);

        CHECK(again != NULL && wishes_check(again) == NULL);
        json_decref(again);
        free(stored);
    }
    json_decref(settings);
    {
        int64_t at = wishes_parse_instant(text);

        CHECK(at == -1 || (at > -YEAR_10000_MS && at < YEAR_10000_MS));
    }
    if (wishes_local_ok(text)) {
        int64_t utc = wishes_local_time("UTC", text);
        int64_t ny = wishes_local_time("America/New_York", text);

        CHECK(ny - utc > 0 && ny - utc <= 36 * 3600 * 1000LL);
    }
    free(text);
    return 0;
}
