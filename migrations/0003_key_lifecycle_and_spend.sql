-- Key lifecycle: an expiry time, and a money budget per period (prices live in the model catalog).
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
ALTER TABLE api_keys ADD COLUMN max_budget REAL;
ALTER TABLE api_keys ADD COLUMN budget_period TEXT;

-- What each request cost at the price of the model that answered it, so spend survives price changes.
ALTER TABLE usage ADD COLUMN cost REAL NOT NULL DEFAULT 0;
