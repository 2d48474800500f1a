-- What each enrolled device is: a phone enrolled from the app with an
-- enrolment code, or a browser (the console's credential, to come). Static
-- bearer tokens (tools, curl, tests) are not devices of this table; their
-- principals are labelled "tool" by the verifier. Every device enrolled
-- before this migration was enrolled from the phone app.

-- +goose Up
ALTER TABLE devices ADD COLUMN kind TEXT NOT NULL DEFAULT 'phone' CHECK (kind IN ('phone', 'browser', 'tool'));

-- +goose Down
ALTER TABLE devices DROP COLUMN kind;
