/*
 * retention.h: the retention sweep, which deletes what retention has expired.
 *
 * Expired messages are already invisible (reads compare their time with the
 * retention in effect: store_chat.h); the sweep removes them from the disk, with
 * their edits and search entries (triggers), and unshares the files of messages
 * past the file retention (the files sweep then deletes the bytes). It runs on
 * the store writer in steps of at most RETENTION_STEP_ROWS rows, one step per
 * batch, so it never holds the writer for long (64 rows: ~4 ms, most of it
 * FTS5 deletions; 1,000-row steps held sends up to 110 ms: bench/RESULTS.md);
 * nothing under a legal hold goes.
 */
#ifndef PIPIT_COMPLIANCE_RETENTION_H
#define PIPIT_COMPLIANCE_RETENTION_H

struct server;

#define RETENTION_STEP_ROWS 64

/* Starts a pass unless one is running (from the main loop's timer). */
void retention_sweep(struct server *srv);

#endif
