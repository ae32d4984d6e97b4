-- Erasure of a user (issue 6): the account row stays, emptied, so that the
-- conversations they were in keep their shape (members, senders' ids); its
-- username becomes "erased-<id>" and erased_at says when.
ALTER TABLE users ADD COLUMN erased_at INTEGER;          -- ms; NULL: not erased
