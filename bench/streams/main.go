// Command streams is a load test of two-way media streams (docs/streams.md):
// it drives a running `minivoice serve` with N concurrent inbound calls whose
// application connects each to a bidirectional stream, and echoes every
// inbound frame straight back, so the caller hears itself.
//
// The program plays every party but the platform:
//
//   - the application: an HTTP answer_url answering
//     [{"action":"stream","url":"ws://.../echo","bidirectional":true,"track":"both"}]
//     and the WebSocket receiver that echoes each inbound media payload;
//   - the phone network: a simulator (internal/sim) places the calls, each
//     sending bursts of tone separated by silence (no Speaker: the simulator's
//     "say" is a 440 Hz tone as long as the text).
//
// Added latency is measured on the platform's own clock, from the stream's
// timestamps: for each tone burst, the timestamp of its first loud inbound
// frame (when its RTP packet reached the platform) and of the first loud
// outbound frame after it (when the echo went out as RTP to the caller).
// The difference is what the platform adds: receiving, decoding, the
// WebSocket both ways (and this receiver), queueing and the send clock.
// Frames dropped are the gaps in each track's chunk numbers plus
// stream.stopped's frames_dropped; CPU and memory per stream come from
// /proc/PID of the server (-pid) over the hold, divided by the streams up.
//
// -smoke (or SMOKE=1 in the environment) is a quick check: 2 calls held 6 s,
// exit 1 unless every call had its tone echoed back.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/minivoice/minivoice/bench/internal/apiclient"
	"github.com/minivoice/minivoice/bench/internal/cpuprofile"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/mediastream"
	"github.com/minivoice/minivoice/internal/sim"
)

const (
	callerPrefix = "+1777"
	did          = "+15551239900"
	// burst is what the simulator "says": 70 ms a character of tone, so
	// 14 characters are about a second.
	burst = "tone tone tone"
)

type options struct {
	api, key, sipAddr string
	pid               int
	calls             int
	ramp, hold        time.Duration
	codec             string
	jsonOut           string
	cpuProfile        string
	smoke             bool
}

// streamStats is what one stream's receiver saw.
type streamStats struct {
	latencies []time.Duration
	gaps      int64 // missing chunk numbers, both tracks
	frames    int64 // media messages received
	echoed    int64 // media messages sent back
}

// result is the benchmark's outcome (-json).
type result struct {
	Calls      int     `json:"calls"`
	Streams    int     `json:"streams"`         // streams that started
	Echoed     int     `json:"echoed"`          // streams whose tone came back at least once
	Samples    int     `json:"latency_samples"` // tone bursts measured
	LatencyP50 float64 `json:"latency_p50_ms"`
	LatencyP99 float64 `json:"latency_p99_ms"`
	LatencyMax float64 `json:"latency_max_ms"`
	// Early and late: the p50 over each stream's first three tone bursts
	// and over its last three, so a delay that builds up shows.
	LatencyP50Early float64 `json:"latency_p50_first_bursts_ms"`
	LatencyP50Late  float64 `json:"latency_p50_last_bursts_ms"`
	// From the server's /metrics: frames dropped by full queues and
	// silent frames skipped to catch up (docs/streams.md).
	ServerDropped float64 `json:"server_frames_dropped"`
	ServerTrimmed float64 `json:"server_frames_trimmed"`
	FramesIn      int64   `json:"frames_received"` // media messages the receiver got
	FramesGaps    int64   `json:"frames_missing"`  // chunk gaps seen by the receiver
	CPUPerStream  float64 `json:"cpu_per_stream_pct"`
	RSSPerStreamK float64 `json:"rss_per_stream_kib"`
	ServerCPU     float64 `json:"server_cpu_pct"`
	ServerRSSMiB  float64 `json:"server_rss_mib"`
	CallerHeard   int     `json:"callers_heard_echo"` // callers whose recording had sound
}

func main() {
	var o options
	flag.StringVar(&o.api, "api", "http://127.0.0.1:8080", "the platform's API")
	flag.StringVar(&o.key, "key", os.Getenv("MINIVOICE_ADMIN_KEY"), "operator key")
	flag.StringVar(&o.sipAddr, "sip", "127.0.0.1:5060", "the platform's SIP address")
	flag.IntVar(&o.pid, "pid", 0, "the server's process id, for its CPU and memory")
	flag.IntVar(&o.calls, "calls", 200, "concurrent calls, each with a two-way stream")
	flag.DurationVar(&o.ramp, "ramp", 20*time.Second, "time over which the calls start")
	flag.DurationVar(&o.hold, "hold", 30*time.Second, "how long all calls are held up together")
	flag.StringVar(&o.codec, "codec", "PCMU", "the callers' codec: PCMU, PCMA or G722")
	flag.StringVar(&o.jsonOut, "json", "", "write the result as JSON here")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write this process's (the callers' and the receiver's) CPU profile here")
	flag.BoolVar(&o.smoke, "smoke", os.Getenv("SMOKE") == "1", "a quick check: 2 calls held 6 s")
	flag.Parse()
	if o.smoke {
		o.calls, o.ramp, o.hold = 2, time.Second, 6*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.ramp+o.hold+90*time.Second)
	defer cancel()
	stopProfile, err := cpuprofile.Start(o.cpuProfile)
	if err != nil {
		log.Fatal(err)
	}
	res, err := run(ctx, o)
	stopProfile()
	if err != nil {
		log.Fatal(err)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(b))
	if o.jsonOut != "" {
		_ = os.WriteFile(o.jsonOut, b, 0o644)
	}
	if res.Echoed < o.calls || res.Samples == 0 {
		log.Fatalf("only %d of %d streams echoed their tone", res.Echoed, o.calls)
	}
}

// receiver echoes streams and measures them.
type receiver struct {
	mu    sync.Mutex
	stats []*streamStats
}

func (rc *receiver) serveEcho(w http.ResponseWriter, r *http.Request) {
	conn, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	defer conn.Close()
	st := &streamStats{}
	rc.mu.Lock()
	rc.stats = append(rc.stats, st)
	rc.mu.Unlock()
	var codec *mediastream.Codec
	last := map[string]int64{}
	// The onset of a tone burst on each track: loud after at least 10
	// quiet frames.
	quiet := map[string]int{}
	var inOnsets, outOnsets []int64
	for {
		b, _, err := wsutil.ReadClientData(conn)
		if err != nil {
			break
		}
		var m mediastream.Message
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Event {
		case mediastream.EventStart:
			codec, _ = mediastream.NewCodec(m.Start.MediaFormat)
		case mediastream.EventMedia:
			if codec == nil {
				continue
			}
			st.frames++
			tr := m.Media.Track
			if l := last[tr]; l > 0 && m.Media.Chunk > l+1 {
				st.gaps += m.Media.Chunk - l - 1
			}
			last[tr] = m.Media.Chunk
			if tr == mediastream.TrackInbound {
				// Echo first: the measurement must not delay it.
				out, _ := json.Marshal(mediastream.Message{Event: mediastream.EventMedia, Media: &mediastream.Media{Payload: m.Media.Payload}})
				if wsutil.WriteServerText(conn, out) == nil {
					st.echoed++
				}
			}
			pcm, err := codec.DecodePayload(nil, m.Media.Payload)
			if err != nil {
				continue
			}
			if media.DBFS(pcm) > -30 {
				if quiet[tr] >= 10 {
					if tr == mediastream.TrackInbound {
						inOnsets = append(inOnsets, m.Media.Timestamp)
					} else {
						outOnsets = append(outOnsets, m.Media.Timestamp)
					}
				}
				quiet[tr] = 0
			} else {
				quiet[tr]++
			}
		}
	}
	// Pair each inbound onset with the first outbound onset after it.
	j := 0
	for _, in := range inOnsets {
		for j < len(outOnsets) && outOnsets[j] < in {
			j++
		}
		if j == len(outOnsets) {
			break
		}
		if d := outOnsets[j] - in; d < 1000 {
			st.latencies = append(st.latencies, time.Duration(d)*time.Millisecond)
		}
		j++
	}
}

func run(ctx context.Context, o options) (*result, error) {
	rc := &receiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /answer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode([]map[string]any{{"action": "stream", "url": "ws://" + addr + "/echo",
			"bidirectional": true, "track": "both"}})
	})
	mux.HandleFunc("GET /echo", rc.serveEcho)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	if err := apiclient.ProvisionInbound(ctx, http.DefaultClient, o.api, o.key, "streams-bench", did, "http://"+addr+"/answer"); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	recDir, err := os.MkdirTemp("", "streams-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(recDir)
	callers, err := sim.New(sim.Config{Listen: "127.0.0.1:0", RecordDir: recDir, Codecs: []string{o.codec}})
	if err != nil {
		return nil, err
	}
	callers.Serve()
	defer callers.Close()

	// Each caller: a burst of tone every 2 s for the whole call.
	script := []string{"wait 1"}
	for range int((o.ramp+o.hold).Seconds()/2) + 1 {
		script = append(script, "say "+burst, "wait 1")
	}
	rssBase := procStatusKiB(o.pid, "VmRSS")
	var wg sync.WaitGroup
	reports := make([]sim.CallReport, o.calls)
	start := time.Now()
	for i := range o.calls {
		at := start.Add(time.Duration(i) * o.ramp / time.Duration(o.calls))
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(at))
			// Everyone hangs up together, at the end of the hold.
			hangup := time.Until(start.Add(o.ramp + o.hold))
			rep, err := callers.Call(ctx, sim.CallOptions{Platform: o.sipAddr, From: fmt.Sprintf("%s%07d", callerPrefix, i), To: did,
				Script: script, HangupAfter: hangup, MaxDuration: hangup + 10*time.Second})
			if err != nil {
				log.Printf("call %d: %v", i, err)
			}
			reports[i] = rep
		}()
	}
	// The hold: every call is up; measure the server over it.
	_ = apiclient.Sleep(ctx, o.ramp+2*time.Second)
	cpu0, t0 := procCPU(o.pid), time.Now()
	_ = apiclient.Sleep(ctx, o.hold-3*time.Second)
	cpu1, t1 := procCPU(o.pid), time.Now()
	rss1 := procStatusKiB(o.pid, "VmRSS")
	wg.Wait()
	// The receivers finish when the platform closes the sockets.
	time.Sleep(2 * time.Second)

	res := &result{Calls: o.calls}
	var lat, early, late []time.Duration
	rc.mu.Lock()
	for _, st := range rc.stats {
		res.Streams++
		if len(st.latencies) > 0 {
			res.Echoed++
		}
		lat = append(lat, st.latencies...)
		if n := len(st.latencies); n >= 6 {
			early = append(early, st.latencies[:3]...)
			late = append(late, st.latencies[n-3:]...)
		}
		res.FramesIn += st.frames
		res.FramesGaps += st.gaps
	}
	rc.mu.Unlock()
	for _, rep := range reports {
		if rep.HeardActive > 0 {
			res.CallerHeard++
		}
	}
	res.Samples = len(lat)
	if len(lat) > 0 {
		res.LatencyP50, res.LatencyP99, res.LatencyMax = quantile(lat, 0.50), quantile(lat, 0.99), quantile(lat, 1)
	}
	if len(early) > 0 {
		res.LatencyP50Early, res.LatencyP50Late = quantile(early, 0.5), quantile(late, 0.5)
	}
	res.ServerDropped = serverMetric(ctx, o, `minivoice_stream_frames_total{direction="dropped"}`)
	res.ServerTrimmed = serverMetric(ctx, o, `minivoice_stream_frames_total{direction="trimmed"}`)
	if o.pid > 0 && res.Streams > 0 {
		res.ServerCPU = 100 * (cpu1 - cpu0) / t1.Sub(t0).Seconds()
		res.CPUPerStream = res.ServerCPU / float64(o.calls)
		res.ServerRSSMiB = float64(rss1) / 1024
		res.RSSPerStreamK = float64(rss1-rssBase) / float64(o.calls)
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// quantile is the p-quantile of ds in milliseconds (nearest rank); it sorts ds.
func quantile(ds []time.Duration, p float64) float64 {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ms(ds[max(0, min(len(ds)-1, int(math.Ceil(p*float64(len(ds))))-1))])
}

// serverMetric reads one sample from the server's /metrics (0 if absent).
func serverMetric(ctx context.Context, o options, name string) float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.api+"/metrics", nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+o.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// procCPU is utime+stime of a process, in seconds (USER_HZ 100).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

func procStatusKiB(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
