package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// InsertConsoleSession implements [shiftsync.ConsoleTx].
func (tx *Tx) InsertConsoleSession(ctx context.Context, hash []byte, s shiftsync.ConsoleSession) error {
	_, err := tx.exec(ctx, `INSERT INTO console_sessions (token_hash, device_id, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5)`,
		hash, s.DeviceID, s.UserID, s.CreatedAt.UnixMilli(), s.LastSeenAt.UnixMilli())
	return err
}

// ConsoleSession implements [shiftsync.ConsoleTx].
func (tx *Tx) ConsoleSession(ctx context.Context, hash []byte) (*shiftsync.ConsoleSession, error) {
	var (
		s                 shiftsync.ConsoleSession
		created, lastSeen int64
		ended, revoked    *int64
	)
	err := tx.queryRow(ctx, `
		SELECT s.device_id, s.user_id, s.created_at, s.last_seen_at, s.ended_at, d.revoked_at
		FROM console_sessions s JOIN devices d ON d.id = s.device_id
		WHERE s.token_hash = $1`, hash).Scan(&s.DeviceID, &s.UserID, &created, &lastSeen, &ended, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt = time.UnixMilli(created).UTC(), time.UnixMilli(lastSeen).UTC()
	if ended != nil {
		s.EndedAt = time.UnixMilli(*ended).UTC()
	}
	if revoked != nil {
		s.DeviceRevokedAt = time.UnixMilli(*revoked).UTC()
	}
	return &s, nil
}

// TouchConsoleSession implements [shiftsync.ConsoleTx].
func (tx *Tx) TouchConsoleSession(ctx context.Context, hash []byte, at time.Time) error {
	_, err := tx.exec(ctx, `UPDATE console_sessions SET last_seen_at = $1 WHERE token_hash = $2`, at.UnixMilli(), hash)
	return err
}

// EndConsoleSession implements [shiftsync.ConsoleTx].
func (tx *Tx) EndConsoleSession(ctx context.Context, hash []byte, at time.Time) error {
	_, err := tx.exec(ctx, `UPDATE console_sessions SET ended_at = $1 WHERE token_hash = $2 AND ended_at IS NULL`, at.UnixMilli(), hash)
	return err
}
