package sim

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/tts"
)

// newTestSim starts a simulator on a free loopback port with a short answer
// delay, closed when the test ends.
func newTestSim(t *testing.T, cfg Config) *Sim {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.RecordDir == "" {
		cfg.RecordDir = t.TempDir()
	}
	if cfg.AnswerDelay == 0 {
		cfg.AnswerDelay = 100 * time.Millisecond
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.Serve()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// flite is the real TTS engine, or a skip when flite is not installed.
func flite(t *testing.T) Speaker {
	t.Helper()
	if _, err := exec.LookPath("flite"); err != nil {
		t.Skip("flite not installed")
	}
	e, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("tts: %v", err)
	}
	return e
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func callTo(carrier *Sim, to string) CallOptions {
	return CallOptions{Platform: carrier.Addr().String(), From: "+15557654321", To: to, MaxDuration: 30 * time.Second}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	carrier := newTestSim(t, Config{})
	caller := newTestSim(t, Config{})
	for _, tc := range []struct {
		to   string
		code int
		name string
	}{
		{"+15550000486", 486, BehaviourBusy},
		{"+15550000404", 404, BehaviourNotFound},
		{"+15550000503", 503, BehaviourUnavailable},
		{"15550000603", 603, BehaviourDecline}, // without "+": same number
	} {
		t.Run(tc.to, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 20*time.Second)
			got, err := caller.Call(ctx, callTo(carrier, tc.to))
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if got.SIPStatus != tc.code || got.Answered || got.EndedBy != EndedRemote || got.Direction != DirectionOutbound {
				t.Errorf("caller report %+v; want status %d, not answered, ended by remote", got, tc.code)
			}
			rep, err := carrier.WaitCall(ctx, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if rep.SIPStatus != tc.code || rep.Behaviour != tc.name || rep.Answered || rep.EndedBy != EndedLocal ||
				rep.Direction != DirectionInbound || rep.CallID != got.CallID || rep.HeardPath != "" {
				t.Errorf("carrier report %+v; want %s with %d, ended locally, Call-ID %s", rep, tc.name, tc.code, got.CallID)
			}
			if rep.To != "+"+digitsOnly(tc.to) || rep.From != "+15557654321" {
				t.Errorf("carrier saw %s -> %s", rep.From, rep.To)
			}
		})
	}
}

func TestRingForeverUntilCancel(t *testing.T) {
	t.Parallel()
	carrier := newTestSim(t, Config{})
	caller := newTestSim(t, Config{})
	ctx := testCtx(t, 20*time.Second)
	callCtx, cancel := context.WithCancel(ctx)
	type result struct {
		rep CallReport
		err error
	}
	res := make(chan result, 1)
	go func() {
		rep, err := caller.Call(callCtx, callTo(carrier, "+15550000408"))
		res <- result{rep, err}
	}()
	// Hang up once the caller has heard it ring: CANCEL needs a provisional.
	for {
		if calls := caller.Calls(); len(calls) == 1 && calls[0].Provisional == 180 {
			break
		}
		select {
		case r := <-res:
			t.Fatalf("call ended before cancel: %+v %v", r.rep, r.err)
		case <-ctx.Done():
			t.Fatalf("the caller never heard it ring: caller %+v carrier %+v", caller.Calls(), carrier.Calls())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	r := <-res
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Call error %v; want context.Canceled", r.err)
	}
	if r.rep.SIPStatus != 487 || r.rep.Provisional != 180 || r.rep.Answered || r.rep.EndedBy != EndedLocal {
		t.Errorf("caller report %+v; want 487, not answered, ended locally", r.rep)
	}
	rep, err := carrier.WaitCall(ctx, "+15550000408")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Behaviour != BehaviourRingForever || rep.Answered || rep.SIPStatus != 487 || rep.EndedBy != EndedRemote {
		t.Errorf("carrier report %+v; want ring-forever ended by the caller's CANCEL", rep)
	}
}

// TestGreetingAudioFlows is the proof that audio really flows both ways: each
// side's recording holds the other side's TTS, decoded from real RTP.
func TestGreetingAudioFlows(t *testing.T) {
	t.Parallel()
	speaker := flite(t)
	carrier := newTestSim(t, Config{Speaker: speaker})
	caller := newTestSim(t, Config{Speaker: speaker})
	ctx := testCtx(t, 30*time.Second)
	opts := callTo(carrier, "+15550000000")
	opts.Script = []string{"say This is the platform speaking."}
	opts.HangupAfter = 5 * time.Second
	got, err := caller.Call(ctx, opts)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	t.Logf("caller heard %v (%v active, RMS %.0f), codec %s", got.HeardDuration, got.HeardActive, got.HeardRMS, got.Codec)
	if !got.Answered || got.SIPStatus != 200 || got.EndedBy != EndedLocal || got.Codec != "G722" {
		t.Errorf("caller report %+v; want answered with G722, hung up by the caller", got)
	}
	if got.HeardActive <= time.Second {
		t.Errorf("caller heard %v of active audio; want > 1 s of the carrier's greeting", got.HeardActive)
	}
	checkWAV(t, got)
	// The post-answer delay: measured, and the first packet no later than
	// the first audible one (no bound on either: timing is the benchmark's).
	t.Logf("caller: first packet %v, first audible frame %v after the 200 OK", got.FirstPacket, got.FirstAudio)
	if got.FirstPacket <= 0 || got.FirstAudio < got.FirstPacket {
		t.Errorf("caller report FirstPacket %v, FirstAudio %v; want both set, packet first", got.FirstPacket, got.FirstAudio)
	}
	rep, err := carrier.WaitCall(ctx, "+15550000000")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("carrier heard %v (%v active, RMS %.0f)", rep.HeardDuration, rep.HeardActive, rep.HeardRMS)
	if rep.Behaviour != BehaviourAnswer || !rep.Answered || rep.EndedBy != EndedRemote || rep.Err != "" {
		t.Errorf("carrier report %+v; want answer, ended by the caller", rep)
	}
	if rep.HeardActive <= 500*time.Millisecond {
		t.Errorf("carrier heard %v of active audio; want the caller's sentence", rep.HeardActive)
	}
	checkWAV(t, rep)
	if rep.HeardPath == got.HeardPath {
		t.Errorf("both ends recorded into %s", rep.HeardPath)
	}
}

// checkWAV reads a report's recording back and compares it with the report.
func checkWAV(t *testing.T, r CallReport) {
	t.Helper()
	f, err := os.Open(r.HeardPath)
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	defer f.Close()
	p, err := media.ReadWAV(f)
	if err != nil {
		t.Fatalf("recording %s: %v", r.HeardPath, err)
	}
	if want := map[string]int{"G722": 16000}[r.Codec]; p.Rate != max(want, 8000) || p.Duration() != r.HeardDuration || p.Duration() == 0 {
		t.Errorf("recording %s: %d Hz, %v; report says %v", r.HeardPath, p.Rate, p.Duration(), r.HeardDuration)
	}
}

func TestCarrierHangsUp(t *testing.T) {
	t.Parallel()
	carrier := newTestSim(t, Config{})
	caller := newTestSim(t, Config{})
	ctx := testCtx(t, 30*time.Second)
	got, err := caller.Call(ctx, callTo(carrier, "+15550000999"))
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if !got.Answered || got.EndedBy != EndedRemote || got.HeardActive == 0 {
		t.Errorf("caller report %+v; want answered, hung up by the carrier, tone heard", got)
	}
	if got.FirstPacket <= 0 || got.FirstAudio < got.FirstPacket {
		t.Errorf("caller report FirstPacket %v, FirstAudio %v; want the tone's arrival measured", got.FirstPacket, got.FirstAudio)
	}
	rep, err := carrier.WaitCall(ctx, "+15550000999")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Behaviour != BehaviourAnswerHangup || !rep.Answered || rep.EndedBy != EndedLocal {
		t.Errorf("carrier report %+v; want answer-hangup ended locally", rep)
	}
}

func TestScriptedDTMF(t *testing.T) {
	t.Parallel()
	carrier := newTestSim(t, Config{Scripts: map[string][]string{
		"+15550000100": {"wait 0.2", "dtmf 42#", "wait 0.3", "hangup"},
	}})
	caller := newTestSim(t, Config{})
	ctx := testCtx(t, 30*time.Second)
	got, err := caller.Call(ctx, callTo(carrier, "+15550000100"))
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if !got.Answered || got.EndedBy != EndedRemote || got.DTMFHeard != "42#" {
		t.Errorf("caller report %+v; want answered, DTMF 42# heard, hung up by the carrier", got)
	}
	// Silence and digits only: packets arrived, nothing audible did.
	if got.FirstPacket <= 0 || got.FirstAudio != 0 {
		t.Errorf("caller report FirstPacket %v, FirstAudio %v; want packets but no audible frame", got.FirstPacket, got.FirstAudio)
	}
	rep, err := carrier.WaitCall(ctx, "15550000100")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Behaviour != BehaviourScript || rep.DTMFSent != "42#" || rep.EndedBy != EndedLocal {
		t.Errorf("carrier report %+v; want script, DTMF 42# sent", rep)
	}
}

func TestCallOverTCP(t *testing.T) {
	t.Parallel()
	carrier := newTestSim(t, Config{})
	caller := newTestSim(t, Config{})
	ctx := testCtx(t, 30*time.Second)
	opts := callTo(carrier, "+15550000001")
	opts.Transport = "tcp"
	opts.HangupAfter = time.Second
	got, err := caller.Call(ctx, opts)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if !got.Answered || got.SIPStatus != 200 || got.EndedBy != EndedLocal || got.HeardDuration == 0 {
		t.Errorf("caller report %+v; want answered over TCP with audio", got)
	}
	rep, err := carrier.WaitCall(ctx, "+15550000001")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Answered || rep.EndedBy != EndedRemote {
		t.Errorf("carrier report %+v", rep)
	}
}

// TestCloseEndsCalls: a call that would stay up forever ends when the
// carrier closes, with a BYE the caller sees.
func TestCloseEndsCalls(t *testing.T) {
	t.Parallel()
	carrier, err := New(Config{Listen: "127.0.0.1:0", AnswerDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	carrier.Serve()
	caller := newTestSim(t, Config{})
	ctx := testCtx(t, 30*time.Second)
	res := make(chan CallReport, 1)
	go func() {
		r, _ := caller.Call(ctx, callTo(carrier, "+15550000050"))
		res <- r
	}()
	for {
		if calls := carrier.Calls(); len(calls) == 1 && calls[0].Answered {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	dir := carrier.RecordDir()
	if err := carrier.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	got := <-res
	if !got.Answered || got.EndedBy != EndedRemote {
		t.Errorf("caller report %+v; want ended by the carrier's BYE", got)
	}
	if calls := carrier.Calls(); len(calls) != 1 || calls[0].EndedBy != EndedLocal {
		t.Errorf("carrier calls after Close: %+v", calls)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary recording dir %s still there: %v", dir, err)
	}
	opts := callTo(carrier, "+15550000050")
	opts.SetupTimeout = 300 * time.Millisecond
	if r, err := caller.Call(ctx, opts); !errors.Is(err, errNoResponse) || r.SIPStatus != 0 || r.Answered {
		t.Errorf("a call to a closed simulator: %+v, %v; want errNoResponse", r, err)
	}
}

func TestScriptValidation(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Listen: "127.0.0.1:0", Scripts: map[string][]string{"+15550000101": {"wait 1", "jump 3"}}})
	if !errors.Is(err, ErrBadScript) || !strings.Contains(err.Error(), "+15550000101") || !strings.Contains(err.Error(), "jump") {
		t.Errorf("New with a bad step: %v; want ErrBadScript naming the number and the step", err)
	}
	for _, bad := range []string{"", "say", "say   ", "wait", "wait x", "wait -1", "wait NaN", "wait 7200",
		"dtmf", "dtmf 12E", "hangup now", "jump 3"} {
		if _, err := parseStep(bad); err == nil {
			t.Errorf("parseStep(%q) accepted", bad)
		}
	}
	for in, want := range map[string]step{
		"say Hello there": {kind: stepSay, text: "Hello there"},
		"SAY hi":          {kind: stepSay, text: "hi"},
		"wait 1.5":        {kind: stepWait, wait: 1500 * time.Millisecond},
		"wait 0":          {kind: stepWait},
		"dtmf 42#":        {kind: stepDTMF, digits: "42#"},
		"dtmf 1 2 *ab":    {kind: stepDTMF, digits: "12*AB"},
		"hangup":          {kind: stepHangup},
	} {
		got, err := parseStep(in)
		if err != nil || got != want {
			t.Errorf("parseStep(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	scripts, err := LoadScripts(strings.NewReader(`{"+15550000101": ["wait 2", "dtmf 42#", "wait 5", "hangup"]}`))
	if err != nil || len(scripts["+15550000101"]) != 4 {
		t.Errorf("LoadScripts: %v %v", scripts, err)
	}
	for _, bad := range []string{`[]`, `{"+1555": "say hi"}`, `{"+1555": ["sing"]}`, `{"abc": ["hangup"]}`, `not json`} {
		if _, err := LoadScripts(strings.NewReader(bad)); !errors.Is(err, ErrBadScript) {
			t.Errorf("LoadScripts(%s): %v; want ErrBadScript", bad, err)
		}
	}
	if _, err := New(Config{Listen: "127.0.0.1:0", Codecs: []string{"opus"}}); err == nil {
		t.Error("New accepted codec opus")
	}
}

func TestBehaviourTable(t *testing.T) {
	t.Parallel()
	s := &Sim{scripts: map[string][]step{"15550000486": {{kind: stepHangup}}}}
	for user, want := range map[string]string{
		"+15550000000": BehaviourAnswer, "15550000099": BehaviourAnswer, "+15550000100": BehaviourAnswerDTMF,
		"+15550000199": BehaviourAnswerDTMF, "+15550000404": BehaviourNotFound, "+15550000408": BehaviourRingForever,
		"+15550000503": BehaviourUnavailable, "+15550000603": BehaviourDecline, "+15550000999": BehaviourAnswerHangup,
		"+15551234567": BehaviourAnswer, "alice": BehaviourAnswer, "+15551230486": BehaviourBusy, "+15550001486": BehaviourAnswer,
		// scripted, with and without "+", and behind a trunk's tech prefix
		"+15550000486": BehaviourScript, "15550000486": BehaviourScript, "9915550000486": BehaviourScript,
	} {
		if got := s.behaviourFor(user).name; got != want {
			t.Errorf("behaviourFor(%q) = %s; want %s", user, got, want)
		}
	}
	if b := s.behaviourFor("+15550000999"); b.hangupAfter != 2*time.Second {
		t.Errorf("0999 hangs up after %v", b.hangupAfter)
	}
	if b := s.behaviourFor("+15550000486"); len(b.steps) != 1 || b.refuse != 0 {
		t.Errorf("a scripted 0486 refuses: %+v", b)
	}
}
