-- The quarantine payload becomes a versioned format (payload_format), with
-- the person, agency and app version in columns. PostgreSQL translation of
-- migrations/server/00011_quarantine_protojson.sql.
--
-- The SQLite migration also converts format-1 payloads (the JSON of the
-- server's Go struct) to format 2 (protojson). No PostgreSQL store ever
-- wrote format 1: this history was first applied to empty databases, after
-- the engine wrote format 2 only. So the columns are added and the
-- conversion is a documented no-op; the default is 2.

-- +goose Up
ALTER TABLE quarantine ADD COLUMN person_id text NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN agency text NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN app_version text NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN payload_format integer NOT NULL DEFAULT 2;

-- +goose Down
ALTER TABLE quarantine DROP COLUMN payload_format;
ALTER TABLE quarantine DROP COLUMN app_version;
ALTER TABLE quarantine DROP COLUMN agency;
ALTER TABLE quarantine DROP COLUMN person_id;
