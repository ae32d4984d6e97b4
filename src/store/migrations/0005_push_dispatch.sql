-- Sending deliveries to the providers: a delivery is `sending` while its request
-- is in flight (written before the request goes out, so a restart knows which
-- ones may have reached the provider), and remembers when the provider took it.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.

CREATE TABLE deliveries_new (
    id            INTEGER PRIMARY KEY,
    push_id       INTEGER NOT NULL REFERENCES pushes(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL,
    device_id     INTEGER,
    channel       TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed',
                                                 'expired', 'suppressed')),
    reason        TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER,           -- queued: due at (ms); 0 = now
    sent_at       INTEGER,
    delivered_at  INTEGER,
    opened_at     INTEGER,
    clicked_at    INTEGER
);
INSERT INTO deliveries_new (id, push_id, user_id, device_id, channel, state, reason, attempts,
                            next_at, delivered_at, opened_at, clicked_at)
    SELECT id, push_id, user_id, device_id, channel, state, reason, attempts,
           CASE WHEN state = 'queued' THEN coalesce(next_at, 0) END,
           delivered_at, opened_at, clicked_at
    FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_push ON deliveries(push_id, user_id);
CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state = 'queued';
CREATE INDEX deliveries_sending ON deliveries(id) WHERE state = 'sending';
