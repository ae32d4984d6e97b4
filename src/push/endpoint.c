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
           (a >> 8) == (192u << 16 | 0 << 8 | 0) || /* 192.0.0/24 protocol assignments */
           (a >> 28) >= 14;                    /* 224/4 multicast, 240/4 reserved, broadcast */
}

bool push_address_is_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return ipv4_is_private(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        const uint8_t *b = a->s6_addr;

        if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a)) {
            return ipv4_is_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
                                   (uint32_t)b[14] << 8 | b[15]);
        }
        return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) ||
               IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_SITELOCAL(a) ||
               IN6_IS_ADDR_MULTICAST(a) || (b[0] & 0xfe) == 0xfc; /* fc00::/7 unique local */
    }
    return true;
}

static int refuse(const char **why, const char *rule)
{
    *why = rule;
    return PIPIT_EBAD_REQUEST;
}

/* A host made only of digits, dots and hex letters may be an IPv4 address in a
 * form inet_pton refuses but resolvers accept ("127.1", "0x7f.1", "2130706433"). */
static bool looks_numeric(const char *host)
{
    bool digit = false;

    for (const char *p = host; *p != '\0'; p++) {
        if (strchr("0123456789", *p) != NULL) {
            digit = true;
        } else if (strchr(".xXabcdefABCDEF", *p) == NULL) {
            return false;
        }
    }
    return digit && strchr("0123456789", host[0]) != NULL;
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

static bool is_localhost_name(const char *host, size_t len)
{
    if (len > 0 && host[len - 1] == '.') {
        len--; /* "localhost." is the same name */
    }
    return (len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (len > 10 && strncasecmp(host + len - 10, ".localhost", 10) == 0);
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
    if (looks_numeric(host)) {
        struct sockaddr_in sa4 = { .sin_family = AF_INET };

        if (inet_aton(host, &sa4.sin_addr) == 0 ||
            push_address_is_private((struct sockaddr *)&sa4)) {
            return refuse(why, "the endpoint is a loopback, private or link-local address");
        }
        return 0;
    }
    if (is_localhost_name(host, strlen(host))) {
        return refuse(why, "the endpoint is a loopback, private or link-local address");
    }
    return 0;
}
