package shiftsync_test

import (
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// TestDigest_AddSub checks the accumulator arithmetic against math/big:
// sums and differences modulo 2^256, carries and borrows across every limb,
// and that adding then subtracting an element restores the sum.
func TestDigest_AddSub(t *testing.T) {
	mod := new(big.Int).Lsh(big.NewInt(1), 256)
	toBig := func(d shiftsync.Digest) *big.Int { return new(big.Int).SetBytes(d[:]) }
	rng := rand.New(rand.NewPCG(1, 2))
	random := func() (d shiftsync.Digest) {
		for i := range d {
			d[i] = byte(rng.Uint32())
		}
		if rng.IntN(4) == 0 { // all ones: every limb carries
			for i := range d {
				d[i] = 0xff
			}
		}
		return d
	}
	for range 1000 {
		a, b := random(), random()
		sum := a
		sum.Add(b)
		if want := new(big.Int).Mod(new(big.Int).Add(toBig(a), toBig(b)), mod); toBig(sum).Cmp(want) != 0 {
			t.Fatalf("%s + %s = %s, want %x", a, b, sum, want)
		}
		diff := a
		diff.Sub(b)
		if want := new(big.Int).Mod(new(big.Int).Sub(toBig(a), toBig(b)), mod); toBig(diff).Cmp(want) != 0 {
			t.Fatalf("%s - %s = %s, want %x", a, b, diff, want)
		}
		sum.Sub(b)
		if sum != a {
			t.Fatalf("(%s + %s) - %s = %s", a, b, b, sum)
		}
	}
}

// TestDigestElement pins the element encoding, which devices compute too:
// a change here breaks every device's verification, so it must not change.
func TestDigestElement(t *testing.T) {
	v := shiftsync.Version{HLC: shiftsync.HLC{WallMS: 1764806400000, Logical: 2}, DeviceID: "phone-1"}
	for _, tc := range []struct {
		value shiftsync.Value
		want  string
	}{
		{shiftsync.Value{Kind: shiftsync.KindString, String: "threw a cup"}, "cabf8ce8c5916a853829b865e66ac452d67d66a85752693763f7cc5743835b80"},
		{shiftsync.Value{Kind: shiftsync.KindInt, Int: -3}, "2e1a00205a60310270a9edc752ea9e32f5b03e878158b6b0805cd18ccceb86a5"},
		{shiftsync.Value{Kind: shiftsync.KindDouble, Double: 1.5}, "e1c088911e802f3ea69e414020d262ec044ab418862c3e67921a133fd2d255c2"},
		{shiftsync.Value{Kind: shiftsync.KindBool, Bool: true}, "5d8cbe6836c9b067f7123e9d84ab5087924c30ca2a3715dbdc3adb90e452b0da"},
		{shiftsync.Value{Kind: shiftsync.KindTimestamp, Time: time.Date(2026, 12, 4, 2, 0, 0, 5, time.UTC)}, "866263d8acf4e7fbdca9e82317478a0ab1abbe491baf56e314762064fc29e5b1"},
		{shiftsync.Value{Kind: shiftsync.KindEnum, String: "PLACE_LOUNGE"}, "b0df0bcbc989b9ba866dbd4557fc46bf375c2bd515af78eaa2796cbc022e1837"},
		{shiftsync.Value{Kind: shiftsync.KindList, List: []string{"a", "bc"}}, "18d1deaf45d9148ed287a3c6762a58922615661f5bc045ede18a1e6ed261d776"},
	} {
		got := shiftsync.DigestElement("0193a1b2-0000-7000-8000-000000000001", "behaviour_description", v, tc.value).String()
		if got != tc.want {
			t.Errorf("element of %v = %s, want %s", tc.value, got, tc.want)
		}
	}
	if b := shiftsync.DigestBucket("0193a1b2-0000-7000-8000-000000000001"); b != 24 {
		t.Errorf("bucket %d, want 24", b)
	}
}

// TestDigestDeltas_Encoding checks that pending deltas decode to what was
// encoded, several buckets of a unit and ids of any length included, and that a row cut short anywhere,
// with bytes more, or naming a bucket past the last is refused, not read as
// another sum.
func TestDigestDeltas_Encoding(t *testing.T) {
	var d shiftsync.Digest
	for i := range d {
		d[i] = byte(i + 1)
	}
	ds := []shiftsync.BucketDigest{
		{Unit: shiftsync.DigestUnit{ServiceID: "house-a", PersonID: "ada", RecordType: "incident", Agency: "provider"}, Bucket: 0, Digest: d},
		{Unit: shiftsync.DigestUnit{ServiceID: "house-a", PersonID: "ada", RecordType: "incident", Agency: "provider"}, Bucket: 5},
		{Unit: shiftsync.DigestUnit{ServiceID: "house-a", PersonID: strings.Repeat("p", 300), RecordType: "shift_brief"}, Bucket: shiftsync.DigestBuckets - 1},
	}
	b := shiftsync.EncodeDigestDeltas(ds)
	got, err := shiftsync.DecodeDigestDeltas("house-a", b)
	if err != nil || !slices.Equal(got, ds) {
		t.Fatalf("DecodeDigestDeltas(EncodeDigestDeltas(ds)) = %+v, %v; want ds", got, err)
	}
	for n := 1; n < len(b); n++ {
		if _, err := shiftsync.DecodeDigestDeltas("house-a", b[:n]); err == nil {
			t.Fatalf("DecodeDigestDeltas of the first %d of %d bytes: no error", n, len(b))
		}
	}
	if _, err := shiftsync.DecodeDigestDeltas("house-a", append(slices.Clone(b), 0)); err == nil {
		t.Error("DecodeDigestDeltas with a byte more: no error")
	}
	bad := slices.Clone(b)
	bad[1+1+3+1+8+1+8+1] = shiftsync.DigestBuckets // the first delta's bucket
	if _, err := shiftsync.DecodeDigestDeltas("house-a", bad); err == nil || !strings.Contains(err.Error(), "bucket 64") {
		t.Errorf("DecodeDigestDeltas with bucket 64 = %v; want an error naming it", err)
	}
}

// TestDigestElement_NoAllocation checks that the element of a typical
// field is computed on the stack: a push computes one for every field.
func TestDigestElement_NoAllocation(t *testing.T) {
	v := shiftsync.Version{HLC: shiftsync.HLC{WallMS: 1_700_000_000_000, Logical: 2}, DeviceID: "phone-1"}
	value := shiftsync.Value{Kind: shiftsync.KindString, String: "hit the door in the hallway"}
	if n := testing.AllocsPerRun(100, func() {
		shiftsync.DigestElement("0190f5b2-7a4e-7c1d-9a3b-5f2e8d6c4b1a", "behaviour_description", v, value)
	}); n != 0 {
		t.Errorf("DigestElement allocates %v times; want 0", n)
	}
}
