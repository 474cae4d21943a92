package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/emiago/diago"
	dmedia "github.com/emiago/diago/media"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/media/rtpaudio"
)

// activeThreshold is the level above which a 20 ms frame counts as heard
// speech (media.ActiveDuration): -40 dBFS separates speech from line noise.
const activeThreshold = -40

// HeardSpanGap is the longest pause inside one of CallReport.HeardSpans:
// the gaps between a sentence's words stay within it, the wait between a
// prompt and the reply to it does not.
const HeardSpanGap = 400 * time.Millisecond

// maxStatsBytes bounds how much of a recording is read back for its levels
// (about 9 hours at 8 kHz): a longer call keeps its WAV but not its stats.
const maxStatsBytes = 512 << 20

// flushEvery is how often a recording's header is brought up to date, so a
// crash loses at most this much of it.
const flushEvery = time.Second

// converse runs an answered call until it is over: it records what arrives,
// runs steps (then sends silence, as a phone does, until the call ends), and
// hangs up itself when a step says so, after hangupAfter (0 = never), or when
// ctx ends. remote is done when the far end has hung up.
func (s *Sim) converse(ctx context.Context, cs *callState, med *diago.DialogMedia, remote context.Context,
	hangup func(context.Context) error, steps []step, hangupAfter time.Duration, log *slog.Logger) {
	codec := dmedia.CodecAudioFromSession(med.MediaSession())
	cs.update(func(r *CallReport) { r.Codec = codecName(codec) })

	rec := s.startRecorder(cs, med, codec, log)

	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(remote, cancel)
	defer stop()
	runCtx := callCtx
	if hangupAfter > 0 {
		var rcancel context.CancelFunc
		runCtx, rcancel = context.WithTimeout(callCtx, hangupAfter)
		defer rcancel()
	}

	snd, err := newSender(med, codec)
	if err != nil {
		log.Warn("sim: cannot send audio", slog.Any("error", err))
		cs.update(func(r *CallReport) { r.Err = err.Error() })
		<-runCtx.Done()
	} else if !s.runSteps(runCtx, snd, steps, cs, log) {
		snd.idle(runCtx)
	}

	ended := EndedLocal
	if remote.Err() != nil {
		ended = EndedRemote
	} else {
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := hangup(hctx); err != nil {
			log.Info("sim: bye", slog.Any("error", err))
			if remote.Err() != nil {
				ended = EndedRemote
			}
		}
		hcancel()
	}
	now := time.Now()
	cs.update(func(r *CallReport) { r.EndedBy, r.EndedAt = ended, now })
	_ = med.Close() // unblocks the recorder's read
	rec.finish(cs, log)
}

// runSteps runs a script; it reports whether a "hangup" step asked to end
// the call. It stops early when ctx ends or the media stops taking audio.
func (s *Sim) runSteps(ctx context.Context, snd *sender, steps []step, cs *callState, log *slog.Logger) bool {
	for _, st := range steps {
		if ctx.Err() != nil {
			return false
		}
		var err error
		switch st.kind {
		case stepSay:
			var samples []int16
			if samples, err = s.speak(ctx, st.text, snd.rate); err == nil {
				err = snd.play(ctx, samples)
			} else if ctx.Err() == nil {
				// A TTS failure is the simulator's problem, not the call's:
				// note it and carry on with the script.
				log.Warn("sim: say", slog.Any("error", err))
				cs.update(func(r *CallReport) { r.Err = err.Error() })
				err = nil
			}
		case stepWait:
			err = snd.silence(ctx, st.wait)
		case stepDTMF:
			err = snd.digits(ctx, st.digits, func(d rune) {
				cs.update(func(r *CallReport) { r.DTMFSent += string(d) })
			})
			if errors.Is(err, errNoTelephoneEvent) {
				log.Warn("sim: dtmf", slog.Any("error", err))
				cs.update(func(r *CallReport) { r.Err = err.Error() })
				err = nil
			}
		case stepHangup:
			return true
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Info("sim: sending audio stopped", slog.Any("error", err))
				<-ctx.Done() // the media is gone; wait for the call to end
			}
			return false
		}
	}
	return false
}

// speak renders text at rate, with the Speaker or, without one, as a tone.
func (s *Sim) speak(ctx context.Context, text string, rate int) ([]int16, error) {
	if s.speaker == nil {
		return tone(text, rate), nil
	}
	p, err := s.speaker.Render(ctx, s.voice, text, rate)
	if err != nil {
		return nil, fmt.Errorf("sim: tts: %w", err)
	}
	if p.Rate != rate {
		p = media.Resample(p, rate)
	}
	return p.Samples, nil
}

// tone stands in for speech when there is no Speaker: 440 Hz at about -12
// dBFS, as long as the text would take to say (~70 ms a character).
func tone(text string, rate int) []int16 {
	d := min(time.Duration(len(text))*70*time.Millisecond, 30*time.Second)
	n := int(d.Seconds() * float64(rate))
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
	}
	return out
}

// pcmRate is the sample rate of a codec's audio, which TTS renders at and
// recordings are written at: 16 kHz for G.722, else the RTP clock rate.
func pcmRate(c dmedia.Codec) int { return rtpaudio.PCMRate(c) }

// codecName is the SDP name of a codec: "G722", "PCMU", "PCMA".
func codecName(c dmedia.Codec) string { return rtpaudio.CodecName(c) }

var errNoTelephoneEvent = errors.New("telephone-event was not negotiated; cannot send RFC 4733 DTMF")

// sender sends paced 20 ms frames of PCM, encoded to the call's codec, and
// RFC 4733 digits. Only the goroutine running the call's steps uses it.
type sender struct {
	w     io.Writer               // RTP payload writer, paced at 20 ms
	enc   *rtpaudio.AudioCodec    // PCM to payload
	pay   []byte                  // one encoded frame
	dtmf  *diago.DTMFWriter       // nil when telephone-event was not negotiated
	pkt   *dmedia.RTPPacketWriter // to keep RTP timestamps in step with DTMF events
	rate  int                     // PCM sample rate
	clock int                     // RTP clock rate
	zero  []int16                 // one frame of silence
}

func newSender(med *diago.DialogMedia, codec dmedia.Codec) (*sender, error) {
	var w io.Writer
	dw, err := med.AudioWriterDTMF()
	if err == nil {
		w = dw
	} else {
		dw = nil
		if w, err = med.AudioWriter(); err != nil {
			return nil, fmt.Errorf("sim: audio writer: %w", err)
		}
	}
	enc, err := rtpaudio.NewAudioCodec(codec)
	if err != nil {
		return nil, fmt.Errorf("sim: encoder: %w", err)
	}
	per := pcmRate(codec) * int(codec.SampleDur/time.Millisecond) / 1000
	return &sender{w: w, enc: enc, dtmf: dw, pkt: med.RTPPacketWriter, rate: pcmRate(codec), clock: int(codec.SampleRate),
		zero: make([]int16, per)}, nil
}

// play sends samples in frames, each write paced by the RTP writer's 20 ms
// clock; it stops early when ctx ends.
func (s *sender) play(ctx context.Context, samples []int16) error {
	per := len(s.zero)
	frame := make([]int16, per)
	for off := 0; off < len(samples); off += per {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := copy(frame, samples[off:min(off+per, len(samples))])
		clear(frame[n:])
		s.pay = s.enc.Encode(s.pay[:0], frame)
		if _, err := s.w.Write(s.pay); err != nil {
			return fmt.Errorf("sim: send audio: %w", err)
		}
	}
	return nil
}

// silence sends d of silence: a phone keeps RTP flowing while nobody talks,
// and the platform's media timeout depends on it.
func (s *sender) silence(ctx context.Context, d time.Duration) error {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if err := s.play(ctx, s.zero); err != nil {
			return err
		}
	}
	return nil
}

// idle sends silence until ctx ends.
func (s *sender) idle(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.play(ctx, s.zero); err != nil {
			<-ctx.Done()
			return
		}
	}
}

// digits presses each digit as an RFC 4733 event of 100 ms, 100 ms apart,
// calling sent after each.
func (s *sender) digits(ctx context.Context, digits string, sent func(rune)) error {
	if s.dtmf == nil {
		return errNoTelephoneEvent
	}
	for i, d := range digits {
		if i > 0 {
			if err := s.silence(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		if err := s.dtmf.WriteDTMF(d); err != nil {
			return fmt.Errorf("sim: send dtmf: %w", err)
		}
		// diago sends an event's packets without advancing the RTP clock;
		// move it on by the time the event took so the audio after it keeps
		// real-time timestamps.
		if s.pkt != nil {
			s.pkt.DelayTimestamp(uint32(time.Since(start).Seconds() * float64(s.clock)))
		}
		sent(d)
	}
	return nil
}

// recorder writes what arrives on a call to a WAV file and notes RFC 4733
// digits.
type recorder struct {
	path string
	w    *media.WAVWriter // nil when the file could not be made: drain only
	done chan struct{}
}

// startRecorder opens the call's WAV and starts reading the media.
func (s *Sim) startRecorder(cs *callState, med *diago.DialogMedia, codec dmedia.Codec, log *slog.Logger) *recorder {
	r := &recorder{done: make(chan struct{})}
	snap := cs.snapshot()
	f, path, err := createRecording(s.recordDir, snap.CallID, snap.Direction)
	if err == nil {
		if r.w, err = media.NewWAVWriter(f, pcmRate(codec), 1); err != nil {
			_ = f.Close()
			_ = os.Remove(path)
		} else {
			r.path = path
		}
	}
	if err != nil {
		log.Warn("sim: recording", slog.Any("error", err))
		cs.update(func(rep *CallReport) { rep.Err = fmt.Sprintf("recording: %v", err) })
	}
	cs.update(func(rep *CallReport) { rep.HeardPath = r.path })
	ev := readEvents{
		dtmf: func(d rune) { cs.update(func(rep *CallReport) { rep.DTMFHeard += string(d) }) },
		firstPacket: func(at time.Time) {
			cs.update(func(rep *CallReport) { rep.FirstPacket = sinceAnswer(snap.AnsweredAt, at) })
		},
		firstAudio: func(at time.Time) {
			cs.update(func(rep *CallReport) { rep.FirstAudio = sinceAnswer(snap.AnsweredAt, at) })
		},
	}
	go func() {
		defer close(r.done)
		r.read(med, codec, ev, log)
	}()
	return r
}

// readEvents is what the reader reports besides the audio it records: each
// RFC 4733 digit, and when the first packet and the first audible frame
// arrived (each once).
type readEvents struct {
	dtmf        func(rune)
	firstPacket func(time.Time)
	firstAudio  func(time.Time)
}

// sinceAnswer is the post-answer delay of something that arrived at at; at
// least 1 ns, so a report's zero keeps meaning "never".
func sinceAnswer(answered, at time.Time) time.Duration {
	if answered.IsZero() {
		return 0
	}
	return max(at.Sub(answered), time.Nanosecond)
}

// read decodes audio packets into the WAV until the media closes.
func (r *recorder) read(med *diago.DialogMedia, codec dmedia.Codec, ev readEvents, log *slog.Logger) {
	src, err := med.AudioReader()
	if err != nil {
		return
	}
	pr := med.RTPPacketReader
	audioPT := codec.PayloadTypeRecv()
	var dtmfR *dmedia.RTPDtmfReader
	for _, c := range med.MediaSession().CommonCodecs() {
		if c.Matches(dmedia.CodecTelephoneEvent8000) {
			c.PayloadType = c.PayloadTypeRecv()
			dtmfR = dmedia.NewRTPDTMFReader(c, pr, src)
			src = dtmfR
			break
		}
	}
	dec, err := rtpaudio.NewAudioCodec(codec)
	if err != nil {
		log.Warn("sim: decoder", slog.Any("error", err))
		return
	}
	buf := make([]byte, dmedia.RTPBufSize)
	samples := make([]int16, 0, 2*dmedia.RTPBufSize)
	lastFlush := time.Now()
	writing := r.w != nil
	// Until the first audible frame, every audio packet's level is checked
	// (one pass over a frame already decoded); after it, nothing more.
	gotPacket, gotAudio := false, false
	for {
		n, err := src.Read(buf)
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // io.EOF once the media is closed
		}
		if !gotPacket {
			gotPacket = true
			ev.firstPacket(time.Now())
		}
		if dtmfR != nil {
			if d, ok := dtmfR.ReadDTMF(); ok {
				ev.dtmf(d)
			}
		}
		if n == 0 || pr.PacketHeader.PayloadType != audioPT || (!writing && gotAudio) {
			continue
		}
		samples = dec.Decode(samples[:0], buf[:n])
		if !gotAudio && media.DBFS(samples) > activeThreshold {
			gotAudio = true
			ev.firstAudio(time.Now())
		}
		if !writing {
			continue
		}
		if err := r.w.Write(samples); err != nil {
			log.Warn("sim: recording write", slog.Any("error", err))
			writing = false // keep draining; finish still closes the file
			continue
		}
		if time.Since(lastFlush) >= flushEvery {
			_ = r.w.Flush()
			lastFlush = time.Now()
		}
	}
}

// finish waits for the reader (the media must be closed), closes the WAV and
// fills the report's heard levels from it.
func (r *recorder) finish(cs *callState, log *slog.Logger) {
	<-r.done
	if r.w == nil {
		return
	}
	if err := r.w.Close(); err != nil {
		log.Warn("sim: recording close", slog.Any("error", err))
	}
	f, err := os.Open(r.path)
	if err != nil {
		log.Warn("sim: recording stats", slog.Any("error", err))
		return
	}
	defer f.Close()
	chans, err := media.ReadWAVChannels(f, maxStatsBytes)
	if err != nil {
		log.Warn("sim: recording stats", slog.Any("error", err))
		return
	}
	p := chans[0]
	cs.update(func(rep *CallReport) {
		rep.HeardDuration = p.Duration()
		rep.HeardActive = media.ActiveDuration(p, activeThreshold)
		rep.HeardSpans = media.ActiveSpans(p, activeThreshold, HeardSpanGap)
		rep.HeardRMS = media.RMS(p.Samples)
	})
}

// createRecording makes <dir>/<Call-ID>.wav; when two simulators in one
// process record both ends of the same call into one directory, the second
// gets <Call-ID>-<direction>.wav (then -2, -3, ...) instead of clobbering it.
func createRecording(dir, callID, direction string) (*os.File, string, error) {
	base := safeName(callID)
	names := []string{base, base + "-" + direction}
	for i := 2; i < 10; i++ {
		names = append(names, fmt.Sprintf("%s-%s-%d", base, direction, i))
	}
	var err error
	for _, n := range names {
		path := filepath.Join(dir, n+".wav")
		var f *os.File
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		if err == nil {
			return f, path, nil
		}
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	return nil, "", fmt.Errorf("sim: create recording for %s: %w", callID, err)
}

// safeName makes a Call-ID usable as a file name: it may hold '/' or other
// characters a file system or shell dislikes.
func safeName(s string) string {
	if s == "" {
		s = "call"
	}
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '@'
		if !ok {
			b[i] = '_'
		}
	}
	if b[0] == '.' {
		b[0] = '_'
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
