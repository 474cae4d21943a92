package wer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/minivoice/minivoice/bench/internal/apiclient"
	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/sim"
)

// adminKey is the operator key of the benchmark's throw-away platform.
const adminKey = "mvk_op_asr_wer_benchmark_key_00000"

// did is the number the simulated callers dial; its application answers
// with a `record` action, so the platform records the caller alone.
const did = "+15551230400"

// recordAnswer is the application's answer: record the caller (mono, no
// beep) until they hang up. silence_timeout is long enough that the pauses
// inside a sentence never end the recording early; max_length bounds a call
// that goes wrong.
const recordAnswer = `[{"action":"record","beep":false,"silence_timeout":20,"max_length":60,"channels":"mono"}]`

// Timeouts of one call and of its recording's completion.
const (
	callTimeout      = 60 * time.Second
	recordingTimeout = 30 * time.Second
)

// stack is a platform, a simulator offering one codec, and the
// application server answering the DID, all on 127.0.0.1, in this process.
//
// It is started the way internal/stacktest starts its Stack rather than
// through stacktest itself: stacktest needs a testing.TB (it reports every
// failure with t.Fatal, which a main package cannot provide cleanly) and has
// no way to restrict the simulator's codecs, which is the point here.
type stack struct {
	// answer, when set, gives the application's action list for a call
	// from the given number (dialogue mode); else recordAnswer.
	answer    func(from string) string
	recordAll bool // the application records whole calls (record_by_default)
	api       string
	plat      *platform.Platform
	sim       *sim.Sim
	app       *httptest.Server
	dir       string
	client    *http.Client
}

// startStack starts the platform, the simulator (offering only codec and
// speaking with voice, through the flite engine speaker) and the application,
// which answers every call with a record action.
func startStack(ctx context.Context, codec, voice string, speaker sim.Speaker, log *slog.Logger) (*stack, error) {
	return startStackWith(ctx, &stack{}, codec, voice, speaker, log)
}

// startStackWith is startStack for a stack whose answer and recordAll are
// already set.
func startStackWith(ctx context.Context, st *stack, codec, voice string, speaker sim.Speaker, log *slog.Logger) (_ *stack, err error) {
	dir, err := os.MkdirTemp("", "minivoice-asr-wer-")
	if err != nil {
		return nil, err
	}
	st.dir, st.client = dir, &http.Client{Timeout: 30 * time.Second}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	st.app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/json")
		if st.answer == nil {
			_, _ = io.WriteString(w, recordAnswer)
			return
		}
		var req struct {
			Call struct {
				From string `json:"from"`
			} `json:"call"`
		}
		_ = json.Unmarshal(body, &req)
		_, _ = io.WriteString(w, st.answer(req.Call.From))
	}))
	sc := &config.Serve{Data: filepath.Join(dir, "data"), HTTP: "127.0.0.1:0", SIP: "127.0.0.1:0",
		AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, DrainTimeout: 5 * time.Second,
		WebhookRetrySchedule: []time.Duration{time.Second}}
	st.plat, err = platform.Start(ctx, platform.Config{Serve: sc, AdminKey: adminKey, Version: "asr-wer", Logger: log})
	if err != nil {
		return nil, fmt.Errorf("start platform: %w", err)
	}
	st.api = "http://" + st.plat.HTTPAddr
	st.sim, err = sim.New(sim.Config{Listen: "127.0.0.1:0", RecordDir: filepath.Join(dir, "sim"), Speaker: speaker,
		Voice: voice, Codecs: []string{codec}, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	st.sim.Serve()
	return st, st.provision(ctx)
}

// provision creates, through the API, what an operator would: a customer
// with credit and an inbound rate, its application, an inbound trunk
// trusting loopback (the simulator) and the DID routed to the application.
func (st *stack) provision(ctx context.Context) error {
	var cust, app map[string]any
	if err := st.do(ctx, "POST", "/v1/customers", map[string]any{"name": "asr-wer", "max_concurrent_calls": 100,
		"max_cps": 100}, 201, &cust); err != nil {
		return err
	}
	id := str(cust["id"])
	steps := []struct {
		path string
		body map[string]any
		out  *map[string]any
	}{
		{"/v1/customers/" + id + "/credits", map[string]any{"amount": "100.00", "description": "asr-wer"}, nil},
		{"/v1/rates", map[string]any{"customer_id": id, "direction": "inbound", "prefix": "", "price_per_minute": "0.01",
			"initial_increment": 1, "subsequent_increment": 1}, nil},
		{"/v1/applications", map[string]any{"customer_id": id, "name": "voicemail", "answer_url": st.app.URL + "/answer",
			"record_by_default": st.recordAll}, &app},
		{"/v1/trunks", map[string]any{"name": "simulator-in", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1/32"},
			"max_cps": 100}, nil},
	}
	for _, s := range steps {
		var out any
		if s.out != nil {
			out = s.out
		}
		if err := st.do(ctx, "POST", s.path, s.body, 201, out); err != nil {
			return err
		}
	}
	return st.do(ctx, "POST", "/v1/numbers", map[string]any{"number": did, "customer_id": id,
		"application_id": str(app["id"])}, 201, nil)
}

// close stops everything and removes the temporary directory.
func (st *stack) close() {
	if st.sim != nil {
		_ = st.sim.Close()
	}
	if st.plat != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st.plat.Drain(ctx)
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		_ = st.plat.Shutdown(ctx)
		cancel()
	}
	if st.app != nil {
		st.app.Close()
	}
	st.client.CloseIdleConnections()
	_ = os.RemoveAll(st.dir)
}

// recordSentence has the simulator call the DID from the number from, wait
// lead seconds, say text and hang up, then waits for the platform's
// recording of the caller and returns its channel and the negotiated codec.
func (st *stack) recordSentence(ctx context.Context, from, text string, lead int) (*media.PCM, string, error) {
	// The first second before speaking lets the record action start; the
	// rest is the silence a caller keeps while a greeting plays. The one after
	// lets the last word's packets arrive before BYE.
	return st.recordCall(ctx, from, []string{fmt.Sprintf("wait %d", lead), "say " + text, "wait 1", "hangup"})
}

// recordCall has the simulator call the DID from the number from and run
// script, then waits for the call's one recording and returns its first
// channel (the caller) and the negotiated codec.
func (st *stack) recordCall(ctx context.Context, from string, script []string) (*media.PCM, string, error) {
	rep, err := st.sim.Call(ctx, sim.CallOptions{Platform: st.plat.SIP.Addr().String(), From: from, To: did,
		Script: script, MaxDuration: callTimeout})
	if err != nil {
		return nil, "", fmt.Errorf("call from %s: %w", from, err)
	}
	if !rep.Answered {
		return nil, rep.Codec, fmt.Errorf("call from %s not answered: SIP %d %s %s", from, rep.SIPStatus, rep.SIPReason, rep.Err)
	}
	call, err := st.waitCall(ctx, from)
	if err != nil {
		return nil, rep.Codec, err
	}
	ids, _ := call["recording_ids"].([]any)
	if len(ids) != 1 {
		return nil, rep.Codec, fmt.Errorf("call %s has recordings %v, want one", str(call["id"]), call["recording_ids"])
	}
	recID := str(ids[0])
	deadline := time.Now().Add(recordingTimeout)
	for {
		var rec map[string]any
		if err := st.do(ctx, "GET", "/v1/recordings/"+url.PathEscape(recID), nil, 200, &rec); err != nil {
			return nil, rep.Codec, err
		}
		if s := rec["status"]; s == "completed" {
			break
		} else if s != "in-progress" {
			return nil, rep.Codec, fmt.Errorf("recording %s: %v", recID, rec)
		}
		if time.Now().After(deadline) {
			return nil, rep.Codec, fmt.Errorf("recording %s still in progress after %v", recID, recordingTimeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, rep.Codec, err
		}
	}
	pcm, err := st.media(ctx, recID)
	return pcm, rep.Codec, err
}

// waitCall finds the inbound call from the number from and waits until it
// has ended.
func (st *stack) waitCall(ctx context.Context, from string) (map[string]any, error) {
	deadline := time.Now().Add(callTimeout)
	for {
		var page struct {
			Data []map[string]any `json:"data"`
		}
		if err := st.do(ctx, "GET", "/v1/calls?direction=inbound&limit=200", nil, 200, &page); err != nil {
			return nil, err
		}
		for _, c := range page.Data {
			if c["from"] == from {
				switch c["status"] {
				case "completed", "busy", "no-answer", "failed", "canceled":
					return c, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the call from %s has not ended after %v", from, callTimeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// media downloads a recording's WAV through the API (GET
// /v1/recordings/{id}/media) and returns its first channel: the caller.
func (st *stack) media(ctx context.Context, id string) (*media.PCM, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", st.api+"/v1/recordings/"+url.PathEscape(id)+"/media", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := st.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/wav" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("recording %s media: %d %s: %s", id, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	chans, err := media.ReadWAVChannels(resp.Body, 64<<20)
	if err != nil {
		return nil, fmt.Errorf("recording %s media: %w", id, err)
	}
	if len(chans) == 0 {
		return nil, fmt.Errorf("recording %s has no channel", id)
	}
	return chans[0], nil
}

// do sends an API request with the operator key and decodes the answer
// into out (when not nil), failing unless the status is want.
func (st *stack) do(ctx context.Context, method, path string, body any, want int, out any) error {
	return apiclient.Do(ctx, st.client, st.api, adminKey, method, path, body, want, out)
}

// str is a JSON string field; "" for anything else.
func str(v any) string { return apiclient.Str(v) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error { return apiclient.Sleep(ctx, d) }

// errNoSentences is returned by Run for an empty sentence list.
var errNoSentences = errors.New("wer: no sentences")
