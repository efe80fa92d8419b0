-- A reservation made without the caller's reference remembers the
-- Idempotency-Key of the request that made it (internal/billing
-- ReserveParams.RequestKey), so that a retry whose idempotency record was
-- lost (a crash between the reservation's commit and the record) finds the
-- first reservation instead of holding the amount twice. '' for none.
ALTER TABLE billing_reservations ADD COLUMN request_key TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX billing_reservations_request_key ON billing_reservations (org_id, request_key) WHERE request_key <> '';
