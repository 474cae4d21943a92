-- Webhook delivery (webhooks.md, issue 5). Each event keeps the call object as
-- it was when the event was written, so a webhook sent later (a retry hours
-- on, a redelivery) still shows that moment. next_attempt_at is when the next
-- automatic attempt is due (null when none is); delivery_round counts
-- redeliveries, so a delivery job of an earlier round stands down;
-- round_attempts counts the attempts of the current round, which pick the
-- retry delay and when the event is exhausted.

ALTER TABLE events ADD COLUMN call_snapshot TEXT;
ALTER TABLE events ADD COLUMN next_attempt_at BIGINT;
ALTER TABLE events ADD COLUMN delivery_round INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN round_attempts INTEGER NOT NULL DEFAULT 0;
-- Events written before delivery existed were never queued: they are not sent
-- (POST /v1/events/{id}/redeliver sends one on demand).
UPDATE events SET delivery_status = 'none' WHERE delivery_status IN ('pending', 'retrying');
-- Lists filtered by application and the 410 Gone sweep of an application's
-- undelivered events.
CREATE INDEX events_application_created ON events (application_id, created_at, id);
CREATE INDEX events_application_undelivered ON events (application_id, created_at, id) WHERE delivery_status IN ('pending', 'retrying');
