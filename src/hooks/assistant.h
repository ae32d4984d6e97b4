/*
 * assistant.h: the private AI assistant, a bot per app that answers with the
 * app's own OpenAI-compatible endpoint (an on-premises model server).
 *
 * A message to the assistant's bot in a direct conversation, or one that
 * mentions it in a group, is noticed on the store writer once committed
 * (assistant_bot, then assistant_ask). On the webhooks service thread (nothing
 * blocks an I/O worker): a reader loads the assistant's settings and the
 * conversation's recent messages as the bot sees them; the per-user and
 * per-app limits are checked; the bot opens a streaming message (a reply to the
 * question); POST {base_url}/chat/completions with "stream": true is read as
 * server-sent events (hooks/sse.h) — or as one JSON answer, if that is what
 * comes — and the text is appended to the message as it arrives, each append
 * carrying what came while the last one was being stored. An error or a
 * timeout ends the message with a note saying so.
 */
#ifndef PIPIT_HOOKS_ASSISTANT_H
#define PIPIT_HOOKS_ASSISTANT_H

#include <stdint.h>

struct server;
struct store_conn;

void assistant_new(struct server *srv);
void assistant_free(struct server *srv);

/* Writer thread: the app's enabled assistant's bot, or 0 (0 too on a store error). */
int64_t assistant_bot(struct server *srv, struct store_conn *sc, int64_t app_id);
/* Writer thread: an admin changed an assistant; assistant_bot reads them again. */
void assistant_changed(struct server *srv);
/* Writer thread, after the COMMIT of the message conv/seq from sender: answer it. */
void assistant_ask(struct server *srv, int64_t app_id, int64_t conv, int64_t seq, int64_t sender);

#endif
