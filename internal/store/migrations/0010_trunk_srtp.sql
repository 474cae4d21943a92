-- SRTP on outbound trunks (issue 14, docs/tls.md): what the platform offers
-- a trunk's callee. 'off' offers plain RTP, 'optional' offers SRTP (SDES,
-- RFC 4568) and takes a plain answer, 'required' offers only SRTP and hangs
-- up on an answer without it. Existing trunks keep plain RTP.

ALTER TABLE trunks ADD COLUMN srtp TEXT NOT NULL DEFAULT 'off';
