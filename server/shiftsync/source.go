package shiftsync

import (
	"context"
	"net/netip"
)

// SourceKey returns the key under which requests from a network address
// ("host:port" or a bare host) are counted and throttled: the IPv4 address,
// or the /64 prefix of an IPv6 address (one subscriber's allocation, so an
// attacker cannot step through addresses of their own prefix). An address it
// cannot parse is returned as given, so it is still counted, apart.
func SourceKey(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	ip := ap.Addr()
	if err != nil {
		if ip, err = netip.ParseAddr(addr); err != nil {
			return addr
		}
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	prefix, err := ip.Prefix(64)
	if err != nil {
		return ip.String()
	}
	return prefix.String()
}

type sourceKey struct{}

// NewContextWithSource returns a copy of ctx carrying the source key (see
// [SourceKey]) of the request's network peer.
func NewContextWithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

// SourceFromContext returns the source key stored in ctx, or "" if none.
func SourceFromContext(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}
