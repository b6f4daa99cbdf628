-- The x-request-id a client sent, kept next to the gateway's own request id (which alone is unique).
ALTER TABLE usage ADD COLUMN client_request_id TEXT;
