/*
 * endpoint.h: which URLs a device may ask the server to POST to.
 *
 * Web Push and UnifiedPush endpoints come from clients, so an endpoint is a way
 * to make the server send requests on someone's behalf (SSRF). Registration
 * refuses, unless the configuration allows them: plain http, userinfo, and
 * hosts that are loopback, private, link-local, shared, multicast or
 * unspecified addresses, written in any form the resolver accepts ("127.1",
 * "2130706433", "[::ffff:10.0.0.1]", NAT64 and 6to4 forms of those) or named
 * localhost. A name can still resolve anywhere: the sender (next to come) must
 * check the address it actually connects to with push_address_is_private().
 */
#ifndef PIPIT_PUSH_ENDPOINT_H
#define PIPIT_PUSH_ENDPOINT_H

#include <stdbool.h>
#include <sys/socket.h>

#define PUSH_ENDPOINT_MAX 2048

/* 0, or PIPIT_EBAD_REQUEST with *why naming the rule broken. */
int push_endpoint_check(const char *url, bool allow_http, bool allow_private, const char **why);
/* Whether an address is one no endpoint may reach unless allowed (see above). */
bool push_address_is_private(const struct sockaddr *sa);

#endif
