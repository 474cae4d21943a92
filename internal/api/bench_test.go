package api_test

// Benchmarks of the hot API paths, per backend (PostgreSQL when
// MINIVOICE_TEST_DATABASE_URL is set). Each has two modes:
//
//   - http: real HTTP on loopback through httptest, requests from b.RunParallel
//     goroutines, so ns/op is the inverse of throughput with client and server
//     sharing the CPUs;
//   - handler: api.Server.ServeHTTP called directly with a recorder, one request
//     at a time, so ns/op and a -cpuprofile show the server's own cost.
//
//	go test -run '^$' -bench . -benchmem ./internal/api/
//	go test -run '^$' -bench 'GetCall/sqlite/operator/handler' -cpuprofile /tmp/cpu.out ./internal/api/
//
// There are no timing assertions here: bench/run.sh and docs/benchmarks.md
// hold the numbers.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/store/storetest"
)

// benchServer is an API over a real database for benchmarks.
type benchServer struct {
	tb     testing.TB
	srv    *api.Server
	url    string
	client *http.Client
}

func startBenchServer(tb testing.TB, backend string) *benchServer {
	tb.Helper()
	db := storetest.Open(tb, backend, nil)
	srv := api.New(api.Config{
		Store:            db,
		Auth:             auth.New(auth.Config{Store: db, OperatorKey: testOperatorKey}),
		AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Version:          "bench",
	})
	ts := httptest.NewServer(srv)
	tb.Cleanup(ts.Close)
	tr := &http.Transport{MaxIdleConns: 100, MaxIdleConnsPerHost: 100}
	tb.Cleanup(tr.CloseIdleConnections)
	return &benchServer{tb: tb, srv: srv, url: ts.URL, client: &http.Client{Transport: tr}}
}

func benchRequest(method, url, key, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// do sends a request over HTTP and returns the status and body.
func (s *benchServer) do(method, path, key, body string) (int, []byte, error) {
	resp, err := s.client.Do(benchRequest(method, s.url+path, key, body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// create POSTs a fixture that must answer 201 and returns a field of the answer.
func (s *benchServer) create(path, key string, body any, field string) string {
	s.tb.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		s.tb.Fatal(err)
	}
	status, raw, err := s.do("POST", path, key, string(j))
	if err != nil || status != http.StatusCreated {
		s.tb.Fatalf("POST %s: %d %v\n%s", path, status, err, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		s.tb.Fatal(err)
	}
	v, _ := m[field].(string)
	return v
}

// benchFixtures is a customer with an application, queued calls and a customer key.
type benchFixtures struct {
	customerKey string
	calls       []string
}

func (s *benchServer) fixtures(calls int) benchFixtures {
	s.tb.Helper()
	op := testOperatorKey
	cust := s.create("/v1/customers", op, map[string]any{"name": "bench"}, "id")
	app := s.create("/v1/applications", op, map[string]any{"customer_id": cust, "name": "a", "answer_url": "https://example.com/a"}, "id")
	f := benchFixtures{customerKey: s.create("/v1/customers/"+cust+"/keys", op, map[string]any{}, "key")}
	for range calls {
		f.calls = append(f.calls, s.create("/v1/calls", op,
			map[string]any{"to": "+15551230002", "from": "+15551230001", "application_id": app}, "id"))
	}
	return f
}

// runHTTP runs one request per iteration over HTTP from parallel goroutines;
// req(i) gives the i-th request's method, path and body.
func (s *benchServer) runHTTP(b *testing.B, key string, want int, req func(i int) (string, string, string)) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			method, path, body := req(i)
			i++
			status, raw, err := s.do(method, path, key, body)
			if err != nil || status != want {
				b.Errorf("%s %s: %d %v\n%s", method, path, status, err, raw)
				return
			}
		}
	})
}

// runHandler runs one request per iteration through ServeHTTP, serially.
func (s *benchServer) runHandler(b *testing.B, key string, want int, req func(i int) (string, string, string)) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		method, path, body := req(i)
		i++
		w := httptest.NewRecorder()
		s.srv.ServeHTTP(w, benchRequest(method, "http://bench"+path, key, body))
		if w.Code != want {
			b.Fatalf("%s %s: %d\n%s", method, path, w.Code, w.Body.Bytes())
		}
	}
}

func benchModes(b *testing.B, s *benchServer, key string, want int, req func(i int) (string, string, string)) {
	b.Run("http", func(b *testing.B) { s.runHTTP(b, key, want, req) })
	b.Run("handler", func(b *testing.B) { s.runHandler(b, key, want, req) })
}

// BenchmarkGetCall reads queued calls round-robin with the operator key and
// with a customer key (which costs a key and a customer lookup per request).
func BenchmarkGetCall(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend, func(b *testing.B) {
			s := startBenchServer(b, backend)
			f := s.fixtures(100)
			get := func(i int) (string, string, string) { return "GET", "/v1/calls/" + f.calls[i%len(f.calls)], "" }
			b.Run("operator", func(b *testing.B) { benchModes(b, s, testOperatorKey, http.StatusOK, get) })
			b.Run("customer_key", func(b *testing.B) { benchModes(b, s, f.customerKey, http.StatusOK, get) })
		})
	}
}

// BenchmarkCreateCustomer creates customers with the operator key.
func BenchmarkCreateCustomer(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend, func(b *testing.B) {
			s := startBenchServer(b, backend)
			post := func(int) (string, string, string) { return "POST", "/v1/customers", `{"name":"bench customer"}` }
			benchModes(b, s, testOperatorKey, http.StatusCreated, post)
		})
	}
}
