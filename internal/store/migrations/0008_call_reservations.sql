-- Money held for calls that are up (issue 14, billing.md "Reservations").
-- One row per call that admission let through: amount is what the call may
-- cost through the end of the increments reserved so far (its first
-- increment at admission, grown before each further increment). Admission
-- checks balance + credit_limit - SUM(open reservations) under the
-- customer's row lock, so concurrent calls, in one process or in several on
-- one PostgreSQL, cannot reserve more than the customer has. The row is
-- deleted in the transaction that writes the call's final state (and its
-- charge); a row whose call is final or was never created is stale and is
-- swept by the next admission of that customer.

CREATE TABLE call_reservations (
	call_id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	amount TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX call_reservations_customer ON call_reservations (customer_id);
