-- The partner agency an action is assigned to, kept with the record so that
-- a pull or a review can tell which agency's users may see it without
-- reading its fields. It is set when the action is created and fixed after.

-- +goose Up
ALTER TABLE records ADD COLUMN agency TEXT NOT NULL DEFAULT '';
UPDATE records SET agency = coalesce((
    SELECT json_extract(v.value, '$.s')
    FROM fields f JOIN field_versions v ON v.seq = f.version_seq
    WHERE f.record_id = records.record_id AND f.field = 'agency'), '')
WHERE record_type = 'action';

-- +goose Down
ALTER TABLE records DROP COLUMN agency;
