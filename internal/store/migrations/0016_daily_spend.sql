-- Each customer's call charges per UTC day (issue 17): daily_spend_limit is
-- checked at every admission, and summing the day's ledger entries for it
-- read every call charge of the day, under the customer's lock, a cost
-- that grew with the day's calls. The charge's transaction adds to its
-- day's row (the day of the ledger entry's created_at, in days since
-- 1970-01-01 UTC); spent_micros is the total in millionths, exact since
-- prices are rounded to 6 places. The ledger stays the record; the rows
-- for the days before this migration are summed from it here.
CREATE TABLE customer_daily_spend (
	customer_id TEXT NOT NULL REFERENCES customers (id),
	day BIGINT NOT NULL,
	spent_micros BIGINT NOT NULL,
	PRIMARY KEY (customer_id, day)
);
INSERT INTO customer_daily_spend (customer_id, day, spent_micros)
	SELECT customer_id, created_at / 86400000, -SUM(CAST(ROUND(CAST(amount AS DOUBLE PRECISION) * 1000000) AS BIGINT))
	FROM ledger_entries WHERE kind = 'call_charge' GROUP BY customer_id, created_at / 86400000;
