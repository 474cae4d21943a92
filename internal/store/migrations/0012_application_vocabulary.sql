-- An application's vocabulary (issue 15, docs/insights.md "Vocabulary"):
-- names and terms its calls use, which speech recognition is biased
-- towards. A JSON array of strings; existing applications have none.

ALTER TABLE applications ADD COLUMN vocabulary TEXT NOT NULL DEFAULT '[]';
