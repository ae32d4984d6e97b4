/*
 * endpoint.c: see endpoint.h.
 */
#include "push/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "util/err.h"

static bool ipv4_is_private(uint32_t a) /* host order */
{
    return (a >> 24) == 0 ||                   /* 0.0.0.0/8 "this network" */
           (a >> 24) == 10 ||                  /* 10/8 */
           (a >> 24) == 127 ||                 /* loopback */
           (a >> 22) == (100u << 2 | 1) ||     /* 100.64/10 shared (CGNAT) */
           (a >> 16) == (169u << 8 | 254) ||   /* 169.254/16 link-local */
           (a >> 20) == (172u << 4 | 1) ||     /* 172.16/12 */
           (a >> 16) == (192u << 8 | 168) ||   /* 192.168/16 */
           (a >> 8) == (192u << 16) ||         /* 192.0.0/24 protocol assignments */
           (a >> 17) == (198u << 7 | 9) ||     /* 198.18/15 benchmarking */
           (a >> 28) >= 14;                    /* 224/4 multicast, 240/4 reserved, broadcast */
}

static uint32_t ipv4_at(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool ipv6_is_private(const struct in6_addr *a)
{
    const uint8_t *b = a->s6_addr;
    static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
    static const uint8_t siit[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0 };

    /* Forms that carry an IPv4 address: judged by that address. */
    if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a) || memcmp(b, nat64, 12) == 0 ||
        memcmp(b, siit, 12) == 0) {
        return ipv4_is_private(ipv4_at(b + 12));
    }
    if (b[0] == 0x20 && b[1] == 0x02) {          /* 2002::/16 6to4 */
        return ipv4_is_private(ipv4_at(b + 2));
    }
    return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
           IN6_IS_ADDR_SITELOCAL(a) || IN6_IS_ADDR_MULTICAST(a) ||
           (b[0] & 0xfe) == 0xfc ||                                  /* fc00::/7 unique local */
           (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
            b[4] == 0x00 && b[5] == 0x01) ||                         /* 64:ff9b:1::/48 local NAT64 */
           (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) || /* 2001::/32 Teredo */
           (b[0] == 0x01 && b[1] == 0x00 && memcmp(b + 2, "\0\0\0\0\0\0", 6) == 0); /* 100::/64 */
}

bool push_address_is_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return ipv4_is_private(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        return ipv6_is_private(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    }
    return true;
}

static int refuse(const char **why, const char *rule)
{
    *why = rule;
    return PIPIT_EBAD_REQUEST;
}

/*
 * Whether a host is meant as an IPv4 address even if it is not a valid one: no
 * name's last label is all digits. (Valid ones in the forms resolvers accept
 * but inet_pton refuses, "127.1", "2130706433", "0x7f000001", are what
 * inet_aton reads.)
 */
static bool looks_numeric(const char *host)
{
    const char *last = strrchr(host, '.');

    last = last != NULL ? last + 1 : host;
    return *last != '\0' && strspn(last, "0123456789") == strlen(last);
}

/* ":" and 1 to 65535, up to end. */
static bool valid_port(const char *p, const char *end)
{
    long port = 0;

    if (*p++ != ':' || p == end || end - p > 5) {
        return false;
    }
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        port = port * 10 + (*p - '0');
    }
    return port >= 1 && port <= 65535;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

/* Names that mean this machine or its own network (RFC 6761, /etc/hosts of Debian). */
static bool is_local_name(const char *host, size_t len)
{
    return (len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           ends_with(host, len, ".localhost") ||
           (len == 13 && strncasecmp(host, "ip6-localhost", 13) == 0) ||
           (len == 12 && strncasecmp(host, "ip6-loopback", 12) == 0) ||
           (len == 11 && strncasecmp(host, "localdomain", 11) == 0) ||
           ends_with(host, len, ".localdomain");
}

int push_endpoint_check(const char *url, bool allow_http, bool allow_private, const char **why)
{
    char host[256];
    const char *auth, *end, *h, *hend;
    size_t len = strlen(url);

    if (len > PUSH_ENDPOINT_MAX) {
        return refuse(why, "the endpoint is longer than 2048 bytes");
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f) {
            return refuse(why, "the endpoint must be a URL without spaces or control characters");
        }
    }
    if (strncasecmp(url, "https://", 8) == 0) {
        auth = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        if (!allow_http) {
            return refuse(why, "the endpoint must use https");
        }
        auth = url + 7;
    } else {
        return refuse(why, "the endpoint must be an https URL");
    }
    end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(end - auth)) != NULL || memchr(auth, '\\', (size_t)(end - auth))) {
        return refuse(why, "the endpoint must not carry a user name or password");
    }
    h = auth;
    if (*h == '[') {
        hend = memchr(h, ']', (size_t)(end - h));
        if (hend == NULL) {
            return refuse(why, "the endpoint's host is not valid");
        }
        h++;
    } else {
        hend = memchr(h, ':', (size_t)(end - h));
        if (hend == NULL) {
            hend = end;
        }
    }
    if (hend == h || (size_t)(hend - h) >= sizeof(host)) {
        return refuse(why, "the endpoint has no valid host");
    }
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    if (h > auth) {
        hend++; /* past ']' */
    }
    if (hend < end && !valid_port(hend, end)) {
        return refuse(why, "the endpoint's port is not valid");
    }
    /* A resolver sees the host after percent-decoding ("%31%32%37.0.0.1"): names
     * and IPv4 addresses are only letters, digits, dots and dashes. */
    if (h == auth && strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789.-") != strlen(host)) {
        return refuse(why, "the endpoint's host is not a valid address or name");
    }
    if (allow_private) {
        return 0;
    }
    if (h > auth) {
        struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6 };

        if (inet_pton(AF_INET6, host, &sa6.sin6_addr) != 1) {
            return refuse(why, "the endpoint's host is not a valid IPv6 address");
        }
        if (push_address_is_private((struct sockaddr *)&sa6)) {
            return refuse(why, "the endpoint is a loopback, private or link-local address");
        }
        return 0;
    }
    if (strlen(host) > 1 && host[strlen(host) - 1] == '.') {
        host[strlen(host) - 1] = '\0'; /* "localhost." is the same name */
    }
    struct sockaddr_in sa4 = { .sin_family = AF_INET };
    bool ipv4 = inet_aton(host, &sa4.sin_addr) != 0; /* also "0x7f000001" */

    if (ipv4 || looks_numeric(host)) {
        if (!ipv4) {
            return refuse(why, "the endpoint's host is not a valid address or name");
        }
        if (push_address_is_private((struct sockaddr *)&sa4)) {
            return refuse(why, "the endpoint is a loopback, private or link-local address");
        }
        return 0;
    }
    if (is_local_name(host, strlen(host))) {
        return refuse(why, "the endpoint is a loopback, private or link-local address");
    }
    return 0;
}
