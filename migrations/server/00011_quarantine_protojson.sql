-- The quarantine payload becomes a versioned format (payload_format).
-- Format 1 was the JSON of the server's Go struct, which review queries read
-- by Go field names; format 2 is the protobuf JSON mapping of the
-- shiftsync.sync.v1.Mutation the device sent (see shiftsync.QuarantinePayload),
-- which managers' tools decode with the generated types. What format 1 held
-- beyond the wire message is kept in columns: the person the change names
-- (read by the review lists), the agency the server assigned, the app version
-- the device reported. Every format-1 row is converted here; nothing of it is
-- dropped (device, user and counter have always had their own columns).
--
-- The conversion follows the protobuf JSON mapping: defaults omitted (a
-- merge patch onto '{}' drops the nulls), 64-bit integers as strings, the
-- value's oneof member set even to its default, a base or an HLC of zero
-- omitted (the device sent none). Timestamps keep format 1's RFC 3339 text,
-- which protojson reads.

-- +goose Up
ALTER TABLE quarantine ADD COLUMN person_id TEXT NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN agency TEXT NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN app_version TEXT NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN payload_format INTEGER NOT NULL DEFAULT 1;

UPDATE quarantine SET
    person_id = coalesce(payload ->> '$.PersonID', ''),
    agency = coalesce(payload ->> '$.Agency', ''),
    app_version = coalesce(payload ->> '$.AppVersion', ''),
    payload_format = 2,
    payload = json_patch('{}', json_object(
        'counter', nullif(CAST(payload ->> '$.Counter' AS TEXT), '0'),
        'recordId', nullif(payload ->> '$.RecordID', ''),
        'recordType', nullif(payload ->> '$.RecordType', ''),
        'serviceId', nullif(payload ->> '$.ServiceID', ''),
        'personId', nullif(payload ->> '$.PersonID', ''),
        'hlc', json(CASE WHEN coalesce(payload ->> '$.HLC.WallMS', 0) != 0 OR coalesce(payload ->> '$.HLC.Logical', 0) != 0 THEN json_object(
            'wallMs', nullif(CAST(payload ->> '$.HLC.WallMS' AS TEXT), '0'),
            'logical', nullif(payload ->> '$.HLC.Logical', 0)) END),
        'fields', json(CASE WHEN json_array_length(payload, '$.Fields') > 0 THEN (SELECT json_group_array(json_patch('{}', json_object(
            'field', nullif(f.value ->> '$.Field', ''),
            'value', json(CASE f.value ->> '$.Value.Kind'
                WHEN 1 THEN json_object('stringValue', f.value ->> '$.Value.String')
                WHEN 2 THEN json_object('intValue', CAST(f.value ->> '$.Value.Int' AS TEXT))
                WHEN 3 THEN json_object('doubleValue', f.value -> '$.Value.Double')
                WHEN 4 THEN json_object('boolValue', f.value -> '$.Value.Bool')
                WHEN 5 THEN json_object('timestampValue', f.value ->> '$.Value.Time')
                WHEN 6 THEN json_object('enumValue', f.value ->> '$.Value.String')
                WHEN 7 THEN json_object('listValue', json(CASE WHEN json_array_length(f.value, '$.Value.List') > 0
                    THEN json_object('values', f.value -> '$.Value.List') ELSE json_object() END))
            END),
            'base', json(CASE WHEN coalesce(f.value ->> '$.Base.HLC.WallMS', 0) != 0 OR coalesce(f.value ->> '$.Base.HLC.Logical', 0) != 0
                OR coalesce(f.value ->> '$.Base.DeviceID', '') != '' THEN json_object(
                'hlc', json(CASE WHEN coalesce(f.value ->> '$.Base.HLC.WallMS', 0) != 0 OR coalesce(f.value ->> '$.Base.HLC.Logical', 0) != 0 THEN json_object(
                    'wallMs', nullif(CAST(f.value ->> '$.Base.HLC.WallMS' AS TEXT), '0'),
                    'logical', nullif(f.value ->> '$.Base.HLC.Logical', 0)) END),
                'deviceId', nullif(f.value ->> '$.Base.DeviceID', '')) END)
        )) ORDER BY f.key) FROM json_each(payload, '$.Fields') f) END)
    ))
WHERE payload_format = 1;

-- +goose Down
UPDATE quarantine SET
    payload = json_object(
        'RecordID', coalesce(payload ->> '$.recordId', ''),
        'RecordType', coalesce(payload ->> '$.recordType', ''),
        'ServiceID', coalesce(payload ->> '$.serviceId', ''),
        'PersonID', coalesce(payload ->> '$.personId', ''),
        'Agency', agency,
        'DeviceID', device_id,
        'UserID', user_id,
        'Counter', CAST(coalesce(payload ->> '$.counter', '0') AS INTEGER),
        'HLC', json_object(
            'WallMS', CAST(coalesce(payload ->> '$.hlc.wallMs', '0') AS INTEGER),
            'Logical', coalesce(payload ->> '$.hlc.logical', 0)),
        'Fields', json(CASE WHEN json_array_length(payload, '$.fields') > 0 THEN (SELECT json_group_array(json_object(
            'Field', coalesce(f.value ->> '$.field', ''),
            'Value', json_object(
                'Kind', CASE
                    WHEN json_type(f.value, '$.value.stringValue') IS NOT NULL THEN 1
                    WHEN json_type(f.value, '$.value.intValue') IS NOT NULL THEN 2
                    WHEN json_type(f.value, '$.value.doubleValue') IS NOT NULL THEN 3
                    WHEN json_type(f.value, '$.value.boolValue') IS NOT NULL THEN 4
                    WHEN json_type(f.value, '$.value.timestampValue') IS NOT NULL THEN 5
                    WHEN json_type(f.value, '$.value.enumValue') IS NOT NULL THEN 6
                    WHEN json_type(f.value, '$.value.listValue') IS NOT NULL THEN 7
                    ELSE 0 END,
                'String', coalesce(f.value ->> '$.value.stringValue', f.value ->> '$.value.enumValue', ''),
                'Int', CAST(coalesce(f.value ->> '$.value.intValue', '0') AS INTEGER),
                'Double', json(coalesce(f.value -> '$.value.doubleValue', 0)),
                'Bool', json(coalesce(f.value -> '$.value.boolValue', 'false')),
                'Time', coalesce(f.value ->> '$.value.timestampValue', '0001-01-01T00:00:00Z'),
                'List', json(CASE WHEN json_type(f.value, '$.value.listValue') IS NOT NULL
                    THEN coalesce(f.value -> '$.value.listValue.values', '[]') END)),
            'Base', json_object(
                'HLC', json_object(
                    'WallMS', CAST(coalesce(f.value ->> '$.base.hlc.wallMs', '0') AS INTEGER),
                    'Logical', coalesce(f.value ->> '$.base.hlc.logical', 0)),
                'DeviceID', coalesce(f.value ->> '$.base.deviceId', ''))
        ) ORDER BY f.key) FROM json_each(payload, '$.fields') f) END),
        'AppVersion', app_version)
WHERE payload_format = 2;

ALTER TABLE quarantine DROP COLUMN payload_format;
ALTER TABLE quarantine DROP COLUMN app_version;
ALTER TABLE quarantine DROP COLUMN agency;
ALTER TABLE quarantine DROP COLUMN person_id;
