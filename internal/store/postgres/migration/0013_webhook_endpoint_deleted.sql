-- A webhook endpoint its organization deleted (internal/webhook
-- Service.DeleteEndpoint) keeps its row, disabled and without its secret,
-- so that its deliveries and attempts still name it; deleted_at hides it
-- from every read but the event's deliveries. A nullable column without a
-- default: adding it rewrites nothing.
ALTER TABLE webhook_endpoints ADD COLUMN deleted_at timestamptz;
