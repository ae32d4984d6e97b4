/*
 * webpush_bench.c: Web Push encryptions per second on one core (src/push/webpush.h).
 *
 *   pipit-webpush-bench [SECONDS] [PAYLOAD_BYTES]
 *
 * Encrypts a payload (default 512 bytes, a typical notification) for one
 * subscription over and over, each with a fresh sender key and salt as in
 * production, for SECONDS (default 5), and prints encryptions/s. Also signs
 * VAPID headers for the same time, for comparison (the sender caches one per
 * push service origin, so they are not per message).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "push/vapid.h"
#include "push/webpush.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    size_t payload = argc > 2 ? (size_t)atol(argv[2]) : 512;
    EVP_PKEY *ua = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    uint8_t ua_pub[WEBPUSH_KEY_LEN], auth[WEBPUSH_AUTH_LEN] = { 1, 2, 3 };
    uint8_t *plain, *out;
    char dir[] = "/tmp/pipit-bench-XXXXXX", err[256], path[300];
    struct vapid *v;
    size_t len = 0;
    long n = 0;
    double start, t, rate;

    if (payload > WEBPUSH_PLAINTEXT_MAX || seconds <= 0 || seconds > 600 || ua == NULL ||
        EVP_PKEY_get_octet_string_param(ua, "encoded-pub-key", ua_pub, sizeof(ua_pub), &len) != 1) {
        fprintf(stderr, "usage: %s [SECONDS ≤ 600] [PAYLOAD_BYTES ≤ %d]\n", argv[0],
                WEBPUSH_PLAINTEXT_MAX);
        return 2;
    }
    plain = calloc(1, payload + 1);
    out = malloc(payload + WEBPUSH_OVERHEAD);
    memset(plain, 'x', payload);
    start = now_s();
    do {
        for (int i = 0; i < 100; i++, n++) {
            if (webpush_encrypt(ua_pub, auth, plain, payload, out) < 0) {
                fprintf(stderr, "encryption failed\n");
                return 1;
            }
        }
        t = now_s() - start;
    } while (t < seconds);
    rate = n / t;
    printf("webpush encryptions:   %.0f /s on one core (%zu-byte payload, %ld in %.1f s)\n",
           rate, payload, n, t);

    if (mkdtemp(dir) == NULL || vapid_open(dir, &v, err, sizeof(err)) != 0) {
        fprintf(stderr, "vapid: %s\n", err);
        return 1;
    }
    n = 0;
    start = now_s();
    do {
        for (int i = 0; i < 100; i++, n++) {
            struct buf hdr;

            buf_init(&hdr, 4096);
            vapid_authorization(v, "https://push.example.com/x", 1700000000, "mailto:a@b", &hdr);
            buf_cleanup(&hdr);
        }
        t = now_s() - start;
    } while (t < seconds / 5);
    printf("vapid signatures:      %.0f /s on one core\n", n / t);
    printf("RESULT webpush_per_s=%.0f vapid_per_s=%.0f\n", rate, n / t);
    vapid_free(v);
    snprintf(path, sizeof(path), "%s/vapid-private.pem", dir);
    unlink(path);
    rmdir(dir);
    EVP_PKEY_free(ua);
    webpush_thread_end();
    free(plain);
    free(out);
    return 0;
}
