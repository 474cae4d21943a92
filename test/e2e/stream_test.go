package e2e

// Live media streams (docs/streams.md) through real calls: the simulator
// calls in, the application's answer starts a stream to a WebSocket
// receiver written here with the same library the platform uses, and the
// test checks both ends: what the receiver got (the caller's speech, the
// key press, marks) and what the simulator heard (the audio sent back).
// Assertions count frames, not milliseconds.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/mediastream"
	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/stacktest"
	"github.com/minivoice/minivoice/internal/tts"
	"github.com/minivoice/minivoice/webhook"
)

// streamPeer is the application's end of one stream.
type streamPeer struct {
	conn   net.Conn
	header http.Header // the upgrade request's
	msgs   chan mediastream.Message
	mu     sync.Mutex
}

// send writes one message to the platform.
func (p *streamPeer) send(t testing.TB, m mediastream.Message) {
	t.Helper()
	b, _ := json.Marshal(m)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := wsutil.WriteServerText(p.conn, b); err != nil {
		t.Errorf("stream send: %v", err)
	}
}

// next is the next message from the platform, failing the test when none
// comes in a generous while or the stream ended.
func (p *streamPeer) next(t testing.TB) mediastream.Message {
	t.Helper()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			t.Fatal("stream: the platform closed the stream")
		}
		return m
	case <-time.After(stacktest.CallTimeout):
		t.Fatal("stream: no message from the platform")
	}
	return mediastream.Message{}
}

// streamReceiver serves WebSocket upgrades on loopback and hands each
// stream to peers; with read false it accepts and never reads (a stuck
// receiver).
func streamReceiver(t *testing.T, st *stacktest.Stack, read bool) (url string, peers chan *streamPeer) {
	peers = make(chan *streamPeer, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		p := &streamPeer{conn: conn, header: r.Header.Clone(), msgs: make(chan mediastream.Message, 20000)}
		t.Cleanup(func() { _ = conn.Close() })
		if !read {
			// A small receive buffer makes the platform's writes block
			// within seconds, as a receiver far away that stopped reading.
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(4096)
			}
			peers <- p
			return
		}
		peers <- p
		go func() {
			defer close(p.msgs)
			for {
				b, op, err := wsutil.ReadClientData(conn)
				if err != nil {
					return
				}
				if op != ws.OpText {
					continue
				}
				var m mediastream.Message
				if err := json.Unmarshal(b, &m); err != nil {
					t.Errorf("stream message %q: %v", b, err)
					return
				}
				p.msgs <- m
			}
		}()
	})
	base := st.Serve(t, h)
	return "ws" + strings.TrimPrefix(base, "http") + "/stream", peers
}

// streamApp answers calls with the given actions and creates the
// application; it returns the application's id and webhook secret.
func streamApp(t *testing.T, st *stacktest.Stack, cust string, actions func() any, extra ...map[string]any) (appID, secret string) {
	answer := st.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(actions())
	}))
	body := map[string]any{"customer_id": cust, "name": "streams", "answer_url": answer + "/answer"}
	for _, e := range extra {
		maps.Copy(body, e)
	}
	app := st.Do(t, "POST", "/v1/applications", body, 201)
	return stacktest.Str(app["id"]), stacktest.Str(app["webhook_secret"])
}

// toneFrames is n 20 ms frames of a 440 Hz tone at 8 kHz, mu-law, base64.
func toneFrames(n int) []string {
	codec, _ := mediastream.NewCodec(mediastream.Format{Encoding: mediastream.EncodingMulaw, SampleRate: 8000, Channels: 1})
	out := make([]string, n)
	for f := range out {
		pcm := make([]int16, 160)
		for i := range pcm {
			pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(f*160+i)/8000))
		}
		out[f] = codec.EncodePayload(pcm)
	}
	return out
}

// spokenDuration is how long the simulator's voice saying said sounds
// (above -40 dBFS, at 8 kHz).
func spokenDuration(t *testing.T, said string) time.Duration {
	t.Helper()
	speaker, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want, err := speaker.Render(context.Background(), sim.DefaultVoice, said, 8000)
	if err != nil {
		t.Fatal(err)
	}
	return media.ActiveDuration(want, -40)
}

// loud reports whether a media payload carries sound (above -40 dBFS).
func loud(codec *mediastream.Codec, payload string) bool {
	pcm, err := codec.DecodePayload(nil, payload)
	return err == nil && media.DBFS(pcm) > -40
}

// TestStreamBidirectional: a two-way stream on an inbound call. The
// receiver hears the caller's speech and key press on the inbound track,
// plays a tone back (heard by the caller, its mark returned once the tone
// went out on the outbound track), cuts a long tone short with clear, then
// closes the socket; the call goes on to its next action.
func TestStreamBidirectional(t *testing.T) {
	t.Parallel()
	st := stacktest.Start(t, stacktest.Config{})
	cust := st.Customer(t, "acme")
	wsURL, peers := streamReceiver(t, st, true)
	app, secret := streamApp(t, st, cust, func() any {
		return []map[string]any{
			{"action": "stream", "url": wsURL, "bidirectional": true, "track": "both", "custom_parameters": map[string]string{"agent": "echo"}},
			{"action": "say", "text": "Goodbye."},
			{"action": "hangup"},
		}
	}, map[string]any{"record_by_default": true})
	st.InboundTrunkFromSim(t)
	const did = "+15551230201"
	st.Number(t, did, cust, app)
	const said = "Hello, this is the caller speaking to the stream."
	wait := st.GoSimCall(t, sim.CallOptions{From: "+15557770201", To: did,
		Script: []string{"wait 1", "say " + said, "dtmf 5", "wait 30"}})

	p := <-peers
	if err := webhook.Verify(secret, p.header, nil, time.Now(), 0); err != nil {
		t.Errorf("the upgrade request's signature: %v", err)
	}
	if m := p.next(t); m.Event != mediastream.EventConnected || m.Protocol != mediastream.Protocol {
		t.Fatalf("first message %+v, want connected", m)
	}
	start := p.next(t)
	if start.Event != mediastream.EventStart || start.Start == nil {
		t.Fatalf("second message %+v, want start", start)
	}
	if s := start.Start; s.CallID == "" || len(s.Tracks) != 2 || !s.Bidirectional || s.MediaFormat.Encoding != mediastream.EncodingMulaw ||
		s.MediaFormat.SampleRate != 8000 || s.CustomParameters["agent"] != "echo" || start.StreamID == "" {
		t.Errorf("start %+v", s)
	}
	codec, _ := mediastream.NewCodec(start.Start.MediaFormat)

	// The caller's speech, until the key press after it.
	var inbound []int16
	chunks := map[string]int64{}
	for done := false; !done; {
		m := p.next(t)
		switch m.Event {
		case mediastream.EventMedia:
			if m.Media.Chunk != chunks[m.Media.Track]+1 {
				t.Errorf("%s chunk %d after %d", m.Media.Track, m.Media.Chunk, chunks[m.Media.Track])
			}
			chunks[m.Media.Track] = m.Media.Chunk
			if m.Media.Track == mediastream.TrackInbound {
				inbound, _ = codec.DecodePayload(inbound, m.Media.Payload)
			}
		case mediastream.EventDTMF:
			if m.DTMF.Digit != "5" {
				t.Errorf("dtmf %+v, want 5", m.DTMF)
			}
			done = true
		}
	}
	wantActive := spokenDuration(t, said)
	gotActive := media.ActiveDuration(&media.PCM{Samples: inbound, Rate: 8000}, -40)
	if gotActive < wantActive*7/10 || gotActive > wantActive*13/10+time.Second {
		t.Errorf("inbound track carried %v of sound, the caller said %v", gotActive, wantActive)
	}

	// A 1 s tone and a mark: the mark comes back once the tone went out.
	for _, f := range toneFrames(50) {
		p.send(t, mediastream.Message{Event: mediastream.EventMedia, Media: &mediastream.Media{Payload: f}})
	}
	p.send(t, mediastream.Message{Event: mediastream.EventMark, Mark: &mediastream.Mark{Name: "tone"}})
	toneOut := 0
	for {
		m := p.next(t)
		if m.Event == mediastream.EventMedia && m.Media.Track == mediastream.TrackOutbound && loud(codec, m.Media.Payload) {
			toneOut++
		}
		if m.Event == mediastream.EventMark {
			if m.Mark.Name != "tone" {
				t.Errorf("mark %q, want tone", m.Mark.Name)
			}
			break
		}
	}
	// The mark travels beside the media messages, so the last frames may
	// reach the receiver just after it; the tone's frames after the mark
	// are counted apart.
	afterMark := 0
	for n := 0; n < 10; {
		m := p.next(t)
		if m.Event == mediastream.EventMedia && m.Media.Track == mediastream.TrackOutbound {
			n++
			if loud(codec, m.Media.Payload) {
				afterMark++
			}
		}
	}
	if toneOut < 40 || toneOut+afterMark < 48 {
		t.Errorf("the mark came back after %d of the tone's 50 frames went out (%d more just after it)", toneOut, afterMark)
	}

	// A 10 s tone, cut with clear once 25 frames went out: its mark comes
	// back at once and the tone stops.
	for _, f := range toneFrames(500) {
		p.send(t, mediastream.Message{Event: mediastream.EventMedia, Media: &mediastream.Media{Payload: f}})
	}
	p.send(t, mediastream.Message{Event: mediastream.EventMark, Mark: &mediastream.Mark{Name: "long"}})
	// A malformed message is ignored (and reported once).
	p.send(t, mediastream.Message{Event: "bogus"})
	// The clear must cut the tone: of the 100 outbound frames read after it
	// was sent, the last 50 are quiet (whatever was in flight went out
	// before them), and far fewer than its 500 frames went out in all.
	longOut, cleared, after, loudLate := 0, false, 0, 0
	markBack := false
	for after < 100 {
		m := p.next(t)
		switch {
		case m.Event == mediastream.EventMark:
			if m.Mark.Name != "long" || !cleared {
				t.Errorf("mark %q before the clear", m.Mark.Name)
			}
			markBack = true
		case m.Event == mediastream.EventMedia && m.Media.Track == mediastream.TrackOutbound:
			isLoud := loud(codec, m.Media.Payload)
			if isLoud {
				longOut++
			}
			if cleared {
				after++
				if after > 50 && isLoud {
					loudLate++
				}
			}
			if longOut == 25 && !cleared {
				p.send(t, mediastream.Message{Event: mediastream.EventClear})
				cleared = true
			}
		}
	}
	if loudLate > 0 || longOut > 125 {
		t.Errorf("the long tone went on after the clear: %d frames of it in all (clear after 25), %d in the last second read", longOut, loudLate)
	}
	if !markBack {
		t.Error("the long tone's mark did not come back on clear")
	}
	p.mu.Lock()
	_ = ws.WriteFrame(p.conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	p.mu.Unlock()
	_ = p.conn.Close()

	rep := wait(t)
	if !rep.Answered || rep.EndedBy != sim.EndedRemote {
		t.Errorf("simulator report %+v: want answered and hung up by the platform", rep)
	}
	// The tone (1 s), the long tone's start (0.5 s) and the goodbye.
	if rep.HeardActive < 1500*time.Millisecond {
		t.Errorf("the caller heard %v of sound, want the tones and the goodbye", rep.HeardActive)
	}
	calls := st.Calls(t, "customer_id="+cust)
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	c := st.WaitCall(t, stacktest.Str(calls[0]["id"]))
	evs := st.Events(t, stacktest.Str(c["id"]))
	if c["status"] != "completed" || c["hangup_cause"] != "normal_clearing" {
		t.Errorf("call %v", c)
	}
	// What the stream played is in the call's recording, on the platform's
	// side: the tone (1 s), the long tone's start and the goodbye.
	if ids, _ := c["recording_ids"].([]any); len(ids) != 1 {
		t.Errorf("recording_ids %v, want the call's recording", c["recording_ids"])
	} else {
		st.WaitRecording(t, stacktest.Str(ids[0]))
		chans := st.RecordingWAV(t, stacktest.Str(ids[0]))
		platform := chans[len(chans)-1]
		if a := media.ActiveDuration(platform, -40); a < 1500*time.Millisecond {
			t.Errorf("the recording's platform side has %v of sound, want the tones and the goodbye", a)
		}
	}
	stopped := stacktest.Event(evs, "stream.stopped")
	if stopped == nil || stacktest.Event(evs, "stream.started") == nil {
		t.Fatalf("events %s, want stream.started and stream.stopped", stacktest.EventNames(evs))
	}
	data := stopped
	if data["reason"] != "receiver_closed" || stacktest.Num(data["frames_sent"]) < 100 || stacktest.Num(data["messages_invalid"]) != 1 {
		t.Errorf("stream.stopped %v", data)
	}
	if e := stacktest.Event(evs, "call.error"); e == nil || e["code"] != "stream_message_invalid" {
		t.Errorf("events %s: want one call.error for the malformed message", stacktest.EventNames(evs))
	}
}

// TestStreamStuckReceiver: a receiver that accepts the stream and never
// reads does not stall the call: the prompt after the one-way stream plays
// in full and the call ends normally; the stream drops what the receiver
// does not take, then stops as receiver_too_slow.
func TestStreamStuckReceiver(t *testing.T) {
	t.Parallel()
	st := stacktest.Start(t, stacktest.Config{})
	cust := st.Customer(t, "acme")
	wsURL, peers := streamReceiver(t, st, false)
	const prompt = "This prompt plays while the stream's receiver reads nothing at all. " +
		"The call must go on as if the stream were not there, and end when the prompt is done."
	app, _ := streamApp(t, st, cust, func() any {
		return []map[string]any{
			{"action": "stream", "url": wsURL, "track": "both", "encoding": "audio/l16", "sample_rate": 16000},
			{"action": "say", "text": prompt},
			{"action": "hangup"},
		}
	})
	st.InboundTrunkFromSim(t)
	const did = "+15551230202"
	st.Number(t, did, cust, app)
	rep := st.SimCall(t, sim.CallOptions{From: "+15557770202", To: did, Script: []string{"say I am talking all the time into a stream nobody reads.", "wait 30"}})
	<-peers
	if !rep.Answered || rep.EndedBy != sim.EndedRemote {
		t.Errorf("simulator report %+v: want answered and hung up by the platform", rep)
	}
	speaker, err := tts.New(tts.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want, err := speaker.Render(context.Background(), "slt", prompt, 8000)
	if err != nil {
		t.Fatal(err)
	}
	if wantActive := media.ActiveDuration(want, -40); rep.HeardActive < wantActive*8/10 {
		t.Errorf("the caller heard %v of sound, the prompt has %v", rep.HeardActive, wantActive)
	}
	calls := st.Calls(t, "customer_id="+cust)
	c := st.WaitCall(t, stacktest.Str(calls[0]["id"]))
	if c["status"] != "completed" || c["hangup_cause"] != "normal_clearing" {
		t.Errorf("call %v", c)
	}
	evs := st.Events(t, stacktest.Str(c["id"]))
	stopped := stacktest.Event(evs, "stream.stopped")
	if stopped == nil {
		t.Fatalf("events %s, want stream.stopped", stacktest.EventNames(evs))
	}
	if stopped["reason"] != "receiver_too_slow" || stacktest.Num(stopped["frames_dropped"]) == 0 {
		t.Errorf("stream.stopped %v: want receiver_too_slow with frames dropped", stopped)
	}
}

// TestStreamRefusedURL: a stream to a loopback address the operator did not
// allow (::1; the stack allows 127.0.0.0/8 only) fails the call with a
// call.error that says why, without connecting.
func TestStreamRefusedURL(t *testing.T) {
	t.Parallel()
	st := stacktest.Start(t, stacktest.Config{})
	cust := st.Customer(t, "acme")
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	wsURL := "ws://" + ln.Addr().String() + "/stream"
	app, _ := streamApp(t, st, cust, func() any {
		return []map[string]any{{"action": "stream", "url": wsURL}, {"action": "say", "text": "Not heard."}}
	})
	st.InboundTrunkFromSim(t)
	const did = "+15551230203"
	st.Number(t, did, cust, app)
	st.SimCall(t, sim.CallOptions{From: "+15557770203", To: did, Script: []string{"wait 30"}})
	calls := st.Calls(t, "customer_id="+cust)
	c := st.WaitCall(t, stacktest.Str(calls[0]["id"]))
	evs := st.Events(t, stacktest.Str(c["id"]))
	e := stacktest.Event(evs, "call.error")
	if e == nil {
		t.Fatalf("events %s, want call.error", stacktest.EventNames(evs))
	}
	msg := fmt.Sprint(e["message"])
	if !strings.Contains(msg, "stream "+wsURL) || !strings.Contains(msg, "private or reserved") {
		t.Errorf("call.error %s: want the stream URL and the guard's reason", msg)
	}
	if e["code"] != "url_not_allowed" || c["hangup_cause"] != "application_error" {
		t.Errorf("call %v", c)
	}
	select {
	case <-accepted:
		t.Error("the platform connected to the refused address")
	default:
	}
}

// TestStreamAPI: POST /v1/calls/{id}/streams opens a one-way stream on a
// call in progress, a second one is refused at the customer's limit, and
// DELETE stops the first: the receiver gets stop, stream.stopped says
// "stopped".
func TestStreamAPI(t *testing.T) {
	t.Parallel()
	st := stacktest.Start(t, stacktest.Config{})
	st.Platform.SIP.SetMaxStreamsPerCustomer(1)
	cust := st.Customer(t, "acme")
	wsURL, peers := streamReceiver(t, st, true)
	app, _ := streamApp(t, st, cust, func() any {
		return []map[string]any{{"action": "pause", "length": 30}, {"action": "hangup"}}
	})
	st.InboundTrunkFromSim(t)
	const did = "+15551230204"
	st.Number(t, did, cust, app)
	wait := st.GoSimCall(t, sim.CallOptions{From: "+15557770204", To: did, Script: []string{"say Streams can start in the middle of a call.", "wait 30"}})
	var callID string
	for deadline := time.Now().Add(stacktest.CallTimeout); callID == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call never came in")
		}
		for _, c := range st.Calls(t, "customer_id="+cust) {
			if c["status"] == "in-progress" {
				callID = stacktest.Str(c["id"])
			}
		}
	}
	started := st.Do(t, "POST", "/v1/calls/"+callID+"/streams", map[string]any{"url": wsURL, "custom_parameters": map[string]string{"via": "api"}}, 201)
	sid := stacktest.Str(started["id"])
	st.Do(t, "POST", "/v1/calls/"+callID+"/streams", map[string]any{"url": wsURL}, 429)
	st.Do(t, "POST", "/v1/calls/"+callID+"/streams", map[string]any{"url": wsURL, "bidirectional": true}, 422)
	p := <-peers
	frames := 0
	for frames < 10 {
		m := p.next(t)
		if m.Event == mediastream.EventStart && (m.StreamID != sid || m.Start.CustomParameters["via"] != "api") {
			t.Errorf("start %+v, want stream %s", m, sid)
		}
		if m.Event == mediastream.EventMedia {
			frames++
		}
	}
	// The frame counters move while the stream runs, not only when it stops.
	if n := streamMetric(t, st, `minivoice_stream_frames_total{direction="sent"}`); n < 10 {
		t.Errorf("frames sent on /metrics while the stream runs: %v, want at least the 10 received", n)
	}
	st.Do(t, "DELETE", "/v1/calls/"+callID+"/streams/"+sid, nil, 200)
	for {
		m := p.next(t)
		if m.Event == mediastream.EventStop {
			if m.Stop.Reason != "stopped" {
				t.Errorf("stop %+v", m.Stop)
			}
			break
		}
	}
	st.Do(t, "DELETE", "/v1/calls/"+callID+"/streams/"+sid, nil, 404)
	st.Do(t, "POST", "/v1/calls/"+callID+"/hangup", nil, 200)
	wait(t)
	st.WaitCall(t, callID)
	if s := stacktest.Event(st.Events(t, callID), "stream.stopped"); s == nil || s["reason"] != "stopped" {
		t.Errorf("stream.stopped %v", s)
	}
	body := metricsText(t, st)
	for _, want := range []string{`minivoice_streams_stopped_total{reason="stopped"} 1`, "minivoice_streams_active 0", `minivoice_stream_frames_total{direction="sent"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}

// metricsText is the platform's /metrics page.
func metricsText(t *testing.T, st *stacktest.Stack) string {
	t.Helper()
	req, _ := http.NewRequest("GET", st.API+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+st.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// streamMetric is one sample's value on /metrics (-1 when it is absent).
func streamMetric(t *testing.T, st *stacktest.Stack, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(metricsText(t, st), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
