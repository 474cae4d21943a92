-- What the platform itself said on a recording (issue 15, docs/insights.md):
-- each say (text, voice) and play (URL) with its start and end on the
-- recording's clock, as a JSON array, so the transcript states the
-- platform's speech instead of recognising it. Recordings made before have
-- none ('[]') and keep being transcribed by speech recognition alone.

ALTER TABLE recordings ADD COLUMN speech TEXT NOT NULL DEFAULT '[]';
