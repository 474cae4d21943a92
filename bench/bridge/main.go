// Command bridge is a load test of bridged calls: it drives a running
// `minivoice serve` with N concurrent two-leg calls, each an inbound call to a
// DID whose application dials a callee on the simulator, and checks that
// audio flowed both ways on every call.
//
// The program plays every party but the platform:
//
//   - the application: an HTTP answer_url that answers the inbound call from
//     +1777NNNNNNN with [{"action":"dial","to":"+1666NNNNNNN"}], so each
//     bridged call has its own callee number and both legs can be matched;
//   - the phone network: a simulator (internal/sim) places the inbound calls
//     and runs a script on each ("say" a sentence, wait, repeat);
//   - the carrier: a second simulator answers the platform's outbound INVITEs
//     and runs its own script on each callee number (another sentence, wait,
//     repeat).
//
// It sets the platform up over the REST API (customer with rates and credit,
// application, inbound and outbound trunks, DID), ramps to -calls bridged calls over -ramp, holds
// them for -hold, hangs every caller up, and reports: calls established, calls
// with audio both ways (each leg's simulator heard at least -min-active of
// speech), the platform's CPU and RSS (from /proc/PID, -pid), its RTP send
// jitter and goroutines (from /metrics), this process's own CPU, which is the
// simulators', the whole machine's CPU and CPU pressure, and the platform's
// own call records by status and hangup cause. bench/bridge.sh builds and
// starts the server and runs it; docs/benchmarks.md has results.
//
// -smoke (or SMOKE=1 in the environment) is a quick check: 2 calls, a 2 s
// ramp, 3 s to settle, a 6 s hold, 2 s of speech per leg (each only where
// the flag is not given), and exit 1 unless at least one call had audio
// both ways.
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
	"log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dmedia "github.com/emiago/diago/media"
	"github.com/minivoice/minivoice/bench/internal/cpuprofile"
	"github.com/minivoice/minivoice/internal/sim"
	"github.com/minivoice/minivoice/internal/tts"
)

const (
	callerSentence = "This is the caller, speaking through the bridged call."
	calleeSentence = "Hello, the callee is answering on the other leg."
	callerPrefix   = "+1777"
	calleePrefix   = "+1666"
)

type options struct {
	api, key, sipAddr string
	pid               int
	calls             int
	ramp, hold        time.Duration
	settle            time.Duration
	codec             string
	gap               time.Duration
	minActive         time.Duration
	simPorts          string
	recordDir         string
	did               string
	answerDelay       time.Duration
	jsonOut           string
	cpuProfile        string
	label             string
}

func main() {
	var o options
	flag.StringVar(&o.api, "api", "http://127.0.0.1:8080", "the platform's HTTP API base URL")
	flag.StringVar(&o.key, "key", os.Getenv("MINIVOICE_ADMIN_KEY"), "operator key (default $MINIVOICE_ADMIN_KEY)")
	flag.StringVar(&o.sipAddr, "sip", "127.0.0.1:5060", "the platform's SIP address HOST:PORT")
	flag.IntVar(&o.pid, "pid", 0, "PID of the minivoice serve process, for its CPU and RSS (0: not measured)")
	flag.IntVar(&o.calls, "calls", 250, "concurrent bridged calls (two legs each)")
	flag.DurationVar(&o.ramp, "ramp", 0, "time over which the calls are started (default calls/10 per second, at least 5s)")
	flag.DurationVar(&o.hold, "hold", 30*time.Second, "how long all calls are held up once the ramp is over")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait after the ramp for the last calls to be answered before the hold is measured")
	flag.StringVar(&o.codec, "codec", "G722", "codec the simulators offer and accept: G722, PCMU or PCMA")
	flag.DurationVar(&o.gap, "gap", 2*time.Second, "silence between two sentences of a script")
	flag.DurationVar(&o.minActive, "min-active", 0, "speech a leg must hear for its call to count as audio both ways (default 5s, or hold/3 when shorter)")
	flag.StringVar(&o.simPorts, "sim-rtp-ports", "20000-29999", "RTP port range of the simulators (must not overlap the platform's --rtp-ports)")
	flag.StringVar(&o.recordDir, "record-dir", "", "where the simulators write what they heard (default a temp dir in /dev/shm; each WAV is deleted once measured)")
	flag.StringVar(&o.did, "did", "", "the DID to create (default +1555700 and 4 random digits)")
	flag.DurationVar(&o.answerDelay, "answer-delay", 200*time.Millisecond, "how long a callee rings before it answers")
	flag.StringVar(&o.jsonOut, "json", "", "also write the result as JSON to this file")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write this process's (the simulators') CPU profile here")
	flag.StringVar(&o.label, "label", "", "free text for the result line (e.g. the load average)")
	smoke := flag.Bool("smoke", os.Getenv("SMOKE") == "1", "quick check: 2 calls held 6 s (unless -calls, -ramp, -settle, -hold, -min-active say otherwise); exit 1 unless a call had audio both ways (default true when SMOKE=1)")
	flag.Parse()
	if *smoke {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, apply := range map[string]func(){
			"calls": func() { o.calls = 2 }, "ramp": func() { o.ramp = 2 * time.Second },
			"settle": func() { o.settle = 3 * time.Second }, "hold": func() { o.hold = 6 * time.Second },
			"min-active": func() { o.minActive = 2 * time.Second },
		} {
			if !set[name] {
				apply()
			}
		}
	}
	// sipgo logs through slog's default logger; its INFO lines (late
	// retransmissions at hang-up) would drown the report.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	// slog.SetDefault also routes the log package through that handler, at
	// INFO, which it drops: this program's own lines go to stderr directly.
	log.SetOutput(os.Stderr)
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if o.calls < 1 {
		log.Fatal("-calls must be at least 1")
	}
	if o.ramp <= 0 {
		o.ramp = max(5*time.Second, time.Duration(o.calls)*time.Second/10)
	}
	if o.minActive <= 0 {
		o.minActive = min(5*time.Second, o.hold/3)
	}
	if o.did == "" {
		o.did = fmt.Sprintf("+1555700%04d", time.Now().UnixNano()%10000)
	}
	stopProfile, err := cpuprofile.Start(o.cpuProfile)
	if err != nil {
		log.Fatal(err)
	}
	defer stopProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, o)
	code := 0
	if err != nil {
		log.Printf("bridge: %v", err)
		code = 1
	}
	if res != nil {
		res.print(os.Stdout)
		if o.jsonOut != "" {
			b, _ := json.MarshalIndent(res, "", "  ")
			if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
				log.Printf("bridge: %v", err)
			}
		}
	}
	if *smoke && code == 0 {
		if res == nil || res.BothWays == 0 {
			log.Printf("bridge smoke: FAIL: no call had audio both ways")
			code = 1
		} else {
			log.Printf("bridge smoke: ok, %d of %d calls with audio both ways", res.BothWays, res.Calls)
		}
	}
	if code != 0 {
		stopProfile()
		os.Exit(code)
	}
}

// legResult is what one simulator saw of one leg.
type legResult struct {
	Answered  bool
	Status    int
	Err       string
	Connected time.Duration // answer to end
	Heard     time.Duration // audio packets received (the WAV's length)
	Active    time.Duration // of which speech (above -40 dBFS)
	FullHold  bool          // answered before the hold and still up at its end
	EndedBy   string        // sim.EndedLocal or sim.EndedRemote
	Early     bool          // answered, but ended before the end of the hold
}

type callResult struct {
	Caller, Callee legResult
	PlaceErr       string
}

// Result is the outcome of a run.
type Result struct {
	Label        string         `json:"label"`
	Codec        string         `json:"codec"`
	Calls        int            `json:"calls"`
	RampS        float64        `json:"ramp_s"`
	HoldS        float64        `json:"hold_s"`
	Established  int            `json:"established"`      // both legs answered
	FullHold     int            `json:"full_hold"`        // both legs up through the whole hold
	BothWays     int            `json:"both_ways"`        // established and each leg heard >= min-active speech
	Clean        int            `json:"clean"`            // both legs heard packets for >= 95% of their connected time
	BothWaysPct  float64        `json:"both_ways_pct"`    // of Calls
	MinActiveS   float64        `json:"min_active_s"`     //
	PeakBridged  int            `json:"peak_bridged"`     // most calls with both legs up at one time (1 s samples)
	LiveAtHold   int            `json:"live_at_hold"`     // at the start of the hold
	LiveAtEnd    int            `json:"live_at_end"`      // just before the hang-up
	PlatformCPU  float64        `json:"platform_cpu"`     // % of one core, over the hold
	PlatformRSS  float64        `json:"platform_rss_mib"` // max sampled VmRSS
	PlatformHWM  float64        `json:"platform_hwm_mib"` // VmHWM at the end
	HeapMiB      float64        `json:"heap_inuse_mib"`   // platform, at the end of the hold
	StackMiB     float64        `json:"stack_inuse_mib"`  //
	IdleRSS      float64        `json:"idle_rss_mib"`
	Goroutines   int            `json:"goroutines"`    // max sampled go_goroutines of the platform
	SimCPU       float64        `json:"sim_cpu"`       // this process, % of one core, over the hold
	CPUPressure  float64        `json:"cpu_pressure"`  // /proc/pressure/cpu some, % of the hold
	OtherCPU     float64        `json:"other_cpu"`     // the rest of the machine (other processes, kernel threads), % of one core
	MachineCPU   float64        `json:"machine_cpu"`   // the whole machine's busy time (/proc/stat), % of one core
	SoftIRQ      float64        `json:"softirq_cpu"`   // softirq time of the machine (loopback packets), % of one core
	Others       string         `json:"others"`        // the biggest other processes
	UsPerFrame   float64        `json:"us_per_frame"`  // platform CPU per frame sent (each frame sent is also one received and bridged)
	SentPct      float64        `json:"sent_pct"`      // frames the platform sent over the hold, % of 50/s per live leg
	Frames       float64        `json:"jitter_frames"` // frames the platform sent during the hold
	JitterP50    float64        `json:"jitter_p50_ms"` // interpolated in the histogram bucket
	JitterP99    float64        `json:"jitter_p99_ms"`
	JitterP50Le  string         `json:"jitter_p50_le_ms"` // upper bound of the bucket holding it
	JitterP99Le  string         `json:"jitter_p99_le_ms"`
	JitterMean   float64        `json:"jitter_mean_ms"`
	CallerRecv   float64        `json:"caller_recv_pct"`   // median over established calls: packets heard / connected time
	CalleeRecv   float64        `json:"callee_recv_pct"`   //
	CallerActive float64        `json:"caller_active_s"`   // median speech heard by the caller leg
	CalleeActive float64        `json:"callee_active_s"`   // median speech heard by the callee leg
	CallerActP10 float64        `json:"caller_active_p10"` //
	CalleeActP10 float64        `json:"callee_active_p10"` //
	Connected    float64        `json:"connected_s"`       // median connected time of the caller leg
	Failures     map[string]int `json:"failures"`
	// PlatformCalls counts the platform's call records by leg, status,
	// hangup cause and source.
	PlatformCalls map[string]int `json:"platform_calls"`
	LoadAvg       string         `json:"loadavg"`
}

func run(ctx context.Context, o options) (*Result, error) {
	codec := strings.ToUpper(o.codec)
	rate := 8000
	if codec == "G722" {
		rate = 16000
	}
	lo, hi, err := portRange(o.simPorts)
	if err != nil {
		return nil, err
	}
	// The simulators' media sessions take their ports from this range
	// (diago's package-level setting; this process has nothing else).
	dmedia.RTPPortStart, dmedia.RTPPortEnd = lo, hi

	recDir := o.recordDir
	if recDir == "" {
		base := "/dev/shm"
		if st, err := os.Stat(base); err != nil || !st.IsDir() {
			base = ""
		}
		if recDir, err = os.MkdirTemp(base, "minivoice-bridge-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(recDir)
	}
	ttsDir, err := os.MkdirTemp("", "minivoice-bridge-tts-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(ttsDir)
	speaker, err := tts.New(tts.Config{CacheDir: ttsDir})
	if err != nil {
		return nil, fmt.Errorf("tts (flite): %w", err)
	}
	// Render both sentences once now, so flite does not run during the load.
	durs := map[string]time.Duration{}
	for _, s := range []string{callerSentence, calleeSentence} {
		p, err := speaker.Render(ctx, sim.DefaultVoice, s, rate)
		if err != nil {
			return nil, fmt.Errorf("tts: %w", err)
		}
		durs[s] = time.Duration(len(p.Samples)) * time.Second / time.Duration(p.Rate)
	}
	holdStart := o.ramp + o.settle
	total := holdStart + o.hold
	script := func(first, sentence string) []string {
		steps := []string{first}
		for d := time.Duration(0); d < total+10*time.Second; d += durs[sentence] + o.gap {
			steps = append(steps, "say "+sentence, fmt.Sprintf("wait %.2f", o.gap.Seconds()))
		}
		return steps
	}
	callerScript := script("wait 1", callerSentence)
	calleeScript := script("wait 0.2", calleeSentence)
	log.Printf("sentences: caller %.2fs, callee %.2fs, %s of silence between them; codec %s",
		durs[callerSentence].Seconds(), durs[calleeSentence].Seconds(), o.gap, codec)

	calleeScripts := make(map[string][]string, o.calls)
	for i := range o.calls {
		calleeScripts[number(calleePrefix, i)] = calleeScript
	}
	callers, err := sim.New(sim.Config{Listen: "127.0.0.1:0", RecordDir: recDir, Speaker: speaker, Codecs: []string{codec}})
	if err != nil {
		return nil, err
	}
	callees, err := sim.New(sim.Config{Listen: "127.0.0.1:0", RecordDir: recDir, Speaker: speaker, Codecs: []string{codec},
		Scripts: calleeScripts, AnswerDelay: o.answerDelay})
	if err != nil {
		_ = callers.Close()
		return nil, err
	}
	callers.Serve()
	callees.Serve()
	defer closeBounded(callers, callees)

	ans, err := startAnswer()
	if err != nil {
		return nil, err
	}
	defer ans.Close()
	cust, err := setup(ctx, o, ans.Addr().String(), int(callees.Addr().Port()))
	if err != nil {
		return nil, fmt.Errorf("setup over the API: %w", err)
	}
	log.Printf("platform set up: DID %s, callers at %s, callees at %s", o.did, callers.Addr(), callees.Addr())

	res := &Result{Label: o.label, Codec: codec, Calls: o.calls, RampS: o.ramp.Seconds(), HoldS: o.hold.Seconds(),
		MinActiveS: o.minActive.Seconds(), Failures: map[string]int{}}
	if o.pid > 0 {
		res.IdleRSS = float64(procStatusKiB(o.pid, "VmRSS")) / 1024
	}

	results := make([]callResult, o.calls)
	start := time.Now()
	holdAt := start.Add(holdStart)
	endAt := start.Add(total)
	// Everything is bounded: the calls by endAt, waiting for the callee legs'
	// reports by 10 s after their caller leg ended, and by endAt + 20 s.
	waitCtx, cancelWait := context.WithDeadline(ctx, endAt.Add(20*time.Second))
	defer cancelWait()
	var wg sync.WaitGroup
	wg.Add(1) // the ramp itself, so every Add below happens before Wait can return
	log.Printf("ramping to %d bridged calls over %s, hold %s from %s", o.calls, o.ramp, o.hold, holdAt.Format("15:04:05"))
	go func() {
		defer wg.Done()
		for i := range o.calls {
			at := start.Add(time.Duration(i) * o.ramp / time.Duration(o.calls))
			select {
			case <-time.After(time.Until(at)):
			case <-ctx.Done():
				return
			}
			wg.Add(2)
			calleeCtx, calleeGiveUp := context.WithCancel(waitCtx)
			go func() {
				defer wg.Done()
				defer calleeGiveUp()
				rep, err := callees.WaitCall(calleeCtx, number(calleePrefix, i))
				if err == nil {
					results[i].Callee = leg(rep, holdAt, endAt)
				}
			}()
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithDeadline(ctx, endAt)
				defer cancel()
				rep, err := callers.Call(cctx, sim.CallOptions{Platform: o.sipAddr, From: number(callerPrefix, i), To: o.did,
					Script: callerScript, MaxDuration: total + time.Minute, SetupTimeout: 8 * time.Second})
				if err != nil && !rep.Answered {
					results[i].PlaceErr = err.Error()
				}
				results[i].Caller = leg(rep, holdAt, endAt)
				// The platform hangs the callee leg up right after the caller
				// leg; one that has not ended 10 s later (or never started,
				// the dial having failed) is not waited for any longer.
				time.AfterFunc(10*time.Second, calleeGiveUp)
			}()
		}
	}()

	// Sample once a second until the end of the hold.
	var c0, c1 cpuSnap
	var m0, m1 metrics
	tick := time.NewTicker(time.Second)
	holdSeen, endSeen := false, false
	for !endSeen {
		select {
		case <-ctx.Done():
			endSeen = true
		case now := <-tick.C:
			if o.pid > 0 {
				res.PlatformRSS = max(res.PlatformRSS, float64(procStatusKiB(o.pid, "VmRSS"))/1024)
			}
			live := bridged(callers, callees)
			res.PeakBridged = max(res.PeakBridged, live)
			if now.Unix()%5 == 0 || !holdSeen && now.After(holdAt) {
				if m, err := scrape(o); err == nil {
					res.Goroutines = max(res.Goroutines, int(m.single("go_goroutines")))
				}
			}
			if !holdSeen && !now.Before(holdAt) {
				holdSeen = true
				res.LiveAtHold = live
				c0 = snap(o.pid)
				m0, _ = scrape(o)
				log.Printf("hold: %d of %d calls bridged", live, o.calls)
			} else if !now.Before(endAt.Add(-1500 * time.Millisecond)) {
				endSeen = true
				res.LiveAtEnd = live
				c1 = snap(o.pid)
				m1, _ = scrape(o)
				res.HeapMiB = m1.single("go_memstats_heap_inuse_bytes") / (1 << 20)
				res.StackMiB = m1.single("go_memstats_stack_inuse_bytes") / (1 << 20)
				if m1.single("go_goroutines") > 0 {
					res.Goroutines = max(res.Goroutines, int(m1.single("go_goroutines")))
				}
				log.Printf("end of hold: %d calls bridged; hanging up", live)
			} else if now.Unix()%5 == 0 {
				log.Printf("%d calls bridged", live)
			}
		}
	}
	tick.Stop()
	res.LoadAvg = loadavg()
	if holdSeen && c1.wall.After(c0.wall) {
		wall := c1.wall.Sub(c0.wall).Seconds()
		res.PlatformCPU = 100 * (c1.platform - c0.platform) / wall
		res.SimCPU = 100 * (c1.self - c0.self) / wall
		res.CPUPressure = 100 * (c1.psi - c0.psi) / wall
		res.SoftIRQ = 100 * (c1.softirq - c0.softirq) / wall
		res.MachineCPU = 100 * (c1.busy - c0.busy) / wall
		res.OtherCPU = res.MachineCPU - res.PlatformCPU - res.SimCPU - res.SoftIRQ
		res.Others = others(c0, c1, o.pid)
		jitter(res, m0, m1)
		if res.Frames > 0 {
			res.UsPerFrame = 1e6 * (c1.platform - c0.platform) / res.Frames
		}
		// Every live leg should send 50 frames a second.
		if exp := float64(res.LiveAtHold+res.LiveAtEnd) * 50 * wall; exp > 0 {
			res.SentPct = 100 * res.Frames / exp
		}
	}
	wg.Wait()
	if o.pid > 0 {
		res.PlatformHWM = float64(procStatusKiB(o.pid, "VmHWM")) / 1024
	}
	summarize(res, results, o.minActive)
	// The platform ends its side of each call a moment after the simulators.
	time.Sleep(2 * time.Second)
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	res.PlatformCalls, err = platformCalls(pctx, o, cust)
	pcancel()
	if err != nil {
		log.Printf("bridge: listing the platform's calls: %v", err)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// leg condenses a simulator's report and deletes its recording.
func leg(r sim.CallReport, holdAt, endAt time.Time) legResult {
	if r.HeardPath != "" {
		_ = os.Remove(r.HeardPath)
	}
	return legResult{Answered: r.Answered, Status: r.SIPStatus, Err: r.Err, Connected: r.Duration(), Heard: r.HeardDuration,
		Active:   r.HeardActive,
		FullHold: r.Answered && r.AnsweredAt.Before(holdAt) && !r.EndedAt.Before(endAt.Add(-500*time.Millisecond))}
}

func summarize(res *Result, results []callResult, minActive time.Duration) {
	var cr, er, ca, ea, conn []float64
	for _, c := range results {
		if !(c.Caller.Answered && c.Callee.Answered) {
			why := "not answered"
			switch {
			case c.PlaceErr != "":
				why = "caller: " + trim(c.PlaceErr)
			case c.Caller.Status >= 300:
				why = fmt.Sprintf("caller got %d", c.Caller.Status)
			case c.Caller.Answered && !c.Callee.Answered:
				why = "callee leg not answered"
			case c.Caller.Err != "":
				why = "caller: " + trim(c.Caller.Err)
			}
			res.Failures[why]++
			continue
		}
		res.Established++
		if c.Caller.FullHold && c.Callee.FullHold {
			res.FullHold++
		}
		switch {
		case c.Caller.Early && c.Callee.Early:
			res.Failures["ended before the end of the hold (caller leg ended by "+c.Caller.EndedBy+", callee leg by "+c.Callee.EndedBy+")"]++
		case c.Caller.Early || c.Callee.Early:
			res.Failures["one leg ended before the end of the hold"]++
		}
		if c.Caller.Active >= minActive && c.Callee.Active >= minActive {
			res.BothWays++
		} else {
			res.Failures["audio one way or none"]++
		}
		if c.Caller.Connected > 0 && c.Callee.Connected > 0 &&
			c.Caller.Heard.Seconds() >= .95*c.Caller.Connected.Seconds() && c.Callee.Heard.Seconds() >= .95*c.Callee.Connected.Seconds() {
			res.Clean++
		}
		if c.Caller.Connected > 0 {
			cr = append(cr, 100*c.Caller.Heard.Seconds()/c.Caller.Connected.Seconds())
		}
		if c.Callee.Connected > 0 {
			er = append(er, 100*c.Callee.Heard.Seconds()/c.Callee.Connected.Seconds())
		}
		ca = append(ca, c.Caller.Active.Seconds())
		ea = append(ea, c.Callee.Active.Seconds())
		conn = append(conn, c.Caller.Connected.Seconds())
	}
	res.BothWaysPct = 100 * float64(res.BothWays) / float64(res.Calls)
	res.CallerRecv, res.CalleeRecv = quantile(cr, .5), quantile(er, .5)
	res.CallerActive, res.CalleeActive = quantile(ca, .5), quantile(ea, .5)
	res.CallerActP10, res.CalleeActP10 = quantile(ca, .1), quantile(ea, .1)
	res.Connected = quantile(conn, .5)
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80]
	}
	return s
}

func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[min(len(v)-1, int(q*float64(len(v))))]
}

func (r *Result) print(w io.Writer) {
	fmt.Fprintf(w, "\nbridged calls: %s, %d calls, ramp %.0fs, hold %.0fs (%s)\n", r.Codec, r.Calls, r.RampS, r.HoldS, r.Label)
	fmt.Fprintf(w, "  established (both legs answered):   %d of %d; peak bridged at once %d; at hold start %d, at hold end %d; up through the whole hold %d\n",
		r.Established, r.Calls, r.PeakBridged, r.LiveAtHold, r.LiveAtEnd, r.FullHold)
	fmt.Fprintf(w, "  audio both ways (each leg >= %.0fs): %d (%.1f%%)\n", r.MinActiveS, r.BothWays, r.BothWaysPct)
	fmt.Fprintf(w, "  speech heard, median (p10):         caller leg %.1fs (%.1fs), callee leg %.1fs (%.1fs), of %.1fs connected\n",
		r.CallerActive, r.CallerActP10, r.CalleeActive, r.CalleeActP10, r.Connected)
	fmt.Fprintf(w, "  packets heard / connected, median:  caller leg %.1f%%, callee leg %.1f%%; calls with >= 95%% on both legs: %d\n", r.CallerRecv, r.CalleeRecv, r.Clean)
	fmt.Fprintf(w, "  platform: CPU %.1f%% of one core over the hold, RSS max %.0f MiB (idle %.0f, VmHWM %.0f; Go heap in use %.0f, stacks %.0f at the end of the hold), goroutines max %d\n",
		r.PlatformCPU, r.PlatformRSS, r.IdleRSS, r.PlatformHWM, r.HeapMiB, r.StackMiB, r.Goroutines)
	fmt.Fprintf(w, "  platform frames sent over the hold: %.1f%% of 50/s per leg; platform CPU per frame sent %.1f µs\n", r.SentPct, r.UsPerFrame)
	fmt.Fprintf(w, "  RTP send jitter over the hold: %.0f frames, p50 %.2f ms (<= %s), p99 %.2f ms (<= %s), mean %.2f ms\n",
		r.Frames, r.JitterP50, r.JitterP50Le, r.JitterP99, r.JitterP99Le, r.JitterMean)
	fmt.Fprintf(w, "  simulators (this process): CPU %.1f%% of one core; whole machine busy %.0f%% of %d%% (softirq %.0f%%; other processes: %s); CPU pressure %.0f%% of the hold; load average %s\n",
		r.SimCPU, r.MachineCPU, 100*numCPU(), r.SoftIRQ, r.Others, r.CPUPressure, r.LoadAvg)
	if len(r.Failures) > 0 {
		keys := make([]string, 0, len(r.Failures))
		for k := range r.Failures {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  failed: %d %s\n", r.Failures[k], k)
		}
	}
	if len(r.PlatformCalls) > 0 {
		keys := make([]string, 0, len(r.PlatformCalls))
		for k := range r.PlatformCalls {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  platform's records: %d %s\n", r.PlatformCalls[k], k)
		}
	}
	fmt.Fprintln(w, "| codec | calls | established | full hold | both ways | both ways % | >= 95% packets | frames sent % | platform CPU % | RSS MiB | goroutines | jitter p50 ms | jitter p99 ms | sim CPU % | machine busy % | CPU pressure % |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %.1f | %d | %.1f | %.0f | %.0f | %d | %.2f (<= %s) | %.2f (<= %s) | %.0f | %.0f | %.0f |\n",
		r.Codec, r.Calls, r.Established, r.FullHold, r.BothWays, r.BothWaysPct, r.Clean, r.SentPct, r.PlatformCPU, r.PlatformRSS, r.Goroutines,
		r.JitterP50, r.JitterP50Le, r.JitterP99, r.JitterP99Le, r.SimCPU, r.MachineCPU, r.CPUPressure)
}

func number(prefix string, i int) string { return fmt.Sprintf("%s%07d", prefix, i) }

func portRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo < 1024 || hi <= lo || hi > 65535 {
		return 0, 0, fmt.Errorf("bad port range %q", s)
	}
	return lo, hi, nil
}

// bridged counts calls whose caller and callee legs are both answered and
// not ended (the two simulators' live reports).
func bridged(callers, callees *sim.Sim) int {
	up := func(s *sim.Sim) int {
		n := 0
		for _, r := range s.Calls() {
			if r.Answered && r.EndedAt.IsZero() {
				n++
			}
		}
		return n
	}
	return min(up(callers), up(callees))
}

// closeBounded closes the simulators, together, giving up after 10 s (the
// process exits anyway).
func closeBounded(sims ...*sim.Sim) {
	var wg sync.WaitGroup
	for _, s := range sims {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Close() }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		log.Printf("bridge: the simulators did not close within 10 s")
	}
}

// startAnswer serves the application's answer_url: the inbound call from
// +1777NNNNNNN dials +1666NNNNNNN.
func startAnswer() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from := r.URL.Query().Get("from")
		if r.Method == http.MethodPost {
			var body struct {
				Call struct {
					From string `json:"from"`
				} `json:"call"`
			}
			_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body)
			from = body.Call.From
		}
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasPrefix(from, callerPrefix) {
			_, _ = io.WriteString(w, `[{"action":"hangup"}]`)
			return
		}
		fmt.Fprintf(w, `[{"action":"dial","to":%q,"timeout":30,"ringback":false}]`, calleePrefix+strings.TrimPrefix(from, callerPrefix))
	})
	go func() { _ = http.Serve(ln, h) }()
	return ln, nil
}

// setup creates the customer, application, trunks and DID.
func setup(ctx context.Context, o options, answerAddr string, calleePort int) (string, error) {
	tag := strconv.FormatInt(time.Now().Unix(), 36)
	cust, err := apiPost(ctx, o, "/v1/customers", map[string]any{"name": "bridge-bench-" + tag, "max_concurrent_calls": 100000, "max_cps": 10000})
	if err != nil {
		return "", err
	}
	// Billing admits only calls with a rate and the balance for their first
	// increment: a cheap rate each way and plenty of credit, so the billing
	// path runs as in production without refusing anything.
	for _, dir := range []string{"inbound", "outbound"} {
		if _, err := apiPost(ctx, o, "/v1/rates", map[string]any{"customer_id": cust, "direction": dir, "prefix": "1",
			"price_per_minute": "0.01", "initial_increment": 6, "subsequent_increment": 6}); err != nil && !notFound(err) {
			return "", err
		}
	}
	if _, err := apiPost(ctx, o, "/v1/customers/"+cust+"/credits", map[string]any{"amount": "100000.00"}); err != nil && !notFound(err) {
		return "", err
	}
	app, err := apiPost(ctx, o, "/v1/applications", map[string]any{"customer_id": cust, "name": "bridge-bench",
		"answer_url": "http://" + answerAddr + "/answer"})
	if err != nil {
		return "", err
	}
	if _, err := apiPost(ctx, o, "/v1/trunks", map[string]any{"name": "bridge-bench-in-" + tag, "direction": "inbound",
		"allowed_cidrs": []string{"127.0.0.1/32"}, "max_channels": 100000, "max_cps": 10000}); err != nil {
		return "", err
	}
	if _, err := apiPost(ctx, o, "/v1/trunks", map[string]any{"name": "bridge-bench-out-" + tag, "direction": "outbound",
		"host": "127.0.0.1", "port": calleePort, "customer_id": cust, "max_channels": 100000, "max_cps": 10000}); err != nil {
		return "", err
	}
	_, err = apiPost(ctx, o, "/v1/numbers", map[string]any{"number": o.did, "customer_id": cust, "application_id": app})
	return cust, err
}

// platformCalls sums up the platform's own records of the customer's calls:
// parent (inbound) and child (dial) legs by status, hangup cause and source.
func platformCalls(ctx context.Context, o options, cust string) (map[string]int, error) {
	out := map[string]int{}
	after := ""
	for range 1000 {
		u := o.api + "/v1/calls?limit=100&customer_id=" + cust
		if after != "" {
			u += "&after=" + after
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+o.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return out, err
		}
		var page struct {
			Data []struct {
				ParentCallID *string `json:"parent_call_id"`
				Status       string  `json:"status"`
				HangupCause  *string `json:"hangup_cause"`
				HangupSource *string `json:"hangup_source"`
			} `json:"data"`
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return out, err
		}
		for _, c := range page.Data {
			kind := "inbound (caller leg)"
			if c.ParentCallID != nil {
				kind = "child (callee leg)"
			}
			str := func(p *string) string {
				if p == nil {
					return "-"
				}
				return *p
			}
			out[fmt.Sprintf("%s %s %s by %s", kind, c.Status, str(c.HangupCause), str(c.HangupSource))]++
		}
		if page.NextCursor == "" || len(page.Data) == 0 {
			break
		}
		after = page.NextCursor
	}
	return out, nil
}

func apiPost(ctx context.Context, o options, path string, body any) (string, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.api+path, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+o.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "", &apiError{path: path, status: resp.StatusCode, body: string(out)}
	}
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(out, &v)
	return v.ID, nil
}

type apiError struct {
	path   string
	status int
	body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("POST %s: %d %s", e.path, e.status, e.body) }

// notFound is an API without the route (an older server without billing).
func notFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && (ae.status == 404 || ae.status == 405)
}

// metrics is a scrape of /metrics: series (name plus labels) to value.
type metrics map[string]float64

func (m metrics) single(name string) float64 { return m[name] }

func scrape(o options) (metrics, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.api+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+o.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("/metrics: %d", resp.StatusCode)
	}
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

const jitterName = "minivoice_rtp_send_jitter_seconds"

// jitter fills the send jitter quantiles from the histogram's growth over
// the hold.
func jitter(res *Result, m0, m1 metrics) {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range m1 {
		if !strings.HasPrefix(k, jitterName+"_bucket{") {
			continue
		}
		i := strings.Index(k, `le="`)
		if i < 0 {
			continue
		}
		s := k[i+4:]
		s = s[:strings.IndexByte(s, '"')]
		le := math.Inf(1)
		if s != "+Inf" {
			le, _ = strconv.ParseFloat(s, 64)
		}
		bs = append(bs, bucket{le, v - m0[k]})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	count := m1[jitterName+"_count"] - m0[jitterName+"_count"]
	res.Frames = count
	if count <= 0 {
		return
	}
	res.JitterMean = 1000 * (m1[jitterName+"_sum"] - m0[jitterName+"_sum"]) / count
	q := func(p float64) (float64, string) {
		want := p * count
		prevLe, prevN := 0.0, 0.0
		for _, b := range bs {
			if b.n >= want {
				if math.IsInf(b.le, 1) {
					return 1000 * prevLe, "+Inf"
				}
				frac := 0.0
				if b.n > prevN {
					frac = (want - prevN) / (b.n - prevN)
				}
				return 1000 * (prevLe + frac*(b.le-prevLe)), strconv.FormatFloat(1000*b.le, 'g', -1, 64)
			}
			prevLe, prevN = b.le, b.n
		}
		return 0, "?"
	}
	res.JitterP50, res.JitterP50Le = q(.5)
	res.JitterP99, res.JitterP99Le = q(.99)
}

// cpuSnap is CPU seconds used so far by the platform and by this process,
// and the CPU pressure stall total, at a wall time.
type cpuSnap struct {
	wall           time.Time
	platform, self float64
	psi            float64 // seconds some task waited for a CPU
	busy           float64 // CPU seconds the whole machine used (all CPUs)
	softirq        float64 // of which softirq (loopback packet delivery, mostly)
	procs          map[string]procCPUTime
}

type procCPUTime struct {
	comm string
	cpu  float64
}

// allProcs is every process's CPU seconds so far, by PID.
func allProcs() map[string]procCPUTime {
	out := map[string]procCPUTime{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		st := string(b)
		i, j := strings.IndexByte(st, '('), strings.LastIndexByte(st, ')')
		if i < 0 || j < i {
			continue
		}
		out[e.Name()] = procCPUTime{comm: st[i+1 : j], cpu: procCPU(e.Name())}
	}
	return out
}

// others names the processes other than the platform and this one that used
// the most CPU between two snapshots, in % of one core.
func others(a, b cpuSnap, platform int) string {
	type use struct {
		name string
		pct  float64
	}
	byName := map[string]float64{}
	wall := b.wall.Sub(a.wall).Seconds()
	self := strconv.Itoa(os.Getpid())
	for pid, p := range b.procs {
		if pid == self || pid == strconv.Itoa(platform) {
			continue
		}
		byName[p.comm] += 100 * (p.cpu - a.procs[pid].cpu) / wall
	}
	var us []use
	for n, v := range byName {
		if v >= 1 {
			us = append(us, use{n, v})
		}
	}
	sort.Slice(us, func(i, j int) bool { return us[i].pct > us[j].pct })
	var parts []string
	for i, u := range us {
		if i == 5 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", u.name, u.pct))
	}
	return strings.Join(parts, ", ")
}

var clkTck = 100.0 // USER_HZ, 100 on Linux

func snap(pid int) cpuSnap {
	s := cpuSnap{wall: time.Now(), procs: allProcs()}
	if pid > 0 {
		s.platform = procCPU(strconv.Itoa(pid))
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		// cpu user nice system idle iowait irq softirq steal
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		for i := 1; i < len(f) && i <= 8; i++ {
			if i == 4 || i == 5 {
				continue
			}
			v, _ := strconv.ParseFloat(f[i], 64)
			s.busy += v / clkTck
			if i == 7 {
				s.softirq = v / clkTck
			}
		}
	}
	if b, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		for _, f := range strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				us, _ := strconv.ParseFloat(v, 64)
				s.psi = us / 1e6
			}
		}
	}
	return s
}

// procCPU is utime+stime of a process, in seconds.
func procCPU(pid string) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields start after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clkTck
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

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// numCPU counts the machine's CPUs (runtime.NumCPU is only the ones this
// process may run on, one when it is pinned).
func numCPU() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if len(line) > 3 && strings.HasPrefix(line, "cpu") && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	return max(n, 1)
}
