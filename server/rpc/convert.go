package rpc

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// The conversions between the wire and the domain are total and pure: every
// message converts, and whatever is wrong with it is found by the domain's
// validation, so a bad mutation is quarantined with a reason rather than
// failing the whole request.

func toMutations(pbs []*syncv1.Mutation, appVersion string) []shiftsync.Mutation {
	ms := make([]shiftsync.Mutation, len(pbs))
	for i, pb := range pbs {
		ms[i] = toMutation(pb, appVersion)
	}
	return ms
}

func toMutation(pb *syncv1.Mutation, appVersion string) shiftsync.Mutation {
	m := shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{
			RecordID:   pb.GetRecordId(),
			RecordType: pb.GetRecordType(),
			ServiceID:  pb.GetServiceId(),
			PersonID:   pb.GetPersonId(),
		},
		Counter:    pb.GetCounter(),
		HLC:        toHLC(pb.GetHlc()),
		Fields:     make([]shiftsync.FieldEdit, len(pb.GetFields())),
		AppVersion: appVersion,
		Corrects:   pb.GetCorrects(),
	}
	for i, f := range pb.GetFields() {
		m.Fields[i] = shiftsync.FieldEdit{Field: f.GetField(), Value: toValue(f.GetValue()), Base: toVersion(f.GetBase())}
	}
	return m
}

func toHLC(pb *syncv1.HybridTimestamp) shiftsync.HLC {
	return shiftsync.HLC{WallMS: pb.GetWallMs(), Logical: pb.GetLogical()}
}

func toVersion(pb *syncv1.Version) shiftsync.Version {
	if pb == nil {
		return shiftsync.Version{}
	}
	return shiftsync.Version{HLC: toHLC(pb.GetHlc()), DeviceID: pb.GetDeviceId()}
}

func toValue(pb *syncv1.Value) shiftsync.Value {
	switch k := pb.GetKind().(type) {
	case *syncv1.Value_StringValue:
		return shiftsync.Value{Kind: shiftsync.KindString, String: k.StringValue}
	case *syncv1.Value_IntValue:
		return shiftsync.Value{Kind: shiftsync.KindInt, Int: k.IntValue}
	case *syncv1.Value_DoubleValue:
		return shiftsync.Value{Kind: shiftsync.KindDouble, Double: k.DoubleValue}
	case *syncv1.Value_BoolValue:
		return shiftsync.Value{Kind: shiftsync.KindBool, Bool: k.BoolValue}
	case *syncv1.Value_TimestampValue:
		if k.TimestampValue.CheckValid() != nil {
			return shiftsync.Value{Kind: shiftsync.KindTimestamp} // the zero time: rejected as out of range
		}
		return shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: k.TimestampValue.AsTime()}
	case *syncv1.Value_EnumValue:
		return shiftsync.Value{Kind: shiftsync.KindEnum, String: k.EnumValue}
	case *syncv1.Value_ListValue:
		return shiftsync.Value{Kind: shiftsync.KindList, List: append([]string{}, k.ListValue.GetValues()...)}
	}
	return shiftsync.Value{}
}

func fromValue(v shiftsync.Value) *syncv1.Value {
	switch v.Kind {
	case shiftsync.KindString:
		return &syncv1.Value{Kind: &syncv1.Value_StringValue{StringValue: v.String}}
	case shiftsync.KindInt:
		return &syncv1.Value{Kind: &syncv1.Value_IntValue{IntValue: v.Int}}
	case shiftsync.KindDouble:
		return &syncv1.Value{Kind: &syncv1.Value_DoubleValue{DoubleValue: v.Double}}
	case shiftsync.KindBool:
		return &syncv1.Value{Kind: &syncv1.Value_BoolValue{BoolValue: v.Bool}}
	case shiftsync.KindTimestamp:
		return &syncv1.Value{Kind: &syncv1.Value_TimestampValue{TimestampValue: timestamppb.New(v.Time)}}
	case shiftsync.KindEnum:
		return &syncv1.Value{Kind: &syncv1.Value_EnumValue{EnumValue: v.String}}
	case shiftsync.KindList:
		return &syncv1.Value{Kind: &syncv1.Value_ListValue{ListValue: &syncv1.StringList{Values: v.List}}}
	}
	return &syncv1.Value{}
}

func fromHLC(h shiftsync.HLC) *syncv1.HybridTimestamp {
	return &syncv1.HybridTimestamp{WallMs: h.WallMS, Logical: h.Logical}
}

func fromVersion(v shiftsync.Version) *syncv1.Version {
	return &syncv1.Version{Hlc: fromHLC(v.HLC), DeviceId: v.DeviceID}
}

// statuses maps the domain's mutation statuses to the wire's.
var statuses = map[shiftsync.MutationStatus]syncv1.MutationStatus{
	shiftsync.StatusAccepted:        syncv1.MutationStatus_MUTATION_STATUS_ACCEPTED,
	shiftsync.StatusQuarantined:     syncv1.MutationStatus_MUTATION_STATUS_QUARANTINED,
	shiftsync.StatusRestampRequired: syncv1.MutationStatus_MUTATION_STATUS_RESTAMP_REQUIRED,
	shiftsync.StatusNotProcessed:    syncv1.MutationStatus_MUTATION_STATUS_NOT_PROCESSED,
}

func fromPushResult(r shiftsync.PushResult) *syncv1.PushResponse {
	res := &syncv1.PushResponse{
		AcknowledgedCounter: r.Acknowledged,
		Results:             make([]*syncv1.MutationResult, len(r.Results)),
		ServerTimeMs:        r.ServerTime.UnixMilli(),
		BackedUpThrough:     r.BackedUpThrough,
		Epoch:               r.Epoch,
	}
	for i, mr := range r.Results {
		res.Results[i] = &syncv1.MutationResult{
			Counter:          mr.Counter,
			Status:           statuses[mr.Status],
			ReasonCode:       string(mr.Reason),
			Reason:           mr.Message,
			Replayed:         mr.Replayed,
			ConflictedFields: mr.ConflictedFields,
			FieldErrors:      fromFieldErrors(mr.Errors),
		}
	}
	return res
}

func fromPullPage(p shiftsync.PullPage) *syncv1.PullResponse {
	res := &syncv1.PullResponse{
		Changes:         make([]*syncv1.FieldChange, len(p.Changes)),
		NextCursor:      p.Next.String(),
		HasMore:         p.HasMore,
		BackedUpThrough: p.BackedUpThrough,
		Epoch:           p.Epoch,
	}
	for _, purge := range p.Purges {
		res.Purges = append(res.Purges, &syncv1.Purge{ServiceId: purge.ServiceID, PersonId: purge.PersonID, KeepPersonIds: purge.Keep, RecordTypes: purge.RecordTypes})
	}
	for i, c := range p.Changes {
		res.Changes[i] = &syncv1.FieldChange{
			RecordId:     c.RecordID,
			RecordType:   c.RecordType,
			ServiceId:    c.ServiceID,
			PersonId:     c.PersonID,
			Field:        c.Field,
			Value:        fromValue(c.Value),
			Version:      fromVersion(c.Version),
			AuthorUserId: c.Author,
		}
	}
	return res
}

// fromFieldErrors converts a mutation's problems; nil for none.
func fromFieldErrors(errs []shiftsync.FieldError) []*syncv1.FieldError {
	if len(errs) == 0 {
		return nil
	}
	out := make([]*syncv1.FieldError, len(errs))
	for i, e := range errs {
		out[i] = &syncv1.FieldError{Field: e.Field, ReasonCode: string(e.Reason), Reason: e.Message}
	}
	return out
}

// maxUnitIDBytes bounds each id of a unit a device names in a Verify or a
// repair pull: longer ones name no unit.
const maxUnitIDBytes = 256

// toHeldUnit converts a unit a device names, refusing one no store holds.
func toHeldUnit(pb *syncv1.DigestUnit) (shiftsync.HeldUnit, error) {
	u := shiftsync.HeldUnit{ServiceID: pb.GetServiceId(), PersonID: pb.GetPersonId(), RecordType: pb.GetRecordType()}
	if u.ServiceID == "" || u.RecordType == "" || len(u.ServiceID) > maxUnitIDBytes || len(u.PersonID) > maxUnitIDBytes || len(u.RecordType) > maxUnitIDBytes {
		return u, shiftsync.Errorf(shiftsync.CodeInvalid, "a digest unit needs a service_id and a record_type, each id at most %d bytes", maxUnitIDBytes)
	}
	return u, nil
}

// toUnitDigests converts the digests a device sends with a Verify.
func toUnitDigests(pbs []*syncv1.UnitDigest) ([]shiftsync.UnitDigest, error) {
	if len(pbs) > shiftsync.MaxVerifyUnits {
		return nil, shiftsync.Errorf(shiftsync.CodeResourceExhausted, "%d unit digests in one verify; at most %d", len(pbs), shiftsync.MaxVerifyUnits)
	}
	out := make([]shiftsync.UnitDigest, len(pbs))
	for i, pb := range pbs {
		u, err := toHeldUnit(pb.GetUnit())
		if err != nil {
			return nil, err
		}
		out[i].Unit = u
		switch d := pb.GetDigest(); len(d) {
		case 0:
		case len(out[i].Digest):
			copy(out[i].Digest[:], d)
		default:
			return nil, shiftsync.Errorf(shiftsync.CodeInvalid, "a unit digest is 32 bytes, or empty for an empty unit")
		}
	}
	return out, nil
}

// fromVerification converts the answer of a Verify.
func fromVerification(v shiftsync.Verification) *syncv1.VerifyResponse {
	res := &syncv1.VerifyResponse{
		Status:    syncv1.VerifyStatus(v.Status),
		StoreId:   v.StoreID,
		Epoch:     v.Epoch,
		Cursor:    v.Cursor.String(),
		KeyId:     v.KeyID,
		Signature: v.Signature,
	}
	if v.Status != shiftsync.VerifyNotCaughtUp {
		res.VerifiedAtMs = v.At.UnixMilli()
	}
	for _, u := range v.Units {
		pb := &syncv1.UnitDigest{Unit: &syncv1.DigestUnit{ServiceId: u.Unit.ServiceID, PersonId: u.Unit.PersonID, RecordType: u.Unit.RecordType}}
		if !u.Digest.IsZero() {
			pb.Digest = u.Digest[:]
		}
		for _, b := range u.Buckets {
			pb.Buckets = append(pb.Buckets, b[:])
		}
		res.Units = append(res.Units, pb)
	}
	return res
}
