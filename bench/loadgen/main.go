// Command loadgen is a small open-loop HTTP load generator, the fallback of
// bench/run.sh when vegeta cannot be installed. It sends requests at a fixed
// rate whatever the server's answers take (each request in its own goroutine),
// so a slow server shows up as latency instead of as a lower request rate, and
// measures each latency from the request's scheduled send time, so time spent
// waiting behind the generator itself is counted too (no coordinated omission).
//
//	go run ./bench/loadgen -rate 1000 -duration 10s -H 'Authorization: Bearer KEY' http://127.0.0.1:8080/v1/calls/ID
//
// Several URLs are used round-robin; -targets reads them from a file, one a line.
// -json prints the subset of `vegeta report -type=json` that bench/run.sh reads
// (latencies in nanoseconds).
//
// -smoke (or SMOKE=1 in the environment) is a quick check of the tool: 50
// requests a second for 2 s, against the URLs given or, with none, a
// loopback server of its own; it exits 1 when no request succeeded.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

type result struct {
	latency time.Duration
	status  int
	err     string
}

func main() {
	var hdrs headers
	method := flag.String("method", "GET", "HTTP method")
	rate := flag.Float64("rate", 100, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "how long to send (bounded to 10m)")
	maxRequests := flag.Int("max-requests", 0, "stop after this many requests (0: rate*duration)")
	timeout := flag.Duration("timeout", 5*time.Second, "per-request timeout")
	maxInFlight := flag.Int("max-in-flight", 2000, "requests in flight at most; a request due while this many are pending is counted as an error")
	bodyFile := flag.String("body", "", "file whose content is sent as the body")
	targets := flag.String("targets", "", "file of URLs, one a line, used round-robin (instead of arguments)")
	asJSON := flag.Bool("json", false, "print a JSON summary (vegeta report field names)")
	flag.Var(&hdrs, "H", "request header \"Name: value\" (repeatable)")
	smoke := flag.Bool("smoke", os.Getenv("SMOKE") == "1", "quick check: 50 req/s for 2 s (against its own loopback server when no URL is given); exit 1 if no request succeeded (default true when SMOKE=1)")
	flag.Parse()

	urls := flag.Args()
	if *targets != "" {
		var err error
		if urls, err = readLines(*targets); err != nil {
			fatal(err)
		}
	}
	if *smoke {
		*rate, *duration = 50, 2*time.Second
		if len(urls) == 0 {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			urls = []string{srv.URL + "/smoke"}
		}
	}
	if len(urls) == 0 {
		fatal(errors.New("no URL given"))
	}
	for _, u := range urls {
		if err := loopbackOnly(u); err != nil {
			fatal(err)
		}
	}
	if *rate <= 0 || *duration <= 0 || *duration > 10*time.Minute {
		fatal(errors.New("-rate must be positive and -duration within (0, 10m]"))
	}
	var body []byte
	if *bodyFile != "" {
		var err error
		if body, err = os.ReadFile(*bodyFile); err != nil {
			fatal(err)
		}
	}
	header := http.Header{}
	for _, h := range hdrs {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			fatal(fmt.Errorf("header %q is not Name: value", h))
		}
		header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	n := int(*rate * duration.Seconds())
	if *maxRequests > 0 && *maxRequests < n {
		n = *maxRequests
	}
	if n < 1 {
		n = 1
	}

	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: *timeout}).DialContext,
			MaxIdleConns:        *maxInFlight,
			MaxIdleConnsPerHost: *maxInFlight,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	results := make([]result, n)
	sem := make(chan struct{}, *maxInFlight)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / *rate)
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		select {
		case sem <- struct{}{}:
		default:
			results[i] = result{err: "too many requests in flight"}
			continue
		}
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = send(client, *method, urls[i%len(urls)], header, body, due, *timeout)
		}(i, due)
	}
	sendEnd := time.Now()
	wg.Wait()
	end := time.Now()
	ok := report(results, start, sendEnd, end, *asJSON)
	if *smoke {
		if ok == 0 {
			fmt.Fprintf(os.Stderr, "loadgen smoke: FAIL: none of %d requests succeeded\n", len(results))
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "loadgen smoke: ok, %d of %d requests succeeded\n", ok, len(results))
	}
}

// send makes one request and measures from its scheduled time to the end of its body.
func send(client *http.Client, method, u string, header http.Header, body []byte, due time.Time, timeout time.Duration) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return result{err: err.Error()}
	}
	req.Header = header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return result{latency: time.Since(due), err: err.Error()}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := result{latency: time.Since(due), status: resp.StatusCode}
	if err != nil {
		r.err = err.Error()
	}
	return r
}

type summary struct {
	Latencies struct {
		Total int64 `json:"total"`
		Mean  int64 `json:"mean"`
		P50   int64 `json:"50th"`
		P90   int64 `json:"90th"`
		P95   int64 `json:"95th"`
		P99   int64 `json:"99th"`
		Max   int64 `json:"max"`
		Min   int64 `json:"min"`
	} `json:"latencies"`
	Duration    int64          `json:"duration"`
	Wait        int64          `json:"wait"`
	Requests    int            `json:"requests"`
	Rate        float64        `json:"rate"`
	Throughput  float64        `json:"throughput"`
	Success     float64        `json:"success"`
	StatusCodes map[string]int `json:"status_codes"`
	Errors      []string       `json:"errors"`
}

// report prints the summary and returns the number of successful (2xx/3xx)
// requests.
func report(results []result, start, sendEnd, end time.Time, asJSON bool) int {
	var s summary
	s.Requests = len(results)
	s.Duration = int64(sendEnd.Sub(start))
	s.Wait = int64(end.Sub(sendEnd))
	s.StatusCodes = map[string]int{}
	s.Errors = []string{}
	lat := make([]time.Duration, 0, len(results))
	ok := 0
	errs := map[string]bool{}
	for _, r := range results {
		s.StatusCodes[strconv.Itoa(r.status)]++
		if r.err != "" {
			errs[r.err] = true
		} else if r.status >= 200 && r.status < 400 {
			ok++
		}
		if r.latency > 0 {
			lat = append(lat, r.latency)
		}
	}
	for e := range errs {
		s.Errors = append(s.Errors, e)
	}
	slices.Sort(s.Errors)
	slices.Sort(lat)
	if len(lat) > 0 {
		var total time.Duration
		for _, l := range lat {
			total += l
		}
		s.Latencies.Total = int64(total)
		s.Latencies.Mean = int64(total / time.Duration(len(lat)))
		s.Latencies.Min = int64(lat[0])
		s.Latencies.Max = int64(lat[len(lat)-1])
		s.Latencies.P50 = int64(quantile(lat, 0.50))
		s.Latencies.P90 = int64(quantile(lat, 0.90))
		s.Latencies.P95 = int64(quantile(lat, 0.95))
		s.Latencies.P99 = int64(quantile(lat, 0.99))
	}
	if d := sendEnd.Sub(start).Seconds(); d > 0 {
		s.Rate = float64(len(results)) / d
	}
	if d := end.Sub(start).Seconds(); d > 0 {
		s.Throughput = float64(ok) / d
	}
	s.Success = float64(ok) / float64(len(results))
	if asJSON {
		b, _ := json.Marshal(s)
		fmt.Println(string(b))
		return ok
	}
	fmt.Printf("requests    %d (rate %.1f/s, throughput %.1f/s, success %.2f%%)\n", s.Requests, s.Rate, s.Throughput, 100*s.Success)
	fmt.Printf("latency     p50 %v  p90 %v  p99 %v  max %v\n", time.Duration(s.Latencies.P50), time.Duration(s.Latencies.P90),
		time.Duration(s.Latencies.P99), time.Duration(s.Latencies.Max))
	fmt.Printf("status      %v\n", s.StatusCodes)
	for _, e := range s.Errors {
		fmt.Printf("error       %s\n", e)
	}
	return ok
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// loopbackOnly refuses URLs that are not on a loopback address: this tool is
// for benchmarking a local server, not for loading anything else.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s: only loopback targets are allowed", raw)
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(2)
}
