-- Texts the content filter flagged for review (filter/filter.h): a message
-- (seq) or a group's title (seq 0), who wrote it, and the list and word that
-- matched. Resolving a flag deletes it.
CREATE TABLE content_flags (
    id          INTEGER PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES apps(id),
    conv_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    sender      INTEGER NOT NULL,
    list        TEXT NOT NULL,
    word        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX content_flags_app ON content_flags(app_id, id);
