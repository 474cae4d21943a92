// Command postanswer measures the post-answer delay of inbound calls
// (issue 17): how long after the 200 OK a caller hears the first audible
// frame of the application's first prompt. It drives a running
// `minivoice serve`, playing every party but the platform:
//
//   - the application: an HTTP answer_url answering
//     [{"action":"say","text":"Hello"},{"action":"hangup"}], the same answer
//     bench/sip-load.sh's rate runs use, so the calls match that benchmark's;
//   - the phone network: a simulator (internal/sim) places the calls and
//     timestamps, per call, the 200 OK and the first RTP frame above -40 dBFS
//     it hears (sim.CallReport.FirstAudio), and the first RTP packet of any
//     kind (FirstPacket).
//
// The platform fetches answer_url on the INVITE and sends 200 OK once it has
// the actions, so the delay from the 200 OK holds the TTS render or prompt
// cache hit, the start of the media and the media clock's first tick, and
// the prompt's own lead-in (flite's "Hello" starts with about 240 ms below
// -40 dBFS); the delay from the INVITE (invite_to_audio) adds the answer_url
// fetch from the local app. On loopback the network adds nothing. One
// warm-up call (not counted) renders "Hello" into the platform's prompt cache
// first; its delay is reported apart as the cold one.
//
// The calls run in two phases: -calls one after the other, then
// -concurrent-calls with -concurrency of them up at a time. Each phase
// reports p50, p99 and max of the delay and the achieved call rate
// (completed calls over the phase's wall time).
//
// -smoke (or SMOKE=1 in the environment) is a quick check: 5 sequential
// calls, exit 1 unless every call heard its prompt.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minivoice/minivoice/bench/internal/apiclient"
	"github.com/minivoice/minivoice/internal/sim"
)

const (
	callerPrefix = "+1778"
	did          = "+15551239901"
)

// answer is the application's answer to every call: bench/sip-load.sh's.
const answer = `[{"action":"say","text":"Hello"},{"action":"hangup"}]`

type options struct {
	api, key, sipAddr string
	calls             int // sequential phase
	concCalls         int // concurrent phase
	concurrency       int
	codec             string
	jsonOut           string
	smoke             bool
}

// phase is one phase's outcome (-json).
type phase struct {
	Name        string  `json:"name"`
	Calls       int     `json:"calls"`
	Concurrency int     `json:"concurrency"`
	Answered    int     `json:"answered"`
	Heard       int     `json:"heard_prompt"` // calls with an audible frame
	Errors      int     `json:"errors"`
	WallSeconds float64 `json:"wall_s"`
	CallsPerSec float64 `json:"calls_per_s"` // answered calls over the wall time
	AudioP50    float64 `json:"first_audio_p50_ms"`
	AudioP99    float64 `json:"first_audio_p99_ms"`
	AudioMax    float64 `json:"first_audio_max_ms"`
	PacketP50   float64 `json:"first_packet_p50_ms"` // first RTP packet of any kind
	SetupP50    float64 `json:"setup_p50_ms"`        // INVITE sent to 200 OK received: answer_url fetched
	SetupP99    float64 `json:"setup_p99_ms"`
	InviteP50   float64 `json:"invite_to_audio_p50_ms"` // INVITE sent to first audible frame
	InviteP99   float64 `json:"invite_to_audio_p99_ms"`
}

// result is the benchmark's outcome (-json).
type result struct {
	ColdFirstAudio float64  `json:"cold_first_audio_ms"` // the warm-up call
	AnswerFetches  int64    `json:"answer_url_fetches"`
	Phases         []*phase `json:"phases"`
}

func main() {
	var o options
	flag.StringVar(&o.api, "api", "http://127.0.0.1:8080", "the platform's API")
	flag.StringVar(&o.key, "key", os.Getenv("MINIVOICE_ADMIN_KEY"), "operator key")
	flag.StringVar(&o.sipAddr, "sip", "127.0.0.1:5060", "the platform's SIP address")
	flag.IntVar(&o.calls, "calls", 50, "calls placed one after the other")
	flag.IntVar(&o.concCalls, "concurrent-calls", 100, "calls placed -concurrency at a time, after the sequential ones")
	flag.IntVar(&o.concurrency, "concurrency", 10, "calls up at once in the concurrent phase")
	flag.StringVar(&o.codec, "codec", "PCMU", "the callers' codec: PCMU, PCMA or G722")
	flag.StringVar(&o.jsonOut, "json", "", "write the result as JSON here")
	flag.BoolVar(&o.smoke, "smoke", os.Getenv("SMOKE") == "1", "a quick check: 5 sequential calls")
	flag.Parse()
	if o.smoke {
		o.calls, o.concCalls = 5, 0
	}
	if o.concurrency < 1 {
		o.concurrency = 1
	}
	// Each call lasts about 2 s (the prompt, then the platform hangs up).
	limit := time.Duration(o.calls+1+o.concCalls/o.concurrency+1)*10*time.Second + time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	res, err := run(ctx, o)
	if err != nil {
		log.Fatal(err)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(b))
	if o.jsonOut != "" {
		_ = os.WriteFile(o.jsonOut, b, 0o644)
	}
	fmt.Println("| phase | calls | concurrency | heard | calls/s | 200 OK to audio p50 ms | p99 ms | max ms | first packet p50 ms | setup p50 ms | INVITE to audio p50 ms | p99 ms |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	failed := false
	for _, p := range res.Phases {
		fmt.Printf("| %s | %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", p.Name, p.Calls, p.Concurrency, p.Heard,
			p.CallsPerSec, p.AudioP50, p.AudioP99, p.AudioMax, p.PacketP50, p.SetupP50, p.InviteP50, p.InviteP99)
		if p.Heard < p.Calls {
			log.Printf("%s: only %d of %d calls heard their prompt", p.Name, p.Heard, p.Calls)
			failed = true
		}
	}
	if failed && o.smoke {
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (*result, error) {
	res := &result{}
	var fetches atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /answer", func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	if err := apiclient.ProvisionInbound(ctx, http.DefaultClient, o.api, o.key, "postanswer-bench", did, "http://"+ln.Addr().String()+"/answer"); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	recDir, err := os.MkdirTemp("", "postanswer-bench-")
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

	var n atomic.Int64
	call := func() (sim.CallReport, error) {
		i := n.Add(1)
		// The platform hangs up after "Hello"; MaxDuration only bounds a
		// call that went wrong.
		return callers.Call(ctx, sim.CallOptions{Platform: o.sipAddr, From: fmt.Sprintf("%s%07d", callerPrefix, i), To: did,
			MaxDuration: 20 * time.Second})
	}
	warm, err := call()
	if err != nil {
		return nil, fmt.Errorf("warm-up call: %w", err)
	}
	if !warm.Answered {
		return nil, fmt.Errorf("warm-up call not answered: %d %s %s", warm.SIPStatus, warm.SIPReason, warm.Err)
	}
	res.ColdFirstAudio = ms(warm.FirstAudio)

	if o.calls > 0 {
		res.Phases = append(res.Phases, runPhase("sequential", o.calls, 1, call))
	}
	if o.concCalls > 0 {
		res.Phases = append(res.Phases, runPhase("concurrent", o.concCalls, o.concurrency, call))
	}
	res.AnswerFetches = fetches.Load()
	return res, ctx.Err()
}

// runPhase places calls, conc at a time, and summarises them.
func runPhase(name string, calls, conc int, call func() (sim.CallReport, error)) *phase {
	reports := make([]sim.CallReport, calls)
	errs := make([]error, calls)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= calls {
					return
				}
				reports[i], errs[i] = call()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)

	p := &phase{Name: name, Calls: calls, Concurrency: conc, WallSeconds: wall.Seconds()}
	var audio, packet, setupT, invite []time.Duration
	for i, r := range reports {
		if errs[i] != nil {
			p.Errors++
			log.Printf("%s call %d: %v", name, i, errs[i])
		}
		if !r.Answered {
			continue
		}
		p.Answered++
		setupT = append(setupT, r.AnsweredAt.Sub(r.StartedAt))
		if r.FirstPacket > 0 {
			packet = append(packet, r.FirstPacket)
		}
		if r.FirstAudio > 0 {
			p.Heard++
			audio = append(audio, r.FirstAudio)
			invite = append(invite, r.AnsweredAt.Sub(r.StartedAt)+r.FirstAudio)
		}
	}
	p.CallsPerSec = float64(p.Answered) / wall.Seconds()
	p.AudioP50, p.AudioP99, p.AudioMax = quantile(audio, 0.50), quantile(audio, 0.99), quantile(audio, 1)
	p.PacketP50 = quantile(packet, 0.50)
	p.SetupP50, p.SetupP99 = quantile(setupT, 0.50), quantile(setupT, 0.99)
	p.InviteP50, p.InviteP99 = quantile(invite, 0.50), quantile(invite, 0.99)
	return p
}

// quantile is the nearest-rank q quantile of ds in milliseconds (0 when
// empty); it sorts ds.
func quantile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ms(ds[max(0, min(len(ds)-1, int(math.Ceil(q*float64(len(ds))))-1))])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
