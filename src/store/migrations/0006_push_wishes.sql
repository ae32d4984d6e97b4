-- The user's wishes and the push's options: categories (and which ones an app
-- calls urgent), per-user notification settings, scheduling (send_at, or the same
-- wall-clock time in each user's zone) and A/B variants.

ALTER TABLE pushes ADD COLUMN category TEXT;
ALTER TABLE pushes ADD COLUMN send_at INTEGER;        -- ms; NULL: now
ALTER TABLE pushes ADD COLUMN send_at_local TEXT;     -- "YYYY-MM-DDTHH:MM", each user's zone
ALTER TABLE pushes ADD COLUMN variants TEXT;          -- JSON [{"name","weight","notification"}]
ALTER TABLE pushes ADD COLUMN holdout INTEGER NOT NULL DEFAULT 0;  -- weight of "nothing"
CREATE INDEX pushes_created ON pushes(created_at);

-- variant: index into the push's variants; NULL without variants.
-- channel 'pending': a user whose deliveries are decided when next_at comes
-- (a scheduled push, or quiet hours).
ALTER TABLE deliveries ADD COLUMN variant INTEGER;
CREATE INDEX deliveries_user ON deliveries(user_id, push_id);

CREATE TABLE notification_settings (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    settings    TEXT NOT NULL,   -- JSON, as accepted by PUT /v1/me/notification-settings
    updated_at  INTEGER NOT NULL
);

CREATE TABLE push_categories (
    app_id   INTEGER NOT NULL REFERENCES apps(id),
    name     TEXT NOT NULL,
    urgent   INTEGER NOT NULL DEFAULT 0,   -- high-priority pushes pass quiet hours
    PRIMARY KEY (app_id, name)
) WITHOUT ROWID;
