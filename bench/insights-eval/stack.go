package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/minivoice/minivoice/bench/internal/apiclient"
	"github.com/minivoice/minivoice/internal/config"
	"github.com/minivoice/minivoice/internal/platform"
	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/tts"
	"github.com/minivoice/minivoice/internal/voice"
)

// adminKey is the operator key of the benchmark's throw-away platform.
const adminKey = "mvk_op_insights_eval_benchmark_key0"

// did is the application's number: inbound dialogues call it, outbound
// ones call from it.
const did = "+15551230500"

// stack is a platform with the insights pipeline, a simulator that is both
// the far ends and the carrier the platform dials out through, and the
// application answering the DID, all on 127.0.0.1 in this process.
type stack struct {
	api    string
	plat   *platform.Platform
	sim    *sim.Sim
	app    *httptest.Server
	dir    string
	client *http.Client
	appID  string

	mu      sync.Mutex
	answers map[string][]map[string]any // by the caller's number
}

func startStack(ctx context.Context, codec, voiceName string, speaker *tts.Engine, scripts map[string][]string,
	topics []voice.TopicDef, log *slog.Logger) (_ *stack, err error) {
	dir, err := os.MkdirTemp("", "minivoice-insights-eval-")
	if err != nil {
		return nil, err
	}
	st := &stack{dir: dir, client: &http.Client{Timeout: 30 * time.Second}, answers: map[string][]map[string]any{}}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	st.app = httptest.NewServer(http.HandlerFunc(st.answer))
	sc := &config.Serve{Data: filepath.Join(dir, "data"), HTTP: "127.0.0.1:0", SIP: "127.0.0.1:0",
		AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, DrainTimeout: 5 * time.Second,
		WebhookRetrySchedule: []time.Duration{time.Second}}
	sc.Insights.Workers = 1
	st.plat, err = platform.Start(ctx, platform.Config{Serve: sc, AdminKey: adminKey, Version: "insights-eval", Logger: log})
	if err != nil {
		return nil, fmt.Errorf("start platform: %w", err)
	}
	st.api = "http://" + st.plat.HTTPAddr
	st.sim, err = sim.New(sim.Config{Listen: "127.0.0.1:0", RecordDir: filepath.Join(dir, "sim"), Speaker: speaker,
		Voice: voiceName, Codecs: []string{codec}, Scripts: scripts, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	st.sim.Serve()
	return st, st.provision(ctx, topics)
}

// answer is the application's answer_url: the dialogue's actions, picked
// by the caller's number.
func (st *stack) answer(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Call struct {
			From string `json:"from"`
		} `json:"call"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body)
	st.mu.Lock()
	acts, ok := st.answers[body.Call.From]
	st.mu.Unlock()
	if !ok {
		acts = []map[string]any{{"action": "hangup"}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(acts)
}

func (st *stack) setAnswer(from string, acts []map[string]any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.answers[from] = acts
}

// provision creates what an operator and a customer would: a customer
// with credit and rates both ways, the application (recording every call,
// insights on, the set's topics), a trunk in from the simulator, one out to
// it, and the DID.
func (st *stack) provision(ctx context.Context, topics []voice.TopicDef) error {
	var cust, app map[string]any
	if err := st.do(ctx, "POST", "/v1/customers", map[string]any{"name": "insights-eval", "max_concurrent_calls": 100,
		"max_cps": 100}, 201, &cust); err != nil {
		return err
	}
	id := str(cust["id"])
	port := int(st.sim.Addr().Port())
	steps := []struct {
		path string
		body map[string]any
		out  *map[string]any
	}{
		{"/v1/customers/" + id + "/credits", map[string]any{"amount": "100.00", "description": "insights-eval"}, nil},
		{"/v1/rates", map[string]any{"customer_id": id, "direction": "inbound", "prefix": "", "price_per_minute": "0.01"}, nil},
		{"/v1/rates", map[string]any{"customer_id": id, "direction": "outbound", "prefix": "", "price_per_minute": "0.01"}, nil},
		{"/v1/applications", map[string]any{"customer_id": id, "name": "front desk", "answer_url": st.app.URL + "/answer",
			"record_by_default": true, "topics": topics}, &app},
		{"/v1/trunks", map[string]any{"name": "simulator-in", "direction": "inbound", "allowed_cidrs": []string{"127.0.0.1/32"},
			"max_cps": 100}, nil},
		{"/v1/trunks", map[string]any{"name": "simulator-out", "host": "127.0.0.1", "port": port, "customer_id": id}, nil},
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
	st.appID = str(app["id"])
	return st.do(ctx, "POST", "/v1/numbers", map[string]any{"number": did, "customer_id": id,
		"application_id": st.appID}, 201, nil)
}

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

// do sends an API request with the operator key and decodes the answer
// into out (when not nil), failing unless the status is want.
func (st *stack) do(ctx context.Context, method, path string, body any, want int, out any) error {
	return apiclient.Do(ctx, st.client, st.api, adminKey, method, path, body, want, out)
}

// waitEnded polls a call until it has ended.
func (st *stack) waitEnded(ctx context.Context, id string, limit time.Duration) (*voice.Call, error) {
	deadline := time.Now().Add(limit)
	for {
		var c voice.Call
		if err := st.do(ctx, "GET", "/v1/calls/"+url.PathEscape(id), nil, 200, &c); err != nil {
			return nil, err
		}
		if voice.CallEnded(c.Status) {
			return &c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("call %s has not ended after %v", id, limit)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// findInbound returns the id of the inbound call from the number from.
func (st *stack) findInbound(ctx context.Context, from string, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		var page struct {
			Data []voice.Call `json:"data"`
		}
		if err := st.do(ctx, "GET", "/v1/calls?direction=inbound&limit=200&from="+url.QueryEscape(from), nil, 200, &page); err != nil {
			return "", err
		}
		for _, c := range page.Data {
			if c.From == from {
				return c.ID, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no inbound call from %s after %v", from, limit)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// str is a JSON string field; "" for anything else.
func str(v any) string { return apiclient.Str(v) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error { return apiclient.Sleep(ctx, d) }
