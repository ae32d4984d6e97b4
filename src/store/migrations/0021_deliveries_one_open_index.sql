-- A delivery inserted `sending` (a push's first attempt) and settled a moment
-- later entered and left two partial indexes: deliveries_sending, read only at
-- start-up to queue again what a crash left `sending`, and deliveries_open
-- (queued or sending), read when a push may be finished. The start-up query
-- scans deliveries_open instead (it holds every `sending` row), so each push
-- writes one index entry fewer and deletes one fewer (bench/RESULTS.md, 2026-12-03).
DROP INDEX deliveries_sending;
