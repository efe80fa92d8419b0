-- A webhook endpoint its organization deleted (internal/webhook
-- Service.DeleteEndpoint) keeps its row, disabled and without its secret,
-- so that its deliveries and attempts still name it; deleted_at (unix
-- microseconds) hides it from every read but the event's deliveries.
ALTER TABLE webhook_endpoints ADD COLUMN deleted_at INTEGER;
