// Package dnstest is a DNS server on loopback for tests: the SSRF guard and
// the code that reports its refusals are tested against names that resolve
// to the addresses a test chooses, without touching the machine's resolver.
package dnstest

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// Resolver runs a tiny DNS server on loopback UDP that speaks the real
// protocol: A and AAAA questions for the names in its table (lower case,
// without the trailing dot) get those addresses, every other name NXDOMAIN.
// It returns a resolver that asks only it, so the lookups of the code under
// test are the test's to decide. The server stops when the test ends.
func Resolver(t testing.TB, names map[string][]netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], names); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}}
}

// DNS record types and header bits (RFC 1035, RFC 3596).
const (
	dnsTypeA    = 1
	dnsTypeAAAA = 28
	dnsClassIN  = 1
	dnsResponse = 1 << 15
	dnsAA       = 1 << 10
	dnsRD       = 1 << 8
	dnsRA       = 1 << 7
	dnsNXDomain = 3
)

// dnsAnswer answers one query message, or returns nil for a malformed one.
func dnsAnswer(q []byte, names map[string][]netip.Addr) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	off := 12
	var labels []string
	for {
		if off >= len(q) {
			return nil
		}
		l := int(q[off])
		off++
		if l == 0 {
			break
		}
		if l&0xc0 != 0 || off+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[off:off+l]))
		off += l
	}
	if off+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[off:])
	question := q[12 : off+4]
	addrs, known := names[strings.ToLower(strings.Join(labels, "."))]
	var rdata [][]byte
	for _, a := range addrs {
		if (qtype == dnsTypeA && a.Is4()) || (qtype == dnsTypeAAAA && a.Is6()) {
			rdata = append(rdata, a.AsSlice())
		}
	}
	flags := uint16(dnsResponse|dnsAA|dnsRA) | binary.BigEndian.Uint16(q[2:])&dnsRD
	if !known {
		flags |= dnsNXDomain
	}
	m := binary.BigEndian.AppendUint16(nil, binary.BigEndian.Uint16(q)) // the query's id
	m = binary.BigEndian.AppendUint16(m, flags)
	m = binary.BigEndian.AppendUint16(m, 1)                  // questions
	m = binary.BigEndian.AppendUint16(m, uint16(len(rdata))) // answers
	m = binary.BigEndian.AppendUint32(m, 0)                  // authority and additional records
	m = append(m, question...)
	for _, d := range rdata {
		m = append(m, 0xc0, 12) // the name: a pointer to the question's
		m = binary.BigEndian.AppendUint16(m, qtype)
		m = binary.BigEndian.AppendUint16(m, dnsClassIN)
		m = binary.BigEndian.AppendUint32(m, 60) // TTL
		m = binary.BigEndian.AppendUint16(m, uint16(len(d)))
		m = append(m, d...)
	}
	return m
}
