package e2e

// SIP over TLS with SRTP (SDES) against a real phone: Debian's baresip, with
// its srtp module and mediaenc=srtp-mand, so it takes or makes no call
// without encrypted media. Certificates come from a CA made by the test; the
// platform trusts it for trunks through --sip-tls-ca, baresip through
// sip_cafile. Calls go both ways and the audio is checked at the far end.

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/certs/certstest"
	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/stacktest"
	"github.com/minivoice/minivoice/internal/tts"
)

const (
	tlsDID      = "+15551230002" // the platform's number baresip calls
	tlsPhoneDID = "+15551230003" // baresip's number the platform calls
	tlsSayText  = "Hello from MiniVoice. This call is encrypted from end to end of the trunk."
	tlsToneHz   = 1000 // what baresip plays to the platform
)

// tlsPKI is a test CA and the certificates it issued for 127.0.0.1.
type tlsPKI struct {
	dir      string
	ca       *certstest.CA
	platform *certstest.Leaf
	// phone is baresip's certificate and key in one PEM file, as its
	// sip_certificate wants them.
	phone string
}

func newTLSPKI(t *testing.T) *tlsPKI {
	t.Helper()
	dir := t.TempDir()
	p := &tlsPKI{dir: dir, ca: certstest.NewCA(t, dir, "minivoice-e2e")}
	p.platform = p.ca.Issue(t, dir, "platform", time.Time{}, time.Time{}, "127.0.0.1")
	p.phone = combinedPEM(t, p.ca.Issue(t, dir, "phone", time.Time{}, time.Time{}, "127.0.0.1"))
	return p
}

// combinedPEM writes a leaf's certificate and key into one file.
func combinedPEM(t *testing.T, l *certstest.Leaf) string {
	t.Helper()
	c, err := os.ReadFile(l.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(l.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimSuffix(l.CertFile, ".pem") + "-combined.pem"
	if err := os.WriteFile(path, append(c, k...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startTLSPlatform is startPlatformWith plus a SIP TLS listener on a free
// loopback port and tc's other TLS settings.
func startTLSPlatform(t *testing.T, backend string, tc config.TLS) *live {
	t.Helper()
	return startTLSPlatformEdge(t, backend, tc, config.SIPEdge{})
}

// startTLSPlatformEdge is startTLSPlatform with the SIP edge's connection
// bounds set.
func startTLSPlatformEdge(t *testing.T, backend string, tc config.TLS, edge config.SIPEdge) *live {
	t.Helper()
	if tc.SIPListen == "" && tc.SIPCert != "" {
		tc.SIPListen = "127.0.0.1:0"
	}
	l := startPlatformWith(t, backend, stacktest.Config{NoSim: true, Platform: func(pc *platform.Config) {
		pc.Serve.TLS, pc.Serve.Edge = tc, edge
	}})
	l.answers.set(`[{"action":"hangup"}]`)
	return l
}

// tlsOwnNumber gives the customer the number its outbound calls come
// from: a call's from must be one of the customer's numbers.
func tlsOwnNumber(l *live, cust string) {
	l.t.Helper()
	l.do("POST", "/v1/numbers", map[string]any{"number": "+15551230001", "customer_id": cust}, 201)
}

// tlsTone is d of a tlsToneHz tone at -10 dBFS, at 8 kHz like the G.711
// calls it is played into.
func tlsTone(d time.Duration) *media.PCM {
	p := &media.PCM{Rate: 8000, Samples: make([]int16, int(d.Seconds()*8000))}
	for i := range p.Samples {
		p.Samples[i] = int16(0.3 * 32767 * math.Sin(2*math.Pi*tlsToneHz*float64(i)/8000))
	}
	return p
}

// tlsPhone is a headless baresip with SIP over TLS and SRTP.
type tlsPhone struct {
	*bsPhone
	tlsPort int // its SIP TLS port: baresip listens for TLS one above sip_listen's
}

// tlsPhoneOpts configure a tlsPhone.
type tlsPhoneOpts struct {
	user     string // the account's user: the number it answers
	mediaenc string // srtp-mand, or "" for plain RTP
	source   *media.PCM
	cert     string // sip_certificate (certificate and key); "" for none
	cafile   string
	commands []string // baresip -e commands, run once it is ready
}

// startTLSPhone writes a config directory for baresip with the G.711, srtp,
// aufile (microphone: o.source) and sndfile (dumps what it hears) modules
// and runs it. Like bsStart, it loads no player.
func startTLSPhone(t *testing.T, o tlsPhoneOpts) *tlsPhone {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip (Debian baresip-core) is not installed; .ci/run installs it")
	}
	for _, m := range []string{"g711.so", "srtp.so", "aufile.so", "sndfile.so", "account.so", "menu.so"} {
		if _, err := os.Stat(filepath.Join(bsModules, m)); err != nil {
			t.Skipf("baresip module %s is missing: %v", m, err)
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "source.wav")
	bsWriteWAV(t, src, o.source)
	port := tlsFreePortPair(t)
	lines := []string{
		"poll_method\t\tepoll",
		fmt.Sprintf("sip_listen\t\t127.0.0.1:%d", port),
		"net_interface\t\t127.0.0.1",
		"module_path\t\t" + bsModules,
		"module\t\t\tg711.so",
		"module\t\t\tsrtp.so",
		"module\t\t\taufile.so",
		"module\t\t\tsndfile.so",
		"module_app\t\taccount.so",
		"module_app\t\tmenu.so",
		"audio_source\t\taufile," + src,
		"audio_path\t\t" + dir,
		"snd_path\t\t" + dir,
		"rtp_timeout\t\t0",
	}
	if o.cert != "" {
		lines = append(lines, "sip_certificate\t\t"+o.cert)
	}
	if o.cafile != "" {
		// baresip 1.0 has no sip_verify_server setting: it is given the
		// CA but does not enforce it; the platform's side is what the
		// tests check.
		lines = append(lines, "sip_cafile\t\t"+o.cafile)
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	acct := "<sip:" + o.user + "@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU/8000/1"
	if o.mediaenc != "" {
		acct += ";mediaenc=" + o.mediaenc
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(acct+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", dir, "-t", "55"}
	for _, c := range o.commands {
		args = append(args, "-e", c)
	}
	ph := &bsPhone{dir: dir, port: port, out: &bsOutput{}, done: make(chan struct{})}
	ph.cmd = exec.Command("baresip", args...)
	ph.cmd.Dir = dir
	ph.cmd.Stdout, ph.cmd.Stderr = ph.out, ph.out
	// Its own process group, so the test's kill reaches nothing else.
	ph.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ph.cmd.Start(); err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	go func() {
		_ = ph.cmd.Wait()
		close(ph.done)
	}()
	t.Cleanup(func() {
		ph.stop()
		if t.Failed() {
			t.Logf("baresip output:\n%s", ph.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ph.out.String(), "baresip is ready") {
		select {
		case <-ph.done:
			t.Fatalf("baresip exited at start:\n%s", ph.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip is not ready after 10 s:\n%s", ph.out.String())
		}
	}
	return &tlsPhone{bsPhone: ph, tlsPort: port + 1}
}

// tlsFreePortPair finds a port p with UDP p, TCP p and TCP p+1 free on
// loopback: baresip listens on p for UDP and TCP and on p+1 for TLS.
func tlsFreePortPair(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		p := freeUDPPort(t)
		ok := true
		for _, port := range []int{p, p + 1} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free port pair for baresip")
	return 0
}

// tlsWaitOutput waits until baresip has printed s.
func (ph *tlsPhone) waitOutput(t *testing.T, s string, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(ph.out.String(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// tlsEnvelope is p's loudness per 20 ms window in dB (floor -60 dBFS).
func tlsEnvelope(p *media.PCM) []float64 {
	win := p.Rate / 50
	var env []float64
	for a := 0; a+win <= len(p.Samples); a += win {
		env = append(env, max(-60, media.DBFS(p.Samples[a:a+win])))
	}
	return env
}

// tlsSpeechMatch is how well heard follows the loudness contour of ref,
// the platform's own rendering of the prompt: the best Pearson correlation
// of their 20 ms envelopes over every alignment of ref within heard. Speech
// put through G.711 keeps its syllables' contour (near 1); silence, a
// steady tone or noise has none (near 0).
func tlsSpeechMatch(heard, ref *media.PCM) float64 {
	h, r := tlsEnvelope(heard), tlsEnvelope(ref)
	if len(h) < len(r) || len(r) < 10 {
		return 0
	}
	best := -1.0
	for lag := 0; lag+len(r) <= len(h); lag++ {
		var sh, sr, shh, srr, shr float64
		for i, rv := range r {
			hv := h[lag+i]
			sh, sr, shh, srr, shr = sh+hv, sr+rv, shh+hv*hv, srr+rv*rv, shr+hv*rv
		}
		n := float64(len(r))
		cov := shr - sh*sr/n
		vh, vr := shh-sh*sh/n, srr-sr*sr/n
		if vh <= 0 || vr <= 0 {
			continue
		}
		best = max(best, cov/math.Sqrt(vh*vr))
	}
	return best
}

// TestBaresipTLSSRTPInbound: baresip calls a MiniVoice number over TLS,
// offering only SRTP (mediaenc=srtp-mand: RTP/SAVP with an a=crypto key).
// The platform answers with SRTP and its application says a sentence;
// baresip's decoded audio must be that sentence, matched against the
// platform's own rendering of it. The platform's recording of the call
// must hold baresip's tone, so both directions were decrypted.
func TestBaresipTLSSRTPInbound(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s call with baresip; skipped under -short")
	}
	t.Parallel()
	if _, err := exec.LookPath("flite"); err != nil {
		t.Skip("flite is not installed (Debian package flite): the application's say needs it")
	}
	pki := newTLSPKI(t)
	l := startTLSPlatform(t, "sqlite", config.TLS{SIPCert: pki.platform.CertFile, SIPKey: pki.platform.KeyFile, TrunkCA: pki.ca.File})
	tlsAddr := l.p.SIP.TLSAddr()
	if !tlsAddr.IsValid() {
		t.Fatal("no SIP TLS listener")
	}
	cust, app := l.fixture()
	l.do("PATCH", "/v1/applications/"+app, map[string]any{"record_by_default": true}, 200)
	l.answers.set(`[{"action":"say","voice":"slt","text":"` + tlsSayText + `"},{"action":"pause","length":1},{"action":"hangup"}]`)
	l.do("POST", "/v1/trunks", map[string]any{"name": "phone", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1"}}, 201)
	l.do("POST", "/v1/numbers", map[string]any{"number": tlsDID, "customer_id": cust, "application_id": app}, 201)

	ph := startTLSPhone(t, tlsPhoneOpts{user: "alice", mediaenc: "srtp-mand", source: tlsTone(12 * time.Second),
		cert: pki.phone, cafile: pki.ca.File,
		commands: []string{fmt.Sprintf("/dial sip:%s@%s;transport=tls", tlsDID, tlsAddr)}})
	if !ph.waitOutput(t, "terminated (duration", 40*time.Second) {
		t.Fatal("baresip's call did not end")
	}
	out := ph.out.String()
	if !strings.Contains(out, "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)") {
		t.Error("baresip did not report SRTP enabled")
	}

	list := l.do("GET", "/v1/calls?direction=inbound", nil, 200)["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("%d inbound calls, want 1", len(list))
	}
	c := l.waitCall(list[0].(map[string]any)["id"].(string))
	if c["status"] != "completed" || c["to"] != tlsDID || c["codec"] != "PCMU" {
		t.Fatalf("call: %v", c)
	}

	heard := ph.received(t)
	engine, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := engine.Render(context.Background(), "slt", tlsSayText, heard.Rate)
	if err != nil {
		t.Fatal(err)
	}
	match := tlsSpeechMatch(heard, ref)
	silence := tlsSpeechMatch(&media.PCM{Rate: heard.Rate, Samples: make([]int16, len(heard.Samples))}, ref)
	tone := tlsSpeechMatch(tlsTone(heard.Duration()), ref)
	t.Logf("baresip heard %v at %.1f dBFS; its audio follows the prompt's loudness contour with r = %.3f (silence: %.3f, a tone: %.3f)",
		heard.Duration(), media.DBFS(heard.Samples), match, silence, tone)
	if match < 0.8 {
		t.Errorf("baresip did not hear the prompt: contour correlation %.3f, want >= 0.8", match)
	}

	recs, _ := c["recording_ids"].([]any)
	if len(recs) != 1 {
		t.Fatalf("recording_ids %v", c["recording_ids"])
	}
	rid := recs[0].(string)
	if rec := ivWaitRecording(t, l, rid); rec["status"] != "completed" {
		t.Fatalf("recording: %v", rec)
	}
	chans := ivChannels(t, l, rid)
	far := bsMeasure(chans[0], tlsToneHz)
	t.Logf("the platform heard %v from baresip: %d loud windows, %d Hz at %.1f dB of the energy", chans[0].Duration(), far.windows,
		tlsToneHz, far.median[tlsToneHz])
	if far.windows < 10 || far.median[tlsToneHz] < -3 {
		t.Errorf("the recording's caller channel does not hold baresip's tone: %d windows, %.1f dB", far.windows, far.median[tlsToneHz])
	}
}

// TestBaresipTLSSRTPOutbound: the platform calls baresip through a trunk
// with transport tls and srtp required. baresip, which accepts only SRTP,
// answers and plays a tone; the platform verifies baresip's certificate
// against the test CA (--sip-tls-ca), and its recording must hold the tone.
func TestBaresipTLSSRTPOutbound(t *testing.T) {
	if testing.Short() {
		t.Skip("a 5 s call with baresip; skipped under -short")
	}
	t.Parallel()
	pki := newTLSPKI(t)
	ph := startTLSPhone(t, tlsPhoneOpts{user: tlsPhoneDID, mediaenc: "srtp-mand", source: tlsTone(12 * time.Second),
		cert: pki.phone, cafile: pki.ca.File})
	l := startTLSPlatform(t, "sqlite", config.TLS{SIPCert: pki.platform.CertFile, SIPKey: pki.platform.KeyFile, TrunkCA: pki.ca.File})
	cust, app := l.fixture()
	tlsOwnNumber(l, cust)
	l.answers.set(`[{"action":"pause","length":4},{"action":"hangup"}]`)
	l.do("POST", "/v1/trunks", map[string]any{"name": "phone", "host": "127.0.0.1", "port": ph.tlsPort, "transport": "tls",
		"srtp": "required"}, 201)
	id := l.do("POST", "/v1/calls", map[string]any{"to": tlsPhoneDID, "from": "+15551230001", "application_id": app, "record": true}, 201)["id"].(string)
	c := l.waitCall(id)
	if c["status"] != "completed" || c["codec"] != "PCMU" || c["hangup_source"] != "caller" {
		t.Fatalf("call: %v", c)
	}
	if !ph.waitOutput(t, "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)", 5*time.Second) {
		t.Error("baresip did not report SRTP enabled")
	}
	recs, _ := c["recording_ids"].([]any)
	if len(recs) != 1 {
		t.Fatalf("recording_ids %v", c["recording_ids"])
	}
	rid := recs[0].(string)
	if rec := ivWaitRecording(t, l, rid); rec["status"] != "completed" {
		t.Fatalf("recording: %v", rec)
	}
	chans := ivChannels(t, l, rid)
	far := bsMeasure(chans[0], tlsToneHz)
	t.Logf("the platform heard %v from baresip: %d loud windows, %d Hz at %.1f dB of the energy, rest %.1f dB", chans[0].Duration(),
		far.windows, tlsToneHz, far.median[tlsToneHz], far.rest)
	if far.windows < 10 || far.median[tlsToneHz] < -3 {
		t.Errorf("the recording's callee channel does not hold baresip's tone: %d windows, %.1f dB", far.windows, far.median[tlsToneHz])
	}
}

// TestBaresipTLSRefusals: what a trunk with transport tls refuses. baresip
// without SRTP answers the platform's RTP/SAVP offer with 488, as RFC 3264
// peers do: with srtp required the call fails there (call_rejected); with
// srtp optional the platform offers plain RTP again and the call goes
// through. A phone whose certificate comes from a CA the platform does not
// trust is never sent the INVITE (trunk_unreachable, naming the
// certificate). The answer without a=crypto that baresip never gives is
// TestSRTPRequiredRefusesPlainAnswer's.
func TestBaresipTLSRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("three calls with baresip; skipped under -short")
	}
	t.Parallel()
	pki := newTLSPKI(t)
	plain := startTLSPhone(t, tlsPhoneOpts{user: tlsPhoneDID, source: tlsTone(12 * time.Second), cert: pki.phone})
	other := certstest.NewCA(t, pki.dir, "untrusted")
	stranger := startTLSPhone(t, tlsPhoneOpts{user: tlsPhoneDID, mediaenc: "srtp-mand", source: tlsTone(12 * time.Second),
		cert: combinedPEM(t, other.Issue(t, pki.dir, "stranger", time.Time{}, time.Time{}, "127.0.0.1"))})
	l := startTLSPlatform(t, "sqlite", config.TLS{SIPCert: pki.platform.CertFile, SIPKey: pki.platform.KeyFile, TrunkCA: pki.ca.File})
	cust, app := l.fixture()
	tlsOwnNumber(l, cust)
	l.answers.set(`[{"action":"pause","length":1},{"action":"hangup"}]`)
	trunk := l.do("POST", "/v1/trunks", map[string]any{"name": "plain", "host": "127.0.0.1", "port": plain.tlsPort, "transport": "tls",
		"srtp": "required", "customer_id": cust}, 201)["id"].(string)
	call := func() map[string]any {
		id := l.do("POST", "/v1/calls", map[string]any{"to": tlsPhoneDID, "from": "+15551230001", "application_id": app}, 201)["id"].(string)
		return l.waitCall(id)
	}
	c := call()
	e, _ := c["error"].(map[string]any)
	if c["status"] != "failed" || c["sip_code"] != float64(488) || e == nil || e["code"] != "call_rejected" {
		t.Errorf("srtp required, phone without SRTP: %v", c)
	}
	t.Logf("srtp required, phone without SRTP: %s", e["message"])
	l.do("PATCH", "/v1/trunks/"+trunk, map[string]any{"srtp": "optional"}, 200)
	c = call()
	if c["status"] != "completed" || c["sip_code"] != float64(200) {
		t.Errorf("srtp optional, phone without SRTP: %v", c)
	}
	// baresip refuses an RTP/SAVP offer as having no audio codec it can use.
	out := plain.out.String()
	if refused, answered := strings.Count(out, "no common audio codecs - rejected"), strings.Count(out, "answering call"); refused != 2 || answered != 1 {
		t.Errorf("the phone without SRTP refused %d offers and answered %d, want 2 SRTP offers refused and the plain one answered",
			refused, answered)
	}
	l.do("PATCH", "/v1/trunks/"+trunk, map[string]any{"port": stranger.tlsPort}, 200)
	c = call()
	e, _ = c["error"].(map[string]any)
	if c["status"] != "failed" || e == nil || e["code"] != "trunk_unreachable" || !strings.Contains(e["message"].(string), "certificate") {
		t.Errorf("untrusted certificate: %v", c)
	}
	t.Logf("untrusted certificate: %s", e["message"])
	if strings.Contains(stranger.out.String(), "answering call") || strings.Contains(stranger.out.String(), "rejected") {
		t.Error("the phone with an untrusted certificate got the INVITE")
	}
}
