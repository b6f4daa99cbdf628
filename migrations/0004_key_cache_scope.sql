-- The prefix-cache scope an operator gives a key so several keys share cached prompts; null = the key's own id.
ALTER TABLE api_keys ADD COLUMN cache_scope TEXT;
