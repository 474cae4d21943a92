// Command baseline is the bare diago program that bench/sip-load.sh measures
// MiniVoice against: the same calls, done with nothing but the library
// MiniVoice is built on. It answers every INVITE on -sip with PCMU or PCMA
// and then, by -mode:
//
//   - prompt: plays -prompt (a WAV, converted once at start to 8 kHz) through
//     diago's PCM encoder writer, then 200 ms of silence, then sends BYE,
//     which is what a MiniVoice DID with [say "Hello", hangup] does;
//   - hold: sends silence for -hold, then BYE, as [pause N, hangup] does.
//
// In both modes it reads the caller's RTP for the whole call, as MiniVoice
// does. No database, no webhooks, no answer_url: the difference between the
// two is the platform's own cost. It stops on SIGINT or SIGTERM.
//
// With -metrics it serves /metrics with minivoice_rtp_send_jitter_seconds,
// measured as MiniVoice measures it (how far each interval between one
// call's frames strays from 20 ms; pauses over 100 ms are not counted), so
// bench/sip-load.sh reads both programs' send jitter the same way.
//
//	go run ./bench/baseline -sip 127.0.0.1:25070 -mode prompt -prompt hello.wav
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/audio"
	dmedia "github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/minivoice/minivoice/bench/internal/cpuprofile"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// sendJitter is MiniVoice's histogram of the same name and buckets
// (internal/obs).
var sendJitter = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "minivoice_rtp_send_jitter_seconds",
	Help:    "How far the interval between consecutive RTP frames sent on a call strays from 20 ms.",
	Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .02, .05},
})

func main() {
	addr := flag.String("sip", "127.0.0.1:25070", "SIP UDP address to listen on")
	mode := flag.String("mode", "prompt", "prompt (play -prompt, hang up) or hold (silence for -hold, hang up)")
	prompt := flag.String("prompt", "", "WAV file to play in prompt mode")
	hold := flag.Duration("hold", 40*time.Second, "how long hold mode keeps a call up")
	metrics := flag.String("metrics", "", "serve /metrics (the send jitter histogram) on this HOST:PORT")
	profile := flag.String("cpuprofile", "", "write this process's CPU profile here (at SIGINT or SIGTERM)")
	flag.Parse()
	stopProfile, err := cpuprofile.Start(*profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	defer stopProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *metrics != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(sendJitter)
		srv := &http.Server{Addr: *metrics, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer srv.Close()
	}
	if err := run(ctx, *addr, *mode, *prompt, *hold); err != nil {
		stopProfile()
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, mode, promptPath string, hold time.Duration) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return err
	}
	var pcm []byte // little-endian 16-bit, 8 kHz
	if mode == "prompt" {
		f, err := os.Open(promptPath)
		if err != nil {
			return err
		}
		p, err := media.DecodeWAV(f, 8000)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", promptPath, err)
		}
		for _, s := range p.Samples {
			pcm = append(pcm, byte(s), byte(uint16(s)>>8))
		}
	} else if mode != "hold" {
		return fmt.Errorf("unknown -mode %q", mode)
	}
	ua, err := sipgo.NewUA()
	if err != nil {
		return err
	}
	defer ua.Close()
	dg := diago.NewDiago(ua,
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: host, BindPort: port}),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: []dmedia.Codec{dmedia.CodecAudioUlaw, dmedia.CodecAudioAlaw, dmedia.CodecTelephoneEvent8000}}))
	var calls, failed atomic.Int64
	defer func() {
		slog.Info("baseline stopped", "calls", calls.Load(), "failed", failed.Load())
	}()
	err = dg.Serve(ctx, func(d *diago.DialogServerSession) {
		calls.Add(1)
		if err := handle(d, mode, pcm, hold); err != nil {
			failed.Add(1)
		}
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// handle answers one call and runs the mode on it.
func handle(d *diago.DialogServerSession, mode string, pcm []byte, hold time.Duration) error {
	ctx := d.Context()
	m, err := d.Answer(diago.AnswerOptions{})
	if err != nil {
		return err
	}
	// Read the caller's audio for the whole call, as MiniVoice does.
	r, err := m.AudioReader()
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, dmedia.RTPBufSize)
		for {
			if _, err := r.Read(buf); err != nil {
				return
			}
		}
	}()
	w, err := m.AudioWriter()
	if err != nil {
		return err
	}
	codec := dmedia.CodecAudioFromSession(m.MediaSession())
	enc, err := audio.NewPCMEncoderWriter(codec.PayloadType, w)
	if err != nil {
		return err
	}
	silence := make([]byte, 320) // one 20 ms frame of 8 kHz PCM16
	var last time.Time           // when the previous frame went out
	send := func(b []byte) error {
		for off := 0; off < len(b) && ctx.Err() == nil; off += 320 {
			frame := b[off:min(off+320, len(b))]
			if len(frame) < 320 {
				frame = append(append([]byte(nil), frame...), silence[len(frame):]...)
			}
			// Each Write sends at once, then waits for diago's 20 ms clock:
			// the frame goes out now.
			now := time.Now()
			if d := now.Sub(last); d < 100*time.Millisecond {
				d -= 20 * time.Millisecond
				sendJitter.Observe(max(d, -d).Seconds())
			}
			last = now
			if _, err := enc.Write(frame); err != nil {
				return err
			}
		}
		return nil
	}
	if mode == "prompt" {
		if err := send(pcm); err != nil {
			return err
		}
		for range 10 { // the 200 ms tail MiniVoice holds before its BYE
			if err := send(silence); err != nil {
				return err
			}
		}
	} else {
		for end := time.Now().Add(hold); time.Now().Before(end) && ctx.Err() == nil; {
			if err := send(silence); err != nil {
				return err
			}
		}
	}
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ctx.Err() != nil {
		return nil // the caller hung up first
	}
	return d.Hangup(hctx)
}
