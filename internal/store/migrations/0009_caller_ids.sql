-- Caller ID ownership (issue 14, api.md): an outbound call's or dial leg's
-- from must be one of the customer's numbers, one of verified_caller_ids
-- (JSON list of E.164 numbers the operator checked), or anything when
-- allow_any_caller_id is set. Existing customers get the same default as new
-- ones (false): the upgrade closes the hole instead of keeping it open for
-- every account that existed before it; the operator lists a customer's
-- other numbers or allows any (docs/api.md, upgrading).

ALTER TABLE customers ADD COLUMN verified_caller_ids TEXT NOT NULL DEFAULT '[]';
ALTER TABLE customers ADD COLUMN allow_any_caller_id BOOLEAN NOT NULL DEFAULT FALSE;
