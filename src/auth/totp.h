/*
 * totp.h: the second factor. Time-based one-time passwords (RFC 6238: HMAC-SHA1,
 * 30-second steps, 6 digits, what every authenticator app speaks) and one-time
 * recovery codes.
 *
 * A secret is 160 random bits shown to the user as 32 base32 characters (RFC
 * 4648, the otpauth:// URI's form). A code is accepted for the current step or
 * one step either side (clocks drift), and only for a step newer than the last
 * one accepted, so a code seen over someone's shoulder cannot be used again.
 *
 * A recovery code is 80 random bits as 16 lower-case base32 characters in four
 * groups ("abcd-efgh-ijkl-mnop"); what is kept is its BLAKE2b hash (so many random
 * bits need no slow hash). Presented codes are read leniently: case, dashes
 * and spaces do not matter.
 *
 * Pure (but for the random bytes); thread-safe.
 */
#ifndef PIPIT_AUTH_TOTP_H
#define PIPIT_AUTH_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define TOTP_SECRET_LEN 20
#define TOTP_SECRET_TEXT_LEN 32
#define TOTP_PERIOD_MS 30000
#define TOTP_DIGITS 6
#define TOTP_URI_MAX 1024
#define RECOVERY_CODES 10
#define RECOVERY_CODE_TEXT_LEN 19

_Static_assert(TOTP_SECRET_TEXT_LEN <= STORE_MFA_SECRET_MAX, "a secret fits the store");

/* A new random secret, as base32 text. */
void totp_secret_new(char text[TOTP_SECRET_TEXT_LEN + 1]);

/* The code of a time step (0 to 999999); PIPIT_EBAD_REQUEST if secret is not base32. */
int totp_code(const char *secret, int64_t step, uint32_t *code);

/*
 * The step (the current one or one either side, after last_step) whose code is
 * `code` (six digits, spaces allowed); 0 when none is. Every candidate is
 * compared, in constant time, whichever matched.
 */
int64_t totp_match(const char *secret, const char *code, int64_t now_ms, int64_t last_step);

/*
 * The otpauth:// URI an authenticator app scans: the issuer names the service,
 * the account the user. Percent-encoded; cut to TOTP_URI_MAX.
 */
void totp_uri(char out[TOTP_URI_MAX], const char *issuer, const char *account,
              const char *secret);

/* A new recovery code, and the hash that is kept of it. */
void recovery_code_new(char text[RECOVERY_CODE_TEXT_LEN + 1],
                       uint8_t hash[STORE_RECOVERY_HASH_LEN]);

/* The hash of a presented code; PIPIT_EBAD_REQUEST when it cannot be one. */
int recovery_code_hash(const char *text, uint8_t hash[STORE_RECOVERY_HASH_LEN]);

#endif
