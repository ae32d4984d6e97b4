/*
 * ws_codec.h: RFC 6455 framing over memory, server side (wslay underneath).
 *
 * Bytes from the peer go in with ws_codec_feed(); whole messages come out through
 * on_message (fragments reassembled, text checked as UTF-8 even across fragments,
 * pings answered with pongs, control frames handled between fragments). Frames to
 * send come out through on_output. No sockets, no timers, no logging: a pure
 * codec, unit-tested and fuzzed (fuzz/fuzz_ws.c), that ws_conn.c puts on a
 * connection.
 *
 * When the peer breaks the protocol the codec queues the close frame RFC 6455
 * asks for (1002 protocol error, 1007 invalid UTF-8, 1009 too big), stops
 * reading, and ws_codec_feed() returns PIPIT_EPROTO. A small frame-header guard
 * runs ahead of wslay for the cases wslay answers without a status code or only
 * after reading the payload: fragmented or oversized control frames, a close
 * frame with a 1-byte body, a 64-bit length with the top bit set (1002), and a
 * data frame declaring more than max_message bytes (1009, before any payload).
 *
 * Memory: a wslay context costs ~8.8 KiB (its input buffer alone is 4 KiB), far
 * more than the rest of a connection. Between messages it holds no state we
 * need, so ws_codec_release_idle() frees it and the next byte in or message out
 * makes a fresh one: an idle WebSocket costs a few hundred bytes, not 9 KiB.
 *
 * One thread at a time.
 */
#ifndef PIPIT_WS_WS_CODEC_H
#define PIPIT_WS_WS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>

struct ws_codec_handlers {
    /* A whole message: opcode is WSLAY_TEXT_FRAME, WSLAY_BINARY_FRAME, WSLAY_PING,
     * WSLAY_PONG or WSLAY_CONNECTION_CLOSE (then close_code is the peer's status). */
    void (*on_message)(void *user, uint8_t opcode, const uint8_t *data, size_t len,
                       uint16_t close_code);
    /* Bytes to write to the peer. */
    void (*on_output)(void *user, const uint8_t *data, size_t len);
};

struct ws_codec {
    wslay_event_context_ptr ctx;            /* owned; NULL while idle */
    const struct ws_codec_handlers *h;      /* borrowed */
    void *user;
    const uint8_t *in;                      /* bytes being fed (borrowed) */
    size_t in_len;
    uint64_t max_message;
    /* Frame-header guard state: header bytes so far, payload bytes to skip. */
    uint8_t hdr[14];
    uint8_t hdr_len;
    uint64_t skip;
    bool in_fragments;                      /* inside a fragmented data message */
    bool in_wslay;                          /* wslay is on the stack: never free ctx */
};

int ws_codec_init(struct ws_codec *wc, uint64_t max_message,
                  const struct ws_codec_handlers *h, void *user);
void ws_codec_cleanup(struct ws_codec *wc);

/* Consumes all of data. 0, or PIPIT_EPROTO once the connection has failed. */
int ws_codec_feed(struct ws_codec *wc, const void *data, size_t len);
/* Emits queued frames through on_output. 0 or PIPIT_EPROTO. */
int ws_codec_flush(struct ws_codec *wc);

/* Queues a message (copied) or a close; sent by the next ws_codec_flush(). */
int ws_codec_queue(struct ws_codec *wc, uint8_t opcode, const void *data, size_t len);
int ws_codec_queue_close(struct ws_codec *wc, uint16_t code, const char *reason);

/* Frees the wslay context if no message is half-read, queued or closing. */
void ws_codec_release_idle(struct ws_codec *wc);

/*
 * Writes the header of an unfragmented, unmasked server frame (RFC 6455 §5.2)
 * into out; returns its length (2, 4 or 10). With nothing queued in the codec, a
 * data frame can go straight to the socket as header + payload, without wslay
 * copying the payload once more per recipient.
 */
size_t ws_frame_header(uint8_t opcode, size_t len, uint8_t out[10]);

/* Bytes queued and not yet emitted. */
size_t ws_codec_queued(const struct ws_codec *wc);
bool ws_codec_close_sent(const struct ws_codec *wc);
bool ws_codec_close_received(const struct ws_codec *wc);
bool ws_codec_reading(const struct ws_codec *wc);

#endif
