package rpc

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"connectrpc.com/connect"

	syncv1 "github.com/shiftsync/shiftsync/syncproto/gen/shiftsync/sync/v1"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestBoundedGzip inflates an 8 GiB gzip bomb the way connect-go does (read
// up to the limit, then on to the end to learn the size) and counts the
// bytes: at most limit come out, the rest of the bomb is never inflated,
// and the refusal is resource_exhausted with ErrorInfo. connect-go's own
// gzip inflates all 8 GiB.
func TestBoundedGzip(t *testing.T) {
	const limit = DefaultMaxRequestBytes
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 64<<20))
	_ = zw.Close()
	bomb := bytes.Repeat(member.Bytes(), 128) // 8 GiB of zeros

	var d connect.Decompressor = &boundedGzip{limit: limit}
	wire := &countingReader{r: bytes.NewReader(bomb)}
	if err := d.Reset(wire); err != nil {
		t.Fatal(err)
	}
	// connect-go reads limit+1 bytes; the error comes as it asks for the
	// byte past the limit, so it never goes on to discard the rest.
	head, err := io.Copy(io.Discard, io.LimitReader(d, limit+1))
	if head != limit {
		t.Fatalf("first read: %d bytes, %v; want the limit, %d bytes", head, err, limit)
	}
	if rest, _ := io.Copy(io.Discard, d); rest != 0 {
		t.Errorf("%d bytes inflated past the limit", rest)
	}
	var ce *connect.Error
	if !asConnectError(err, &ce) || ce.Code() != connect.CodeResourceExhausted || errorInfoCode(ce) != "resource_exhausted" {
		t.Errorf("past the limit: %v, want resource_exhausted with ErrorInfo", err)
	}
	// Inflating 8 MiB of zeros reads about 8 KiB of the bomb, plus what the
	// reader buffers; 1 MiB would be a hundred times the bound.
	if wire.n > 1<<20 {
		t.Errorf("read %d bytes of the %d-byte bomb to inflate %d bytes", wire.n, len(bomb), head)
	}
	t.Logf("bound: %d bytes inflated of %d, %d bytes of the %d-byte bomb read", head, int64(8)<<30, wire.n, len(bomb))

	t.Run("a message of exactly the limit", func(t *testing.T) {
		var exact bytes.Buffer
		zw := gzip.NewWriter(&exact)
		_, _ = zw.Write(make([]byte, limit))
		_ = zw.Close()
		if err := d.Reset(&exact); err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, d); n != limit || err != nil {
			t.Errorf("inflated %d bytes, %v; want %d, nil", n, err, limit)
		}
	})
}

func asConnectError(err error, target **connect.Error) bool {
	ce, ok := err.(*connect.Error)
	*target = ce
	return ok
}

func errorInfoCode(ce *connect.Error) string {
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*syncv1.ErrorInfo); ok {
				return info.GetCode()
			}
		}
	}
	return ""
}
