-- What a Browser Harness noted of the page an answer was captured on (its `page`: url, title,
-- ...), as a JSON object of strings; NULL for an API attempt, and for every attempt stored before.
ALTER TABLE item_attempts ADD COLUMN page TEXT;
