-- The partner agency an action is assigned to, kept with the record.
-- PostgreSQL translation of migrations/server/00007_add_record_agency.sql,
-- with its conversion of existing actions.

-- +goose Up
ALTER TABLE records ADD COLUMN agency text NOT NULL DEFAULT '';
UPDATE records SET agency = coalesce((
    SELECT v.value::jsonb ->> 's'
    FROM fields f JOIN field_versions v ON v.seq = f.version_seq
    WHERE f.record_id = records.record_id AND f.field = 'agency'), '')
WHERE record_type = 'action';

-- +goose Down
ALTER TABLE records DROP COLUMN agency;
