package sip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/minivoice/minivoice/internal/callctl"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/mediastream"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/voice"
	"github.com/minivoice/minivoice/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// Bounds of a live media stream (docs/streams.md).
const (
	// streamSendQueue is how many media messages may wait for a slow
	// receiver: 2 s of both tracks. Beyond it the oldest is dropped, so a
	// receiver that stops reading never holds the call's media reader.
	streamSendQueue = 200
	// streamControlQueue bounds the marks, key presses and errors waiting.
	streamControlQueue = 256
	// StreamMaxBuffered is the most audio from the application that may wait
	// to be played; audio beyond it is dropped and counted.
	StreamMaxBuffered = 20 * time.Second
	// streamConnectTimeout bounds the connect and the upgrade.
	streamConnectTimeout = 5 * time.Second
	// streamWriteTimeout is how long one message may take to be written
	// before the receiver is declared stuck and the stream stops.
	streamWriteTimeout = 5 * time.Second
	// streamSocketBuffer is the socket's send buffer: about half a second
	// of both tracks at 16 kHz L16.
	streamSocketBuffer = 64 << 10
	// streamMaxMessage bounds a message from the application (a second of
	// 16 kHz L16 in base64 is 43 KB).
	streamMaxMessage = 1 << 20
	// DefaultMaxStreamsPerCustomer is a customer's concurrent streams
	// unless the engine is configured otherwise.
	DefaultMaxStreamsPerCustomer = 100

	// The play queue's catch-up (docs/streams.md, Latency): every
	// trimWindow ticks, if the queue never held fewer than trimMinDepth
	// frames while the application fed it at about the real-time rate
	// (between trimLiveFeed and trimBulkFeed frames arrived), up to that
	// minimum less one
	// silent frames are skipped, so a delay that jitter added once does not
	// stay for the rest of the call. Audio sent ahead in bulk is not fed
	// at the real-time rate and is never trimmed.
	trimWindow   = 50 // 1 s of ticks
	trimMinDepth = 2
	trimLiveFeed = trimWindow * 3 / 4
	trimBulkFeed = trimWindow * 3 / 2
	// trimSilenceDBFS is the level below which a frame counts as silence
	// that may be skipped: under the noise of a quiet room on a phone line.
	trimSilenceDBFS = -45
)

// Reasons a stream stops (stream.stopped's reason).
const (
	StreamReasonClosed      = "receiver_closed" // the application closed the socket
	StreamReasonCallEnded   = "call_ended"
	StreamReasonStopped     = "stopped"     // DELETE /v1/calls/{id}/streams/{stream_id}
	StreamReasonInterrupted = "interrupted" // new actions replaced a bidirectional stream's
	StreamReasonTooSlow     = "receiver_too_slow"
	StreamReasonSendFailed  = "send_failed"
	StreamReasonProtocol    = "protocol_error"
)

// mediaTap is a live stream's view of a leg: the far end's decoded audio,
// what the platform sends, and key presses. The leg calls it on its media
// paths, so it must not block.
type mediaTap interface {
	farAudio(pcm []int16)
	nearAudio(pcm []int16)
	digit(d rune)
}

// addTap starts feeding t with the leg's media.
func (l *leg) addTap(t mediaTap) {
	l.tapMu.Lock()
	defer l.tapMu.Unlock()
	var next []mediaTap
	if cur := l.taps.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, t)
	l.taps.Store(&next)
}

// removeTap stops feeding t.
func (l *leg) removeTap(t mediaTap) {
	l.tapMu.Lock()
	defer l.tapMu.Unlock()
	cur := l.taps.Load()
	if cur == nil {
		return
	}
	var next []mediaTap
	for _, x := range *cur {
		if x != t {
			next = append(next, x)
		}
	}
	l.taps.Store(&next)
}

// callStreams are the streams of one call that runs actions: the session's,
// and those the API starts. stopAll ends them before the call ends, so their
// stream.stopped is written with the call.
type callStreams struct {
	e      *Engine
	rec    *callRecord
	leg    *leg
	ctx    context.Context // the call's: streams end with it
	mu     sync.Mutex
	byID   map[string]*stream
	closed bool
}

// streamRegistry finds a live call's streams for the API and counts each
// customer's streams for the limit. The zero value is ready.
type streamRegistry struct {
	mu    sync.Mutex
	calls map[string]*callStreams
	count map[string]int // customer id to open streams
	// limit is a customer's concurrent streams; 0 is the default.
	limit int

	metricsOnce sync.Once
	metrics     *streamMetrics
}

// streamMetrics are the streams' Prometheus metrics: totals over all
// streams, since a label per stream would grow without bound (each
// stream's own counts are in its stream.stopped).
type streamMetrics struct {
	active  prometheus.Gauge
	frames  *prometheus.CounterVec // direction: sent, received, dropped, trimmed
	stopped *prometheus.CounterVec // reason
	invalid prometheus.Counter
}

// streamMetricsOf returns the engine's stream metrics, registered on its
// registry the first time.
func (e *Engine) streamMetricsOf() *streamMetrics {
	r := &e.streams
	r.metricsOnce.Do(func() {
		m := &streamMetrics{
			active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "minivoice_streams_active", Help: "Live media streams open now."}),
			frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minivoice_stream_frames_total",
				Help: "Media stream frames: sent to applications, received from them (queued to play), dropped (full queues), trimmed (silence skipped to catch up)."}, []string{"direction"}),
			stopped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minivoice_streams_stopped_total",
				Help: "Media streams stopped, by reason (docs/streams.md)."}, []string{"reason"}),
			invalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "minivoice_stream_messages_invalid_total",
				Help: "Messages from applications that were ignored as invalid."}),
		}
		if e.metrics != nil && e.metrics.Registry != nil {
			for _, c := range []prometheus.Collector{m.active, m.frames, m.stopped, m.invalid} {
				_ = e.metrics.Registry.Register(c)
			}
		}
		r.metrics = m
	})
	return r.metrics
}

func (r *streamRegistry) register(id string, cs *callStreams) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls, r.count = map[string]*callStreams{}, map[string]int{}
	}
	r.calls[id] = cs
}

func (r *streamRegistry) unregister(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.calls, id)
}

func (r *streamRegistry) lookup(id string) *callStreams {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

// take counts one more stream of customer, unless it is at the limit.
func (r *streamRegistry) take(customer string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	limit := r.limit
	if limit == 0 {
		limit = DefaultMaxStreamsPerCustomer
	}
	if r.count == nil {
		r.calls, r.count = map[string]*callStreams{}, map[string]int{}
	}
	if r.count[customer] >= limit {
		return false
	}
	r.count[customer]++
	return true
}

func (r *streamRegistry) release(customer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count[customer]--; r.count[customer] <= 0 {
		delete(r.count, customer)
	}
}

// SetMaxStreamsPerCustomer sets how many streams one customer may have open
// at once on this engine (0: DefaultMaxStreamsPerCustomer).
func (e *Engine) SetMaxStreamsPerCustomer(n int) {
	e.streams.mu.Lock()
	e.streams.limit = n
	e.streams.mu.Unlock()
}

// openStreams makes the stream set of a call about to run actions; the
// caller stops it with stopAll before the call ends.
func (e *Engine) openStreams(ctx context.Context, rec *callRecord, l *leg) *callStreams {
	cs := &callStreams{e: e, rec: rec, leg: l, ctx: ctx, byID: map[string]*stream{}}
	e.streams.register(rec.id(), cs)
	return cs
}

// stopAll stops every stream of the call and waits until each has written
// its stream.stopped.
func (cs *callStreams) stopAll(reason string) {
	cs.e.streams.unregister(cs.rec.id())
	cs.mu.Lock()
	cs.closed = true
	all := make([]*stream, 0, len(cs.byID))
	for _, st := range cs.byID {
		all = append(all, st)
	}
	cs.mu.Unlock()
	for _, st := range all {
		st.stop(reason)
	}
	for _, st := range all {
		<-st.done
	}
}

// ErrStreamLimit is a customer at its concurrent streams limit.
var ErrStreamLimit = errors.New("stream_limit")

// ErrNoCall is a call this engine does not hold answered.
var ErrNoCall = errors.New("no such live call")

// StartStream opens a one-way stream on a live call for the API (POST
// /v1/calls/{id}/streams; a bidirectional stream is an action). It
// returns the stream id once the socket is open.
func (e *Engine) StartStream(ctx context.Context, callID string, opts *callctl.Stream) (string, error) {
	cs := e.streams.lookup(callID)
	if cs == nil {
		return "", ErrNoCall
	}
	st, err := cs.start(ctx, opts)
	if err != nil {
		return "", err
	}
	return st.id, nil
}

// StopStream stops a stream of a live call (DELETE
// /v1/calls/{id}/streams/{stream_id}); false when there is no such open
// stream.
func (e *Engine) StopStream(callID, streamID string) bool {
	cs := e.streams.lookup(callID)
	if cs == nil {
		return false
	}
	cs.mu.Lock()
	st := cs.byID[streamID]
	cs.mu.Unlock()
	if st == nil {
		return false
	}
	st.stop(StreamReasonStopped)
	<-st.done
	return true
}

// Stream runs the stream action: one-way streams start and the actions go
// on; a bidirectional stream plays what the application sends until the
// socket closes or ctx ends (the call's end, new actions).
func (s *session) Stream(ctx context.Context, a *callctl.Stream) error {
	if s.streams == nil {
		return errors.New("stream: this call cannot stream")
	}
	st, err := s.streams.start(ctx, a)
	if err != nil {
		return err
	}
	if !a.Bidirectional {
		return nil
	}
	err = st.play(ctx)
	if ctx.Err() != nil {
		reason := StreamReasonInterrupted
		if s.streams.ctx.Err() != nil {
			reason = StreamReasonCallEnded
		}
		st.stop(reason)
		<-st.done
		return ctx.Err()
	}
	<-st.done
	return err
}

// start connects a stream and starts its goroutines.
func (cs *callStreams) start(ctx context.Context, a *callctl.Stream) (*stream, error) {
	snap := cs.rec.snapshot()
	if !cs.e.streams.take(snap.CustomerID) {
		return nil, publicmsg.New("the customer has too many streams open at once", ErrStreamLimit)
	}
	codec, err := mediastream.NewCodec(mediastream.Format{Encoding: a.Encoding, SampleRate: a.SampleRate, Channels: 1})
	if err != nil {
		cs.e.streams.release(snap.CustomerID)
		return nil, publicmsg.New("stream: "+err.Error(), err)
	}
	st := &stream{
		id: voice.NewID("str", cs.e.clock()), cs: cs, opts: a, codec: codec, customer: snap.CustomerID,
		inTrack:  a.Track == mediastream.TrackInbound || a.Track == mediastream.TrackBoth,
		outTrack: a.Track == mediastream.TrackOutbound || a.Track == mediastream.TrackBoth,
		sendQ:    make(chan streamItem, streamSendQueue), ctlQ: make(chan streamItem, streamControlQueue),
		done:   make(chan struct{}),
		rateIn: mediastream.NewRate(cs.leg.rate, a.SampleRate), rateOut: mediastream.NewRate(cs.leg.rate, a.SampleRate),
		rateBack: mediastream.NewRate(a.SampleRate, cs.leg.rate),
	}
	st.countInto(cs.e.streamMetricsOf())
	if err := st.connect(ctx, &snap); err != nil {
		cs.e.streams.release(snap.CustomerID)
		return nil, err
	}
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		_ = st.conn.Close()
		cs.e.streams.release(snap.CustomerID)
		return nil, errors.New("stream: the call is ending")
	}
	// Registered and started under the lock, so stopAll sees either no
	// stream or a running one.
	cs.byID[st.id] = st
	st.run(&snap)
	cs.mu.Unlock()
	return st, nil
}

func (cs *callStreams) forget(st *stream) {
	cs.mu.Lock()
	delete(cs.byID, st.id)
	cs.mu.Unlock()
}

// stream is one live media stream: a WebSocket to the application fed
// from the leg's taps by a writer goroutine, read by a reader goroutine
// that queues audio for the player (bidirectional streams).
type stream struct {
	id       string
	cs       *callStreams
	opts     *callctl.Stream
	codec    *mediastream.Codec
	customer string
	inTrack  bool
	outTrack bool
	started  time.Time

	conn    net.Conn
	src     io.Reader // the connection's reader (with what the upgrade read ahead)
	writeMu sync.Mutex
	seqN    int64 // the last message's sequence number (under writeMu)
	// msgBuf and frameBuf are reused for each message (under writeMu).
	msgBuf   []byte
	frameBuf bytes.Buffer

	sendQ chan streamItem // media, drop oldest
	ctlQ  chan streamItem // marks, key presses

	// rateIn and rateOut convert the leg's audio to the stream's rate
	// (writer goroutine only); rateBack converts the application's audio
	// to the leg's (reader goroutine only).
	rateIn, rateOut, rateBack *mediastream.Rate

	playMu  sync.Mutex
	queue   []playItem // audio frames at the leg's rate, and marks
	partial []int16    // the start of a frame not yet complete
	queued  int        // audio frames in queue
	// The catch-up's state (under playMu): ticks and frames received in
	// the current window, the fewest frames queued at a tick in it, and
	// the silent frames the last window allows to skip.
	winTicks, winFed, winMin, trimBudget int

	sent, received, dropped, invalid streamCount
	trimmed                          streamCount // silent frames skipped to catch up
	invalidOnce                      sync.Once

	ctx    context.Context
	cancel context.CancelFunc
	reason atomic.Pointer[string]
	done   chan struct{} // closed once stopped and stream.stopped is written
}

// streamCount is one of a stream's counters: its own total, for
// stream.stopped, and the engine's metric, which moves with it while the
// stream runs.
type streamCount struct {
	n      atomic.Int64
	metric prometheus.Counter // nil: not exported
}

// Add counts k and returns the stream's new total.
func (c *streamCount) Add(k int64) int64 {
	if c.metric != nil {
		c.metric.Add(float64(k))
	}
	return c.n.Add(k)
}

// Load is the stream's total.
func (c *streamCount) Load() int64 { return c.n.Load() }

// countInto makes st's counters move the engine's metrics.
func (st *stream) countInto(m *streamMetrics) {
	st.sent.metric = m.frames.WithLabelValues("sent")
	st.received.metric = m.frames.WithLabelValues("received")
	st.dropped.metric = m.frames.WithLabelValues("dropped")
	st.trimmed.metric = m.frames.WithLabelValues("trimmed")
	st.invalid.metric = m.invalid
}

// streamItem is a message waiting for the writer: media from a track (pcm
// at the leg's rate, copied) or a ready message.
type streamItem struct {
	track string
	pcm   []int16
	at    time.Time
	msg   *mediastream.Message
}

// playItem is a frame of the application's audio or a mark after it.
type playItem struct {
	frame []int16
	mark  string
}

// connect dials the URL through the SSRF guard with the signed upgrade.
func (st *stream) connect(ctx context.Context, call *voice.Call) error {
	e := st.cs.e
	h := http.Header{}
	if secrets := st.cs.rec.app.SigningSecrets(e.now()); len(secrets) > 0 {
		if err := webhook.SignRequest(h, voice.NewID(voice.PrefixRequest, e.clock()), e.now(), nil, secrets...); err != nil {
			return fmt.Errorf("stream: sign: %w", err)
		}
	}
	h.Set("MiniVoice-Call-Id", call.ID)
	h.Set("MiniVoice-Stream-Id", st.id)
	dial := e.guardedDial()
	netDial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			// A small kernel send buffer keeps what waits for a slow
			// receiver in the bounded queue (drop oldest) instead of
			// seconds of audio in the socket, late when it arrives.
			_ = tc.SetWriteBuffer(streamSocketBuffer)
		}
		return c, err
	}
	d := ws.Dialer{Timeout: streamConnectTimeout, Header: ws.HandshakeHeaderHTTP(h), NetDial: netDial}
	var status int
	d.OnStatusError = func(code int, _ []byte, _ io.Reader) { status = code }
	dctx, cancel := context.WithTimeout(ctx, streamConnectTimeout)
	defer cancel()
	conn, br, _, err := d.Dial(dctx, st.opts.URL)
	if err != nil {
		if status != 0 {
			return publicmsg.New(fmt.Sprintf("stream %s: the WebSocket upgrade was answered HTTP %d", st.opts.URL, status), err)
		}
		if netguard.IsNotAllowed(err) {
			// The code every refused URL gets in call.error (api.md, SSRF guard).
			return &callctl.FetchError{Code: callctl.CodeURLNotAllowed, URL: st.opts.URL,
				Message: "stream " + st.opts.URL + ": " + publicmsg.Text(err)}
		}
		return publicmsg.Wrap(fmt.Errorf("stream connect: %w", err), "stream "+st.opts.URL)
	}
	st.conn, st.src = conn, conn
	if br != nil {
		st.src = io.MultiReader(br, conn)
	}
	return nil
}

// guardedDial is the SSRF guard's dialer, the one the engine's HTTP client
// connects with.
func (e *Engine) guardedDial() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if t, ok := e.httpClient.Transport.(*http.Transport); ok && t.DialContext != nil {
		return t.DialContext
	}
	return (&net.Dialer{}).DialContext
}

// run sends connected and start, starts the goroutines and taps the leg.
func (st *stream) run(call *voice.Call) {
	st.ctx, st.cancel = context.WithCancel(st.cs.ctx)
	// Timestamps are on the call's clock, counted from its answer, so the
	// streams of one call (and its recording) line up.
	st.started = time.Now()
	if call.AnsweredAt != nil {
		st.started = st.started.Add(-max(st.cs.e.clock().Sub(*call.AnsweredAt), 0))
	}
	tracks := []string{}
	if st.inTrack {
		tracks = append(tracks, mediastream.TrackInbound)
	}
	if st.outTrack {
		tracks = append(tracks, mediastream.TrackOutbound)
	}
	hello := []*mediastream.Message{
		{Event: mediastream.EventConnected, Protocol: mediastream.Protocol, Version: mediastream.Version},
		{Event: mediastream.EventStart, Start: &mediastream.Start{CallID: call.ID, CustomerID: call.CustomerID,
			ApplicationID: call.ApplicationID, Tracks: tracks, Bidirectional: st.opts.Bidirectional,
			MediaFormat: st.codec.Format(), CustomParameters: st.opts.CustomParameters}},
	}
	writerDone, readerDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(writerDone); st.writeLoop(hello) }()
	go func() { defer close(readerDone); st.readLoop() }()
	st.cs.leg.addTap(st)
	st.cs.e.streamMetricsOf().active.Inc()
	// stream.started is written off the caller's path (which may hold
	// locks), and always before stream.stopped.
	announced := make(chan struct{})
	go func() {
		defer close(announced)
		started := st.eventData("")
		_ = st.cs.rec.emit(context.WithoutCancel(st.cs.ctx), voice.EventStreamStarted, started)
		st.postStatus(voice.EventStreamStarted, started)
	}()
	go func() {
		<-st.ctx.Done()
		st.cs.leg.removeTap(st)
		st.setReason(StreamReasonCallEnded)
		// A writer stuck on a receiver that stopped reading gives up within
		// a second; then stop is sent within a second, and the close ends
		// the reader.
		_ = st.conn.SetWriteDeadline(time.Now().Add(time.Second))
		<-writerDone // stop is the last message
		reason := *st.reason.Load()
		_ = st.writeMessage(&mediastream.Message{Event: mediastream.EventStop, Stop: &mediastream.Stop{CallID: call.ID, Reason: reason}}, time.Second)
		_ = st.writeFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")), time.Second)
		_ = st.conn.Close()
		<-readerDone
		<-announced
		st.dropQueue()
		st.cs.forget(st)
		st.cs.e.streams.release(st.customer)
		stopped := st.eventData(reason)
		if m := st.cs.e.streamMetricsOf(); m != nil {
			m.active.Dec()
			m.stopped.WithLabelValues(reason).Inc()
		}
		_ = st.cs.rec.emit(context.WithoutCancel(st.cs.ctx), voice.EventStreamStopped, stopped)
		st.postStatus(voice.EventStreamStopped, stopped)
		st.cs.e.log.Info("stream stopped", slog.String("call_id", call.ID), slog.String("stream_id", st.id), slog.String("reason", reason),
			slog.Int64("frames_sent", st.sent.Load()), slog.Int64("frames_received", st.received.Load()), slog.Int64("frames_dropped", st.dropped.Load()),
			slog.Int64("frames_trimmed", st.trimmed.Load()))
		close(st.done)
	}()
}

// stop ends the stream for reason (the first reason given stands).
func (st *stream) stop(reason string) {
	st.setReason(reason)
	st.cancel()
}

func (st *stream) setReason(reason string) { st.reason.CompareAndSwap(nil, &reason) }

// eventData is stream.started's data, or stream.stopped's with a reason.
func (st *stream) eventData(reason string) map[string]any {
	d := map[string]any{"stream_id": st.id, "url": st.opts.URL, "track": st.opts.Track, "bidirectional": st.opts.Bidirectional,
		"encoding": st.opts.Encoding, "sample_rate": st.opts.SampleRate, "custom_parameters": st.opts.CustomParameters}
	if reason != "" {
		d["reason"] = reason
		d["frames_sent"] = st.sent.Load()
		d["frames_received"] = st.received.Load()
		d["frames_dropped"] = st.dropped.Load()
		d["frames_trimmed"] = st.trimmed.Load()
		d["messages_invalid"] = st.invalid.Load()
	}
	return d
}

// postStatus sends a stream event to status_url, signed like webhooks,
// once and without retries: the event is also in the call's events.
func (st *stream) postStatus(t voice.EventType, data map[string]any) {
	if st.opts.StatusURL == "" {
		return
	}
	e := st.cs.e
	body, err := json.Marshal(map[string]any{"event": t, "call_id": st.cs.rec.id(), "data": data})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(st.cs.ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.opts.StatusURL, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if secrets := st.cs.rec.app.SigningSecrets(e.now()); len(secrets) > 0 {
		_ = webhook.SignRequest(req.Header, voice.NewID(voice.PrefixRequest, e.clock()), e.now(), body, secrets...)
	}
	resp, err := e.httpClient.Do(req)
	if err != nil {
		e.log.Info("stream status_url", slog.String("stream_id", st.id), slog.Any("error", err))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// farAudio is the leg's tap of the caller's audio.
func (st *stream) farAudio(pcm []int16) {
	if st.inTrack {
		st.queueMedia(streamItem{track: mediastream.TrackInbound, pcm: append([]int16(nil), pcm...), at: time.Now()})
	}
}

// nearAudio is the leg's tap of what the platform sends.
func (st *stream) nearAudio(pcm []int16) {
	if st.outTrack {
		st.queueMedia(streamItem{track: mediastream.TrackOutbound, pcm: append([]int16(nil), pcm...), at: time.Now()})
	}
}

// digit is the leg's tap of key presses.
func (st *stream) digit(d rune) {
	st.queueControl(&mediastream.Message{Event: mediastream.EventDTMF, DTMF: &mediastream.DTMF{Track: mediastream.TrackInbound, Digit: string(d)}})
}

// queueMedia queues a frame for the writer; when the receiver is behind
// the oldest waiting frame is dropped, so the caller never waits.
func (st *stream) queueMedia(it streamItem) {
	for {
		select {
		case st.sendQ <- it:
			return
		default:
		}
		select {
		case <-st.sendQ:
			st.dropped.Add(1)
		default:
		}
	}
}

func (st *stream) queueControl(m *mediastream.Message) {
	select {
	case st.ctlQ <- streamItem{msg: m}:
	default:
		st.dropped.Add(1)
	}
}

// writeLoop sends hello (connected, start), then queued messages until the
// stream stops.
func (st *stream) writeLoop(hello []*mediastream.Message) {
	for _, m := range hello {
		if err := st.writeMessage(m, streamWriteTimeout); err != nil {
			st.writeFailed(err)
			return
		}
	}
	var chunks [2]int64
	var pcm []int16
	var encoded []byte
	for {
		var it streamItem
		select {
		case <-st.ctx.Done():
			return
		case it = <-st.ctlQ:
		case it = <-st.sendQ:
		}
		if it.msg != nil {
			if err := st.writeMessage(it.msg, streamWriteTimeout); err != nil {
				st.writeFailed(err)
				return
			}
			continue
		}
		i, rate := 0, st.rateIn
		if it.track == mediastream.TrackOutbound {
			i, rate = 1, st.rateOut
		}
		chunks[i]++
		pcm = rate.Convert(pcm[:0], it.pcm)
		encoded = st.codec.Encode(encoded[:0], pcm)
		if err := st.writeMedia(it.track, chunks[i], it.at.Sub(st.started).Milliseconds(), encoded); err != nil {
			st.writeFailed(err)
			return
		}
		st.sent.Add(1)
	}
}

// writeMedia sends one media message, built without reflection into a
// buffer the stream reuses: it is most of what a stream sends.
func (st *stream) writeMedia(track string, chunk, timestamp int64, encoded []byte) error {
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	st.seqN++
	st.msgBuf = mediastream.AppendMedia(st.msgBuf[:0], st.seqN, st.id, track, chunk, timestamp, encoded)
	return st.writeFrameLocked(ws.NewTextFrame(st.msgBuf), streamWriteTimeout)
}

// writeFailed stops the stream after a failed write: a receiver that took
// nothing for streamWriteTimeout is too slow; a connection the receiver
// closed or reset is closed (the writer may notice before the reader);
// anything else is a failure.
func (st *stream) writeFailed(err error) {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		st.stop(StreamReasonTooSlow)
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		st.stop(StreamReasonClosed)
	default:
		st.stop(StreamReasonSendFailed)
	}
}

// writeMessage sends m as one text frame, numbered.
func (st *stream) writeMessage(m *mediastream.Message, timeout time.Duration) error {
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	st.seqN++
	m.SequenceNumber = st.seqN
	if m.Event != mediastream.EventConnected {
		m.StreamID = st.id
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("stream message: %w", err)
	}
	return st.writeFrameLocked(ws.NewTextFrame(b), timeout)
}

func (st *stream) writeFrame(f ws.Frame, timeout time.Duration) error {
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	return st.writeFrameLocked(f, timeout)
}

// writeFrameLocked writes one masked frame in one write, so a control
// reply never lands inside a message. f's payload is masked in place.
func (st *stream) writeFrameLocked(f ws.Frame, timeout time.Duration) error {
	st.frameBuf.Reset()
	if err := ws.WriteFrame(&st.frameBuf, ws.MaskFrameInPlace(f)); err != nil {
		return err
	}
	_ = st.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := st.conn.Write(st.frameBuf.Bytes())
	return err
}

// readLoop reads the application's messages until the socket closes.
func (st *stream) readLoop() {
	control := func(h ws.Header, r io.Reader) error {
		var buf bytes.Buffer
		err := wsutil.ControlFrameHandler(&buf, ws.StateClientSide)(h, r)
		if buf.Len() > 0 {
			st.writeMu.Lock()
			_ = st.conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = st.conn.Write(buf.Bytes())
			st.writeMu.Unlock()
		}
		return err
	}
	rd := &wsutil.Reader{Source: st.src, State: ws.StateClientSide, CheckUTF8: true, MaxFrameSize: streamMaxMessage, OnIntermediate: control}
	for {
		hdr, err := rd.NextFrame()
		if err != nil {
			st.readEnded(err)
			return
		}
		if hdr.OpCode.IsControl() {
			if err := control(hdr, rd); err != nil {
				st.readEnded(err)
				return
			}
			continue
		}
		data, err := io.ReadAll(io.LimitReader(rd, streamMaxMessage+1))
		if err != nil {
			st.readEnded(err)
			return
		}
		if len(data) > streamMaxMessage {
			st.stop(StreamReasonProtocol)
			return
		}
		st.handle(data)
	}
}

// readEnded stops the stream after the reader's error: the application
// closed, or the connection broke.
func (st *stream) readEnded(err error) {
	var ce wsutil.ClosedError
	switch {
	case st.ctx.Err() != nil:
	case errors.As(err, &ce), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		st.stop(StreamReasonClosed)
	case errors.Is(err, wsutil.ErrFrameTooLarge), errors.As(err, new(ws.ProtocolError)):
		st.stop(StreamReasonProtocol)
	default:
		st.stop(StreamReasonClosed)
	}
}

// handle acts on one message from the application.
func (st *stream) handle(data []byte) {
	m, err := mediastream.ParseAppMessage(data)
	if err != nil {
		st.badMessage(err.Error())
		return
	}
	switch m.Event {
	case mediastream.EventMedia:
		if !st.opts.Bidirectional {
			st.badMessage("media sent on a one-way stream is not played (use bidirectional: true)")
			return
		}
		pcm, err := st.codec.DecodePayload(nil, m.Media.Payload)
		if err != nil {
			st.badMessage(err.Error())
			return
		}
		st.enqueueAudio(st.rateBack.Convert(nil, pcm))
	case mediastream.EventMark:
		st.playMu.Lock()
		if st.queued == 0 && len(st.partial) == 0 || !st.opts.Bidirectional {
			st.playMu.Unlock()
			st.returnMarks([]string{m.Mark.Name})
			return
		}
		st.flushPartialLocked()
		st.queue = append(st.queue, playItem{mark: m.Mark.Name})
		st.playMu.Unlock()
	case mediastream.EventClear:
		st.returnMarks(st.dropQueue())
	}
}

// badMessage counts a message that was ignored; the first one of the
// stream is also reported as call.error.
func (st *stream) badMessage(why string) {
	st.invalid.Add(1)
	st.invalidOnce.Do(func() {
		_ = st.cs.rec.emit(context.WithoutCancel(st.cs.ctx), voice.EventCallError, map[string]any{"code": "stream_message_invalid",
			"message": "stream " + st.id + ": " + why + "; this and later invalid messages are ignored (counted in stream.stopped)",
			"url":     st.opts.URL, "http_status": 0})
	})
}

// enqueueAudio appends the application's audio (at the leg's rate) to the
// play queue in whole frames, dropping what would exceed StreamMaxBuffered.
func (st *stream) enqueueAudio(pcm []int16) {
	per := st.cs.leg.frameSamples()
	maxFrames := int(StreamMaxBuffered / frameDur)
	st.playMu.Lock()
	defer st.playMu.Unlock()
	st.partial = append(st.partial, pcm...)
	for len(st.partial) >= per {
		if st.queued >= maxFrames {
			st.dropped.Add(int64(len(st.partial) / per))
			st.partial = st.partial[:len(st.partial)%per]
			break
		}
		st.queue = append(st.queue, playItem{frame: append([]int16(nil), st.partial[:per]...)})
		st.queued++
		st.winFed++
		st.received.Add(1)
		st.partial = st.partial[per:]
	}
	st.partial = append([]int16(nil), st.partial...)
}

// flushPartialLocked queues an incomplete frame padded with silence, so a
// mark after it comes back after all of its audio.
func (st *stream) flushPartialLocked() {
	if len(st.partial) == 0 {
		return
	}
	frame := make([]int16, st.cs.leg.frameSamples())
	copy(frame, st.partial)
	st.queue = append(st.queue, playItem{frame: frame})
	st.queued++
	st.received.Add(1)
	st.partial = nil
}

// dropQueue empties the play queue (clear, stop) and returns its marks.
func (st *stream) dropQueue() []string {
	st.playMu.Lock()
	defer st.playMu.Unlock()
	var marks []string
	for _, it := range st.queue {
		if it.frame == nil {
			marks = append(marks, it.mark)
		}
	}
	st.queue, st.partial, st.queued = nil, nil, 0
	st.winTicks, st.winFed, st.trimBudget = 0, 0, 0
	return marks
}

// next pops the marks now reached and the next frame (nil when none
// waits). It is called once per tick of the media clock.
func (st *stream) next() (frame []int16, marks []string) {
	st.playMu.Lock()
	defer st.playMu.Unlock()
	st.watchDepthLocked()
	for {
		for len(st.queue) > 0 && st.queue[0].frame == nil {
			marks = append(marks, st.queue[0].mark)
			st.queue = st.queue[1:]
		}
		if len(st.queue) == 0 {
			return nil, marks
		}
		frame = st.queue[0].frame
		st.queue = st.queue[1:]
		st.queued--
		if st.trimBudget > 0 && st.queued > 0 && media.DBFS(frame) < trimSilenceDBFS {
			// A silent frame while later audio waits: skip it and play the
			// next one now.
			st.trimBudget--
			st.trimmed.Add(1)
			continue
		}
		return frame, marks
	}
}

// watchDepthLocked keeps the catch-up's window (see trimWindow): it notes
// the frames queued at this tick and, at the end of a window in which the
// application fed audio live yet the queue never ran low, allows skipping
// the standing excess in silent frames during the next window.
func (st *stream) watchDepthLocked() {
	if st.winTicks == 0 || st.queued < st.winMin {
		st.winMin = st.queued
	}
	st.winTicks++
	if st.winTicks < trimWindow {
		return
	}
	st.trimBudget = 0
	if st.winMin >= trimMinDepth && st.winFed >= trimLiveFeed && st.winFed <= trimBulkFeed {
		st.trimBudget = st.winMin - 1
	}
	st.winTicks, st.winFed = 0, 0
}

func (st *stream) returnMarks(marks []string) {
	for _, name := range marks {
		st.queueControl(&mediastream.Message{Event: mediastream.EventMark, Mark: &mediastream.Mark{Name: name}})
	}
}

// play sends the application's audio, or silence while none is queued,
// until the stream stops or ctx ends. It is one job on the leg's media clock
// (leg.runJob) whose pull takes the next queued frame on every tick, so
// audio queued ahead of time goes out without gaps, paced and recorded like
// any prompt.
func (st *stream) play(ctx context.Context) error {
	l := st.cs.leg
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(st.ctx, cancel)()
	l.writeMu.Lock()
	err := l.runJob(jctx, &sendJob{pull: st.pull})
	l.writeMu.Unlock()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case st.ctx.Err() != nil:
		return nil // the stream stopped: the call goes on
	case err != nil:
		st.stop(StreamReasonCallEnded)
		return err
	}
	return nil
}

// pull fills the clock's next frame from the play queue (silence when it is
// empty) and returns the marks reached. It runs on the clock's goroutine:
// nothing in it blocks.
func (st *stream) pull(frame []int16) {
	f, marks := st.next()
	if f != nil {
		copy(frame, f)
	} else {
		clear(frame)
	}
	st.returnMarks(marks)
}
