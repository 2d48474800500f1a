package rpc

import (
	"compress/gzip"
	"io"

	"connectrpc.com/connect"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// withGzip serves gzip with a decompressor that stops after limit bytes of
// output. connect-go's own gzip support decompresses a message to its end
// even once it knows it is too large, to say how large it was: an 8 GiB gzip
// bomb, 8 MB on the wire, costs seconds of CPU that way. This one refuses
// it having produced at most limit+1 bytes, with the ErrorInfo the contract
// promises.
func withGzip(limit int64) connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &boundedGzip{limit: limit} },
		func() connect.Compressor { return gzip.NewWriter(io.Discard) },
	)
}

// boundedGzip is a gzip reader that yields at most limit bytes and answers
// a longer stream with CodeResourceExhausted.
type boundedGzip struct {
	gz    gzip.Reader
	limit int64
	n     int64 // bytes yielded since the last Reset
}

// Read implements [io.Reader].
func (d *boundedGzip) Read(p []byte) (int, error) {
	if d.n >= d.limit {
		// Room for nothing more: the stream must end here.
		var one [1]byte
		if n, err := d.gz.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, tooLarge(d.limit)
	}
	if rest := d.limit - d.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := d.gz.Read(p)
	d.n += int64(n)
	return n, err
}

// Reset implements [connect.Decompressor].
func (d *boundedGzip) Reset(r io.Reader) error {
	d.n = 0
	return d.gz.Reset(r)
}

// Close implements [connect.Decompressor].
func (d *boundedGzip) Close() error { return d.gz.Close() }

// tooLarge is the refusal of a request message over limit bytes: the
// answer on which a device splits its batch.
func tooLarge(limit int64) *connect.Error {
	return newError(shiftsync.CodeResourceExhausted, "the request is larger than "+byteSize(limit)+"; send fewer mutations at a time")
}
