package shiftsync_test

import (
	"encoding/hex"
	"math"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestMutationDigest pins the digest of a mutation: a device retrying a
// push after an upgrade must match what the earlier version stored, or its
// accepted mutation comes back counter_reused. The server-derived parts of
// a mutation (the action's agency, the app version) are not in it.
func TestMutationDigest(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	m := &shiftsync.Mutation{
		RecordRef: shiftsync.RecordRef{RecordID: "01900000-0000-7000-8000-000000000001", RecordType: "action", ServiceID: "house-a", PersonID: "sam"},
		DeviceID:  "phone-1", UserID: "priya", Counter: 7, HLC: shiftsync.HLC{WallMS: at.UnixMilli(), Logical: 2},
		Fields: []shiftsync.FieldEdit{
			{Field: "agency", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "housing"}},
			{Field: "deadline", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at.Add(72 * time.Hour)},
				Base: shiftsync.Version{HLC: shiftsync.HLC{WallMS: at.UnixMilli() - 1000}, DeviceID: "phone-2"}},
		},
		AppVersion: "1.4.0",
	}
	const want = "5f12b45355bddd33422b56363de6064b4ef97b5190d438d86a318520a8197e4e"
	d := shiftsync.MutationDigest(m)
	if got := hex.EncodeToString(d[:]); got != want {
		t.Errorf("MutationDigest() = %s, want %s (the digest of every stored mutation)", got, want)
	}
	withServerParts := *m
	withServerParts.Agency, withServerParts.AppVersion = "housing", "2.0.0"
	if shiftsync.MutationDigest(&withServerParts) != d {
		t.Error("the digest depends on the agency or the app version")
	}
}

// TestMutationDigest_Vectors pins encoding 1 of the digest. The digests
// were computed by the code every stored digest was written by (the
// anonymous-struct json.Marshal in server/sqlite, commit e2c3303), before
// the encoding moved here; none of them may ever change.
func TestMutationDigest_Vectors(t *testing.T) {
	if shiftsync.DigestVersion != 1 {
		t.Fatalf("DigestVersion = %d; these vectors pin version 1, add the new version's beside them", shiftsync.DigestVersion)
	}
	want := map[string]string{
		"empty":                        "a6e013336971db974fefd8903cd03ec82dd858bde4024a0ca2af3761318ae922",
		"empty fields slice":           "3befc34297f253cdbdd66d1f8cf98bede8053927bacde9f8158eb4aed8fcb343",
		"unset value":                  "49980519623a42b6ea2edaa2317dd128155f58dccc9d4d66b44867a0cc524732",
		"string":                       "ee52144455fbac40dc106437f04799cb11b067271cb8a14c9e6cbaed134760e5",
		"string html and unicode":      "29682b836d21b9cd1ef0f959d144dc9951abf0ba19a12f23bbfd8fbfce9bd501",
		"string invalid utf-8":         "bb1ca4be9720df17ad6b141f55ab6bab34bdc4f91aa0f9b0569c2461c372f29f",
		"int":                          "aac7b6076b693d48c6f8aa32224c39f52ec93e6c5231b4597163b390fd86cdee",
		"double":                       "e1f517b0737def856259bc99d12ef9468a22f6a2095375074177b07d21e8957f",
		"double integral":              "1da43ff2d27a8fd589ac9deb25dc2242b6e106594d26edd835ce2a4238edaa4d",
		"double large":                 "75f9eb4480e804ebea664963d7258f6aa4c6bc82359a471c5a0e9ad08b13de2b",
		"double small":                 "ef8241067ecc179806456f0e2581a97cab9d52e88fd385836ab03cc40c842fa4",
		"double negative zero":         "0e64be200d1d0a01e2885121fdfbc40ef99ce75ad9376e06e4e28b4b2058ca46",
		"double +Inf":                  "ab5e57c7bce0bb761f1c815c61566b4c25844531469ddf7235d23ca23fa599a6",
		"double -Inf":                  "2689f603aff3f74ac1c5024aaf4ff566bfd7267dea269da9e6253021a0263671",
		"double NaN":                   "a3fbad1a8c30c574d619b295ea2b2bfd0d78bbfd366a2aef0db5e6d0ba9d2da4",
		"bool":                         "45e9c5bde2f34067541a2009c75a30241e611a73851c6f74bff106fe51b89bbd",
		"timestamp":                    "5ea282ca6b0ed4e1b95324d817d8572077e27f02cdd0f12e7cd47b7ff584b727",
		"timestamp with offset":        "aaafed4c5e16dd122324821e4cf9ba615697683ff5da274c6983ca1734e000e3",
		"timestamp year 10000":         "28cc3dd6283d103fdcd3d9615ee7692157fd5df4cf526ef969933ff4f22c4721",
		"enum":                         "ccceef7ea02aef71a423544bad3fce8be07260e52cb29995085c02688b380730",
		"list":                         "0ecc879195b369068a9531d4154702e60b8dba9b2c9b30b090128d8ffba088e8",
		"list empty":                   "afabaae5dc07410898448faedfcb8d647a1105d49475939130879eb0bf520da4",
		"kind out of range":            "14a1f7240b818e52e0347810bb67a8f794096995e40cedc2d9b853b43a28623d",
		"large counter and hlc":        "afdf8f85c5fccaa6596217b0973f97885d3920239c098abf1a6804740252d99d",
		"two fields, server parts":     "6bde8cb190b5a1ea2941ccf6b04cbd76fe9d9cc2badf8ee0e59a6ca7f9d3f101",
		"non-finite with other fields": "42d62f80cb5af0828128d6d48915fe7d73f9cf4e619b47f4f5c21606141a3868",
	}
	vectors := digestVectors()
	if len(vectors) != len(want) {
		t.Fatalf("%d vectors, %d digests", len(vectors), len(want))
	}
	for _, v := range vectors {
		w, ok := want[v.name]
		if !ok {
			t.Errorf("%s: no digest", v.name)
			continue
		}
		d := shiftsync.MutationDigest(&v.m)
		if got := hex.EncodeToString(d[:]); got != w {
			t.Errorf("%s: MutationDigest() = %s, want %s", v.name, got, w)
		}
	}
}

type digestVector struct {
	name string
	m    shiftsync.Mutation
}

func digestVectors() []digestVector {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ref := shiftsync.RecordRef{RecordID: "01900000-0000-7000-8000-000000000001", RecordType: "note", ServiceID: "house-a", PersonID: "sam"}
	base := shiftsync.Version{HLC: shiftsync.HLC{WallMS: at.UnixMilli() - 1000, Logical: 3}, DeviceID: "phone-2"}
	one := func(v shiftsync.Value) shiftsync.Mutation {
		return shiftsync.Mutation{RecordRef: ref, DeviceID: "phone-1", UserID: "priya", Counter: 1, HLC: shiftsync.HLC{WallMS: at.UnixMilli()},
			Fields: []shiftsync.FieldEdit{{Field: "f", Value: v, Base: base}}}
	}
	return []digestVector{
		{"empty", shiftsync.Mutation{}},
		{"empty fields slice", shiftsync.Mutation{RecordRef: ref, DeviceID: "d", Fields: []shiftsync.FieldEdit{}}},
		{"unset value", one(shiftsync.Value{})},
		{"string", one(shiftsync.Value{Kind: shiftsync.KindString, String: "housing"})},
		{"string html and unicode", one(shiftsync.Value{Kind: shiftsync.KindString, String: "<b>Zoë & \"Ali\"</b>\u2028日本語 🙂\t\n\\"})},
		{"string invalid utf-8", one(shiftsync.Value{Kind: shiftsync.KindString, String: "a\xffb"})},
		{"int", one(shiftsync.Value{Kind: shiftsync.KindInt, Int: -9223372036854775808})},
		{"double", one(shiftsync.Value{Kind: shiftsync.KindDouble, Double: 1.5})},
		{"double integral", one(shiftsync.Value{Kind: shiftsync.KindDouble, Double: 1})},
		{"double large", one(shiftsync.Value{Kind: shiftsync.KindDouble, Double: 1e21})},
		{"double small", one(shiftsync.Value{Kind: shiftsync.KindDouble, Double: 1e-7})},
		{"double negative zero", one(shiftsync.Value{Kind: shiftsync.KindDouble, Double: math.Copysign(0, -1)})},
		{"double +Inf", one(shiftsync.Value{Kind: shiftsync.KindDouble, Double: math.Inf(1)})},
		{"double -Inf", one(shiftsync.Value{Kind: shiftsync.KindDouble, Double: math.Inf(-1)})},
		{"double NaN", one(shiftsync.Value{Kind: shiftsync.KindDouble, Double: math.NaN()})},
		{"bool", one(shiftsync.Value{Kind: shiftsync.KindBool, Bool: true})},
		{"timestamp", one(shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at.Add(72*time.Hour + 123456789)})},
		{"timestamp with offset", one(shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at.In(time.FixedZone("", 5*3600+1800))})},
		{"timestamp year 10000", one(shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})},
		{"enum", one(shiftsync.Value{Kind: shiftsync.KindEnum, String: "open"})},
		{"list", one(shiftsync.Value{Kind: shiftsync.KindList, List: []string{"a", "<&>", ""}})},
		{"list empty", one(shiftsync.Value{Kind: shiftsync.KindList, List: []string{}})},
		{"kind out of range", one(shiftsync.Value{Kind: 200, String: "x", Int: 1, Double: 2, Bool: true, Time: at, List: []string{"y"}})},
		{"large counter and hlc", shiftsync.Mutation{RecordRef: ref, DeviceID: "phone-1", UserID: "priya", Counter: math.MaxUint64,
			HLC: shiftsync.HLC{WallMS: math.MaxInt64, Logical: math.MaxUint32}}},
		{"two fields, server parts", shiftsync.Mutation{
			RecordRef: shiftsync.RecordRef{RecordID: "01900000-0000-7000-8000-000000000001", RecordType: "action", ServiceID: "house-a", PersonID: "sam", Agency: "housing"},
			DeviceID:  "phone-1", UserID: "priya", Counter: 7, HLC: shiftsync.HLC{WallMS: at.UnixMilli(), Logical: 2},
			Fields: []shiftsync.FieldEdit{
				{Field: "agency", Value: shiftsync.Value{Kind: shiftsync.KindString, String: "housing"}},
				{Field: "deadline", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at.Add(72 * time.Hour)}, Base: base},
			},
			AppVersion: "1.4.0"}},
		{"non-finite with other fields", shiftsync.Mutation{RecordRef: ref, DeviceID: "phone-\u00e9", UserID: "<u>", Counter: 12345678901234,
			HLC: shiftsync.HLC{WallMS: -1, Logical: 9},
			Fields: []shiftsync.FieldEdit{
				{Field: "a", Value: shiftsync.Value{Kind: shiftsync.KindList, List: []string{"x\"y"}}},
				{Field: "b", Value: shiftsync.Value{Kind: shiftsync.KindDouble, Double: math.NaN()}, Base: base},
				{Field: "c", Value: shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: at.In(time.FixedZone("X", -3600))}},
			}}},
	}
}
