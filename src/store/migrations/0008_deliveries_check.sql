-- The same deliveries table with its state CHECK written as comparisons: SQLite
-- evaluates `state IN (six values)` by building a temporary b-tree on every
-- INSERT and UPDATE that sets state, about a tenth of the store writer's time per
-- push (bench/RESULTS.md). Two values or fewer are compared directly.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.

CREATE TABLE deliveries_new (
    id            INTEGER PRIMARY KEY,
    push_id       INTEGER NOT NULL REFERENCES pushes(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL,
    device_id     INTEGER,
    channel       TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state = 'queued' OR state = 'sending' OR state = 'sent'
                                       OR state = 'failed' OR state = 'expired'
                                       OR state = 'suppressed'),
    reason        TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER,           -- queued: due at (ms); 0 = now
    sent_at       INTEGER,
    delivered_at  INTEGER,
    opened_at     INTEGER,
    clicked_at    INTEGER,
    variant       INTEGER            -- index into the push's variants; NULL without
);
INSERT INTO deliveries_new (id, push_id, user_id, device_id, channel, state, reason, attempts,
                            next_at, sent_at, delivered_at, opened_at, clicked_at, variant)
    SELECT id, push_id, user_id, device_id, channel, state, reason, attempts,
           next_at, sent_at, delivered_at, opened_at, clicked_at, variant
    FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_push ON deliveries(push_id, user_id);
CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state = 'queued';
CREATE INDEX deliveries_sending ON deliveries(id) WHERE state = 'sending';
CREATE INDEX deliveries_user ON deliveries(user_id, push_id);
