package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// recordView is RecordJSON decoded for printing.
type recordView struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	ServiceID string `json:"serviceId"`
	PersonID  string `json:"personId"`
	CreatedAt int64  `json:"createdAtMs"`
	Pending   int    `json:"pendingMutations"`
	Rejected  *struct {
		Code        string `json:"code"`
		Reason      string `json:"reason"`
		FieldErrors []struct {
			Field   string `json:"field"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"fieldErrors"`
	} `json:"rejected"`
	Fields map[string]struct {
		Value    json.RawMessage `json:"value"`
		Version  versionView     `json:"version"`
		Author   string          `json:"authorUserId"`
		Pending  bool            `json:"pending"`
		Conflict bool            `json:"conflict"`
	} `json:"fields"`
	History []struct {
		Field   string          `json:"field"`
		Value   json.RawMessage `json:"value"`
		Version versionView     `json:"version"`
		Origin  string          `json:"origin"`
		Counter int64           `json:"counter"`
		Author  string          `json:"authorUserId"`
		Winning bool            `json:"winning"`
	} `json:"history"`
	Outbox []struct {
		Counter    int64    `json:"counter"`
		Status     string   `json:"status"`
		Fields     []string `json:"fields"`
		ReasonCode string   `json:"reasonCode"`
		Reason     string   `json:"reason"`
		Restamps   int64    `json:"restamps"`
	} `json:"outbox"`
	raw string
}

type versionView struct {
	HLC struct {
		WallMS  json.Number `json:"wallMs"`
		Logical uint32      `json:"logical"`
	} `json:"hlc"`
	DeviceID string `json:"deviceId"`
}

func (v versionView) String() string {
	ms, _ := v.HLC.WallMS.Int64()
	return fmt.Sprintf("%s.%d %s", time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"), v.HLC.Logical, v.DeviceID)
}

func (a *app) record(id string) (*recordView, error) {
	s, err := a.r.RecordJSON(id)
	if err != nil {
		return nil, err
	}
	rec := &recordView{raw: s}
	if err := json.Unmarshal([]byte(s), rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// display renders a value's protobuf JSON for a person: the value of its
// one kind.
func display(raw json.RawMessage) string {
	var kinds map[string]json.RawMessage
	if err := json.Unmarshal(raw, &kinds); err != nil {
		return string(raw)
	}
	for kind, v := range kinds {
		switch kind {
		case "listValue":
			var l struct {
				Values []string `json:"values"`
			}
			if json.Unmarshal(v, &l) == nil {
				return strings.Join(l.Values, ", ")
			}
		default:
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s
			}
		}
		return string(v)
	}
	return string(raw)
}
