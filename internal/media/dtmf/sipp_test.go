package dtmf

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sippDir is where Debian's sip-tester package installs sipp's captures.
const sippDir = "/usr/share/sip-tester"

// sippTestdata holds packets extracted from a few of those captures, so the
// real-traffic test also runs where sipp is not installed.
const sippTestdata = "testdata/sipp_dtmf_2833.txt"

// sippCopied are the captures copied into sippTestdata.
var sippCopied = []string{"dtmf_2833_1.pcap", "dtmf_2833_star.pcap", "dtmf_2833_pound.pcap"}

var update = flag.Bool("update", false, "rewrite "+sippTestdata+" from the captures in "+sippDir)

// sippDigits maps each shipped DTMF capture to the key it holds.
var sippDigits = map[string]rune{
	"dtmf_2833_0.pcap": '0', "dtmf_2833_1.pcap": '1', "dtmf_2833_2.pcap": '2',
	"dtmf_2833_3.pcap": '3', "dtmf_2833_4.pcap": '4', "dtmf_2833_5.pcap": '5',
	"dtmf_2833_6.pcap": '6', "dtmf_2833_7.pcap": '7', "dtmf_2833_8.pcap": '8',
	"dtmf_2833_9.pcap": '9', "dtmf_2833_star.pcap": '*', "dtmf_2833_pound.pcap": '#',
}

// readSippCapture returns the telephone-event packets of one shipped capture,
// skipping the test if sipp is not installed.
func readSippCapture(t *testing.T, name string) []rtpPacket {
	t.Helper()
	path := filepath.Join(sippDir, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("sipp's captures are not installed (%v); apt-get install sip-tester to run this test", err)
	}
	all, err := readPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []rtpPacket
	for _, p := range all {
		if isTelephoneEvent(p) {
			out = append(out, p)
		}
	}
	return out
}

// detect feeds packets to a fresh Detector and returns the presses.
func detect(packets []rtpPacket) []Event {
	d := NewDetector()
	var got []Event
	for _, p := range packets {
		if ev, ok := d.Packet(p.Timestamp, p.Marker, p.Payload); ok {
			got = append(got, ev)
		}
	}
	return got
}

// describe summarises a capture the way the engine integration needs to
// know it: payload types, marker use, durations, end packets.
func describe(ps []rtpPacket) string {
	var pts, ends, markers int
	var durs []string
	seqs := map[uint16]int{}
	for _, p := range ps {
		pts |= 1 << (p.PT - 96)
		if p.Marker {
			markers++
		}
		if p.Payload[1]&0x80 != 0 {
			ends++
		}
		durs = append(durs, strconv.Itoa(int(p.Payload[2])<<8|int(p.Payload[3])))
		seqs[p.Seq]++
	}
	return fmt.Sprintf("%d packets, PT mask %#x over 96, %d marker, %d end, %d distinct seq, volume %d, durations %s",
		len(ps), pts, markers, ends, len(seqs), ps[0].Payload[1]&0x3f, strings.Join(durs, " "))
}

func TestSippCaptures(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(sippDir); err != nil {
		t.Skipf("sipp's captures are not installed (%v); apt-get install sip-tester to run this test", err)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range sippDigits {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ps := readSippCapture(t, name)
			if len(ps) == 0 {
				t.Fatal("no telephone-event packets found")
			}
			t.Logf("%s: ts %d, %s", name, ps[0].Timestamp, describe(ps))
			want := []Event{{sippDigits[name], ps[0].Timestamp}}
			if got := detect(ps); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestSippCapturesInOneCall(t *testing.T) {
	t.Parallel()
	// A sipp scenario playing "1234567890*#" one capture after another in
	// one call: same SSRC, timestamps going back and forth.
	var all []rtpPacket
	for _, r := range "1234567890*#" {
		for name, d := range sippDigits {
			if d == r {
				all = append(all, readSippCapture(t, name)...)
			}
		}
	}
	if got := digitsOf(detect(all)); got != "1234567890*#" {
		t.Errorf("got %q, want %q", got, "1234567890*#")
	}

	// Playing the same capture twice sends identical packets, which no
	// receiver can tell from retransmissions: one press. Scenarios that
	// need "11" must use play_dtmf or a second capture.
	one := readSippCapture(t, "dtmf_2833_1.pcap")
	if got := digitsOf(detect(slices.Concat(one, one))); got != "1" {
		t.Errorf("same capture twice: got %q, want %q", got, "1")
	}
}

// TestSippTestdata runs the copied packets; with -update it first rewrites
// them from the installed captures.
func TestSippTestdata(t *testing.T) {
	if *update {
		writeSippTestdata(t)
	}
	t.Parallel()
	byFile, err := readSippTestdata()
	if err != nil {
		t.Fatal(err)
	}
	if len(byFile) != len(sippCopied) {
		t.Fatalf("%s holds %d captures, want %d", sippTestdata, len(byFile), len(sippCopied))
	}
	for _, name := range sippCopied {
		ps := byFile[name]
		if len(ps) == 0 {
			t.Errorf("%s: no packets for %s", sippTestdata, name)
			continue
		}
		want := []Event{{sippDigits[name], ps[0].Timestamp}}
		if got := detect(ps); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
		// Where sipp is installed, the copy must still match the source.
		if live, err := readPcap(filepath.Join(sippDir, name)); err == nil {
			live = slices.DeleteFunc(live, func(p rtpPacket) bool { return !isTelephoneEvent(p) })
			if !slices.EqualFunc(live, ps, func(a, b rtpPacket) bool {
				return a.PT == b.PT && a.Marker == b.Marker && a.Seq == b.Seq &&
					a.Timestamp == b.Timestamp && string(a.Payload) == string(b.Payload)
			}) {
				t.Errorf("%s differs from %s; run go test -run TestSippTestdata -update", sippTestdata, name)
			}
		}
	}
}

// readSippTestdata parses sippTestdata: one packet per line, "file PT
// marker seq timestamp payload-hex", with # comments.
func readSippTestdata() (map[string][]rtpPacket, error) {
	f, err := os.Open(sippTestdata)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]rtpPacket{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var (
			name, hexPayload string
			pt, marker       uint8
			p                rtpPacket
		)
		if _, err := fmt.Sscanf(line, "%s %d %d %d %d %s", &name, &pt, &marker, &p.Seq, &p.Timestamp, &hexPayload); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", sippTestdata, n, err)
		}
		if p.Payload, err = hex.DecodeString(hexPayload); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", sippTestdata, n, err)
		}
		p.PT, p.Marker = pt, marker == 1
		out[name] = append(out[name], p)
	}
	return out, sc.Err()
}

// writeSippTestdata extracts sippCopied from the installed captures.
func writeSippTestdata(t *testing.T) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# Telephone-event RTP packets of sipp's shipped DTMF captures, in capture\n")
	b.WriteString("# order (Debian sip-tester 1:3.6.1-1+b2, " + sippDir + ").\n")
	b.WriteString("# Regenerate: go test -run TestSippTestdata -update ./internal/media/dtmf/\n")
	b.WriteString("# file PT marker seq timestamp payload\n")
	for _, name := range sippCopied {
		for _, p := range readSippCapture(t, name) {
			m := 0
			if p.Marker {
				m = 1
			}
			fmt.Fprintf(&b, "%s %d %d %d %d %x\n", name, p.PT, m, p.Seq, p.Timestamp, p.Payload)
		}
	}
	if err := os.WriteFile(sippTestdata, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
