package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

var (
	_ shiftsync.HealthRecorder = (*DB)(nil)
	_ shiftsync.OpsStore       = (*DB)(nil)
	_ shiftsync.ReviewTx       = (*Tx)(nil)
)

// RecordHealth implements [shiftsync.HealthRecorder]: it keeps the
// device's latest report, and the time of its last successful push or
// pull.
func (db *DB) RecordHealth(ctx context.Context, p shiftsync.Principal, r shiftsync.HealthReport) error {
	if p.DeviceID == "" {
		return nil
	}
	return db.update(ctx, func(tx *Tx) error {
		now := tx.now.UnixMilli()
		var pushed, pulled any
		if r.Pushed {
			pushed = now
		}
		if r.Pulled {
			pulled = now
		}
		_, err := tx.exec(ctx, `
			INSERT INTO device_health (device_id, user_id, app_version, outbox_depth, oldest_unsynced_age_seconds, reported_at, last_push_at, last_pull_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (device_id) DO UPDATE SET user_id = excluded.user_id, app_version = excluded.app_version,
				outbox_depth = excluded.outbox_depth, oldest_unsynced_age_seconds = excluded.oldest_unsynced_age_seconds,
				reported_at = excluded.reported_at,
				last_push_at = coalesce(excluded.last_push_at, device_health.last_push_at),
				last_pull_at = coalesce(excluded.last_pull_at, device_health.last_pull_at)`,
			p.DeviceID, p.UserID, r.AppVersion, r.OutboxDepth, int64(r.OldestUnsyncedAge/time.Second), now, pushed, pulled)
		return err
	})
}

// optionalMillis converts a nullable Unix millisecond column to a time,
// zero when NULL.
func optionalMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return time.UnixMilli(ms.Int64).UTC()
}

// DeviceHealth implements [shiftsync.ReviewTx].
func (tx *Tx) DeviceHealth(ctx context.Context, serviceID string, at time.Time) ([]shiftsync.DeviceHealth, error) {
	now := at.UnixMilli()
	rows, err := tx.query(ctx, `
		SELECT d.id, d.user_id, d.label, d.kind, d.enrolled_at, d.revoked_at,
		       coalesce(h.app_version, ''), coalesce(h.outbox_depth, 0), coalesce(h.oldest_unsynced_age_seconds, 0),
		       h.reported_at, h.last_push_at, h.last_pull_at
		FROM devices d LEFT JOIN device_health h ON h.device_id = d.id
		WHERE d.user_id IN (SELECT user_id FROM memberships WHERE service_id = $1 AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $3))
		ORDER BY greatest(coalesce(h.last_push_at, 0), coalesce(h.last_pull_at, 0)), d.id`, serviceID, now, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shiftsync.DeviceHealth
	for rows.Next() {
		var (
			h                             shiftsync.DeviceHealth
			enrolled, ageSeconds          int64
			revoked, reported, push, pull sql.NullInt64
		)
		if err := rows.Scan(&h.DeviceID, &h.UserID, &h.Label, &h.Kind, &enrolled, &revoked, &h.AppVersion, &h.OutboxDepth, &ageSeconds,
			&reported, &push, &pull); err != nil {
			return nil, err
		}
		h.EnrolledAt, h.OldestUnsyncedAge = time.UnixMilli(enrolled).UTC(), time.Duration(ageSeconds)*time.Second
		h.RevokedAt, h.ReportedAt, h.LastPushAt, h.LastPullAt = optionalMillis(revoked), optionalMillis(reported), optionalMillis(push), optionalMillis(pull)
		out = append(out, h)
	}
	return out, rows.Err()
}

// OpsCounts implements [shiftsync.OpsStore], its counts from one snapshot.
// The horizon lag is read first, before the snapshot waits for the
// transactions in flight to end.
func (db *DB) OpsCounts(ctx context.Context) (shiftsync.OpsCounts, error) {
	c := shiftsync.OpsCounts{OpenAlerts: map[string]int{}, Findings: map[shiftsync.FindingKey]int{}}
	// Any transaction of the cluster holding an xid holds the horizon (see
	// awaitHorizon), whatever its database.
	var lag float64
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM clock_timestamp() - min(xact_start)), 0)::float8
		FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()`).Scan(&lag); err != nil {
		return c, storageError(err)
	}
	c.HorizonLag = time.Duration(lag * float64(time.Second))
	err := db.View(ctx, func(stx shiftsync.Tx) error {
		tx := stx.(*Tx)
		rows, err := tx.query(ctx, `SELECT rule_id, count(*) FROM alerts WHERE acknowledged_at IS NULL GROUP BY rule_id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				rule string
				n    int
			)
			if err := rows.Scan(&rule, &n); err != nil {
				rows.Close()
				return err
			}
			c.OpenAlerts[rule] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var backup sql.NullInt64
		if err := tx.queryRow(ctx, `SELECT (SELECT count(*) FROM conflicts WHERE status = 'open'), (SELECT max(taken_at) FROM backups)`).
			Scan(&c.OpenConflicts, &backup); err != nil {
			return err
		}
		c.LastBackup = optionalMillis(backup)
		if rows, err = tx.query(ctx, `SELECT rule_id, state, count(*) FROM findings GROUP BY rule_id, state`); err != nil {
			return err
		}
		for rows.Next() {
			var (
				k shiftsync.FindingKey
				n int
			)
			if err := rows.Scan(&k.RuleID, &k.State, &n); err != nil {
				rows.Close()
				return err
			}
			c.Findings[k] = n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = tx.query(ctx, `
			SELECT d.enrolled_at, coalesce(h.outbox_depth, 0), coalesce(h.oldest_unsynced_age_seconds, 0), h.reported_at, h.last_push_at, h.last_pull_at
			FROM devices d LEFT JOIN device_health h ON h.device_id = d.id
			WHERE d.kind = 'phone' AND d.revoked_at IS NULL`); err != nil {
			return err
		}
		for rows.Next() {
			var (
				h                    shiftsync.DeviceHealth
				enrolled, ageSeconds int64
				reported, push, pull sql.NullInt64
			)
			if err := rows.Scan(&enrolled, &h.OutboxDepth, &ageSeconds, &reported, &push, &pull); err != nil {
				rows.Close()
				return err
			}
			h.Kind, h.EnrolledAt, h.OldestUnsyncedAge = shiftsync.KindPhone, time.UnixMilli(enrolled).UTC(), time.Duration(ageSeconds)*time.Second
			h.ReportedAt, h.LastPushAt, h.LastPullAt = optionalMillis(reported), optionalMillis(push), optionalMillis(pull)
			c.Phones = append(c.Phones, h)
		}
		return rows.Err()
	})
	return c, err
}
