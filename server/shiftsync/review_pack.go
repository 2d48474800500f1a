package shiftsync

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// safeguardingType is the record type a pack counts and never lists.
const safeguardingType = "safeguarding_concern"

// packReviewer returns what p may review, when p may export or verify packs
// about a person: those who may review the person's restrictive
// interventions. It returns nil when p may not.
func (r *Review) packReviewer(ctx context.Context, p Principal, serviceID, personID string) (func(RecordRef) bool, error) {
	allowed, err := r.reviewable(ctx, p)
	if err != nil || !allowed(RecordRef{RecordType: "restrictive_intervention", ServiceID: serviceID, PersonID: personID}) {
		return nil, err
	}
	return allowed, nil
}

// ExportEvidencePack implements [ReviewService].
func (r *Review) ExportEvidencePack(ctx context.Context, p Principal, serviceID, personID string, from, to time.Time) (EvidencePack, error) {
	pack := EvidencePack{ServiceID: serviceID, PersonID: personID, From: from.UTC(), To: to.UTC()}
	switch {
	case serviceID == "" || personID == "":
		return pack, Errorf(CodeInvalid, "an evidence pack is about one person of one service")
	case !to.After(from) || to.Sub(from) > MaxPackPeriod:
		return pack, Errorf(CodeInvalid, "an evidence pack covers a period of at most a year, ending after it starts")
	}
	allowed, err := r.packReviewer(ctx, p, serviceID, personID)
	if err != nil {
		return pack, err
	} else if allowed == nil {
		return pack, Errorf(CodePermissionDenied, "you may not export evidence about person %q of service %q", personID, serviceID)
	}
	if err := r.evaluate(ctx, serviceID); err != nil {
		return pack, err
	}
	err = r.Store.Update(ctx, func(tx Tx) error {
		now := r.now()
		records, err := tx.ServiceRecords(ctx, serviceID, personID, "")
		if err != nil {
			return err
		}
		th, err := tx.Thresholds(ctx, serviceID)
		if err != nil {
			return err
		}
		pack.Records, pack.Actions, pack.SafeguardingConcerns, pack.EventTimes = nil, nil, 0, map[string]time.Time{}
		for _, rec := range records {
			at := r.eventTime(rec)
			// Every exporter counts safeguarding concerns; none lists them.
			switch {
			case rec.Voided() || at.Before(pack.From) || at.After(pack.To):
				continue
			case rec.RecordType == safeguardingType:
				pack.SafeguardingConcerns++
				continue
			case !allowed(rec.RecordRef):
				continue
			}
			pack.Records, pack.EventTimes[rec.RecordID] = append(pack.Records, rec), at
			if rec.RecordType == "action" {
				pack.Actions = append(pack.Actions, ViewAction(rec, now))
			}
		}
		slices.SortStableFunc(pack.Records, func(a, b *Record) int { return r.eventTime(a).Compare(r.eventTime(b)) })
		pack.Weeks = Trends(pack.Records, personID, pack.From, pack.To, th.Location())
		if pack.Findings, err = reviewableFindings(ctx, tx, allowed, serviceID, personID, false); err != nil {
			return err
		}
		slices.SortFunc(pack.Findings, func(a, b Finding) int {
			return cmp.Or(a.DueAt.Compare(b.DueAt), strings.Compare(a.RuleID, b.RuleID), strings.Compare(a.Subject, b.Subject))
		})
		pack.Rows = make([]PackRow, len(pack.Records))
		for i, rec := range pack.Records {
			pack.Rows[i] = NewPackRow(rec, pack.EventTimes[rec.RecordID])
		}
		pack.Manifest = NewManifest(serviceID, personID, pack.From, pack.To, p.UserID, now, pack.Records, pack.Rows)
		sum := pack.Manifest.Hash()
		if pack.ID, err = tx.InsertEvidencePack(ctx, StoredPack{ServiceID: serviceID, PersonID: personID, From: pack.From, To: pack.To,
			Manifest: pack.Manifest.Canonical(), ManifestSHA256: sum, ExportedBy: p.UserID, ExportedAt: now}); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, now, AuditEvent{Actor: p, Action: AuditEvidenceExport, Subject: pack.ID,
			Detail: fmt.Sprintf(`{"service":%q,"person":%q,"records":%d,"manifest_sha256":%q}`, serviceID, personID, len(pack.Records), sum)})
	})
	return pack, err
}

// VerifyEvidencePack implements [ReviewService].
func (r *Review) VerifyEvidencePack(ctx context.Context, p Principal, packID string, file *PackFile) (PackVerification, error) {
	if file != nil {
		switch {
		case packID == "":
			packID = file.PackID
		case file.PackID != "" && file.PackID != packID:
			return PackVerification{PackID: packID}, Errorf(CodeInvalid, "the file is of another pack than %q", packID)
		}
		if packID == "" || len(packID) > MaxIDBytes {
			return PackVerification{}, Errorf(CodeInvalid, "the file names no pack: give its id")
		}
	}
	v := PackVerification{PackID: packID}
	denied := Errorf(CodePermissionDenied, "no evidence pack %q that you may verify", packID)
	var stored *StoredPack
	if err := r.Store.View(ctx, func(tx Tx) (err error) {
		stored, err = tx.EvidencePack(ctx, packID)
		return err
	}); err != nil {
		return v, err
	} else if stored == nil {
		return v, denied
	}
	if allowed, err := r.packReviewer(ctx, p, stored.ServiceID, stored.PersonID); err != nil {
		return v, err
	} else if allowed == nil {
		return v, denied
	}
	altered := false
	err := r.Store.View(ctx, func(tx Tx) error {
		audited, err := auditedPackHash(ctx, tx, packID)
		if err != nil {
			return err
		}
		var m Manifest
		if err := json.Unmarshal(stored.Manifest, &m); err != nil {
			altered = true
			return nil
		}
		v.ManifestAltered = m.Hash() != stored.ManifestSHA256 || stored.ManifestSHA256 != audited
		if file != nil {
			if m.Encoding != PackRowEncoding {
				return Errorf(CodeInvalid, "pack %q was exported before its rows could be checked (encoding v1): verify it by its id alone", packID)
			}
			check := file.against(m.Rows, m.Root)
			v.File = &check
		}
		for _, e := range m.Entries {
			v.Records++
			rec, err := recordAt(ctx, tx, e)
			if err != nil {
				return err
			}
			if rec == nil || RecordHash(rec) != e.SHA256 {
				v.Mismatched = append(v.Mismatched, e.RecordID)
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return PackVerification{PackID: packID}, err
	case altered:
		// A manifest that does not parse is reported, not audited as read.
		return PackVerification{PackID: packID, ManifestAltered: true}, nil
	}
	return v, r.audit(ctx, AuditEvent{Actor: p, Action: AuditReviewRead, Subject: packID,
		Detail: fmt.Sprintf(`{"verify_pack":%t,"records":%d,"file":%t}`, v.OK(), v.Records, file != nil)})
}

// auditedPackHash returns the manifest hash the audit log recorded when
// the pack was exported: "" when no entry did, so the pack row cannot be
// trusted.
func auditedPackHash(ctx context.Context, tx Tx, packID string) (string, error) {
	detail, ok, err := tx.AuditDetail(ctx, AuditEvidenceExport, packID)
	if err != nil || !ok {
		return "", err
	}
	var d struct {
		SHA256 string `json:"manifest_sha256"`
	}
	_ = json.Unmarshal([]byte(detail), &d)
	return d.SHA256, nil
}

// recordAt rebuilds a manifest entry's record from the field versions it
// names; nil when a version is missing or belongs elsewhere.
func recordAt(ctx context.Context, tx Tx, e ManifestEntry) (*Record, error) {
	stored, err := tx.Record(ctx, e.RecordID)
	if err != nil || stored == nil {
		return nil, err
	}
	rec := &Record{RecordRef: stored.RecordRef, Fields: map[string]Value{}}
	if len(e.Versions) == 0 {
		return rec, nil
	}
	seqs := make([]int64, 0, len(e.Versions))
	for _, seq := range e.Versions {
		seqs = append(seqs, seq)
	}
	versions, err := tx.VersionsAt(ctx, seqs)
	if err != nil {
		return nil, err
	}
	for _, sv := range versions {
		value, err := UnmarshalValue(sv.Value)
		if err != nil || sv.RecordID != e.RecordID || e.Versions[sv.Field] != sv.Seq {
			return nil, nil
		}
		rec.Fields[sv.Field] = value
	}
	if len(rec.Fields) != len(e.Versions) {
		return nil, nil
	}
	return rec, nil
}
