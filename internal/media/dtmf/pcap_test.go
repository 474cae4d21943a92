package dtmf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// This file is a minimal reader of classic libpcap files, enough to pull
// the RTP packets out of sipp's shipped captures. It lives in a test file
// because the platform itself never reads captures.

// rtpPacket is the part of an RTP packet the tests look at.
type rtpPacket struct {
	PT        uint8
	Marker    bool
	Seq       uint16
	Timestamp uint32
	SSRC      uint32
	Payload   []byte
}

// Link types of the captures we can read (pcap LINKTYPE_* values).
const (
	linkEthernet = 1
	linkRaw      = 101 // raw IPv4/IPv6, no link header
	linkRawAlt   = 12  // LINKTYPE_RAW as some BSDs write it
	linkSLL      = 113 // Linux "cooked" capture
)

// readPcap returns the RTP packets (UDP over IPv4 that parse as RTP
// version 2) found in a classic pcap file, in capture order. Packets that
// are not IPv4/UDP/RTP are skipped; a malformed file is an error.
func readPcap(path string) ([]rtpPacket, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < 24 {
		return nil, errors.New("pcap: short global header")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d: // microsecond, nanosecond timestamps
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("pcap: bad magic % x (pcapng is not supported)", data[:4])
	}
	link := bo.Uint32(data[20:]) & 0x0fffffff // upper bits carry FCS info
	var out []rtpPacket
	for off := 24; off < len(data); {
		if len(data)-off < 16 {
			return nil, errors.New("pcap: short record header")
		}
		incl := int(bo.Uint32(data[off+8:]))
		off += 16
		if incl < 0 || incl > len(data)-off {
			return nil, errors.New("pcap: record runs past end of file")
		}
		frame := data[off : off+incl]
		off += incl
		if p, ok := parseFrame(link, frame); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// parseFrame strips the link header, then IPv4 and UDP, and parses RTP.
func parseFrame(link uint32, f []byte) (rtpPacket, bool) {
	var etherType uint16
	switch link {
	case linkEthernet:
		if len(f) < 14 {
			return rtpPacket{}, false
		}
		etherType, f = binary.BigEndian.Uint16(f[12:]), f[14:]
		for etherType == 0x8100 && len(f) >= 4 { // 802.1Q VLAN tag
			etherType, f = binary.BigEndian.Uint16(f[2:]), f[4:]
		}
	case linkSLL:
		if len(f) < 16 {
			return rtpPacket{}, false
		}
		etherType, f = binary.BigEndian.Uint16(f[14:]), f[16:]
	case linkRaw, linkRawAlt:
		etherType = 0x0800
	default:
		return rtpPacket{}, false
	}
	if etherType != 0x0800 || len(f) < 20 || f[0]>>4 != 4 {
		return rtpPacket{}, false
	}
	ihl := int(f[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(f[2:]))
	fragment := binary.BigEndian.Uint16(f[6:]) & 0x3fff // MF flag or offset
	if f[9] != 17 || ihl < 20 || total < ihl || total > len(f) || fragment != 0 {
		return rtpPacket{}, false
	}
	udp := f[ihl:total]
	if len(udp) < 8 {
		return rtpPacket{}, false
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return rtpPacket{}, false
	}
	return parseRTP(udp[8:ulen])
}

// parseRTP parses an RTP header (RFC 3550 section 5.1), skipping CSRCs,
// a header extension and padding.
func parseRTP(b []byte) (rtpPacket, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return rtpPacket{}, false
	}
	p := rtpPacket{
		Marker:    b[1]&0x80 != 0,
		PT:        b[1] & 0x7f,
		Seq:       binary.BigEndian.Uint16(b[2:]),
		Timestamp: binary.BigEndian.Uint32(b[4:]),
		SSRC:      binary.BigEndian.Uint32(b[8:]),
	}
	n := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // extension: 4-byte header, then length words
		if len(b) < n+4 {
			return rtpPacket{}, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding: last byte counts the padding bytes
		end -= int(b[len(b)-1])
	}
	if n > end {
		return rtpPacket{}, false
	}
	p.Payload = b[n:end]
	return p, true
}

// isTelephoneEvent guesses which packets are telephone-events without the
// SDP: a dynamic payload type and a payload of whole 4-byte event blocks.
// Audio in the same capture uses static types (0, 8) and 160-byte payloads.
func isTelephoneEvent(p rtpPacket) bool {
	return p.PT >= 96 && len(p.Payload) > 0 && len(p.Payload)%PayloadSize == 0
}
