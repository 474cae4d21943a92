package callctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// Stream opens a WebSocket to the application and streams the call's audio
// to it (docs/streams.md). A one-way stream runs beside the actions after
// it; a bidirectional one also plays what the application sends back and
// holds the call until the socket closes.
type Stream struct {
	URL string `json:"url"`
	// Track is inbound (what the caller says), outbound (what the platform
	// sends them) or both.
	Track         string `json:"track"`
	Bidirectional bool   `json:"bidirectional"`
	// Encoding is audio/x-mulaw (8 kHz) or audio/l16 (8 or 16 kHz, SampleRate).
	Encoding         string            `json:"encoding"`
	SampleRate       int               `json:"sample_rate"`
	CustomParameters map[string]string `json:"custom_parameters"`
	// StatusURL receives stream.started and stream.stopped, signed.
	StatusURL string `json:"status_url"`
}

// StreamSession is what a Session implements to run stream actions; a
// session without it fails them.
type StreamSession interface {
	// Stream starts a stream on the call. A one-way stream returns once the
	// socket is open; a bidirectional one returns when the stream ends
	// (the socket closed) or ctx does.
	Stream(ctx context.Context, s *Stream) error
}

// Stream encodings, tracks and bounds (docs/streams.md).
const (
	StreamEncodingMulaw = "audio/x-mulaw"
	StreamEncodingL16   = "audio/l16"
	// MaxStreamParameters bounds custom_parameters' entries.
	MaxStreamParameters = 50
)

// ParseStream checks a stream's options as the action and the API take
// them, with path naming the object ("actions[0]", or "" for a request
// body), and applies the defaults.
func ParseStream(path string, fields map[string]json.RawMessage) (*Stream, error) {
	s := &Stream{Track: "inbound", Encoding: StreamEncodingMulaw}
	if err := decodeFields(path, fields, s); err != nil {
		return nil, err
	}
	at := func(f string) string {
		if path == "" {
			return f
		}
		return path + "." + f
	}
	if err := checkStreamURL(at("url"), s.URL); err != nil {
		return nil, err
	}
	switch s.Track {
	case "inbound", "outbound", "both":
	default:
		return nil, perr(at("track"), "must be inbound, outbound or both")
	}
	switch s.Encoding {
	case StreamEncodingMulaw:
		if s.SampleRate == 0 {
			s.SampleRate = 8000
		}
		if s.SampleRate != 8000 {
			return nil, perr(at("sample_rate"), "must be 8000 for audio/x-mulaw")
		}
	case StreamEncodingL16:
		if s.SampleRate == 0 {
			s.SampleRate = 8000
		}
		if s.SampleRate != 8000 && s.SampleRate != 16000 {
			return nil, perr(at("sample_rate"), "must be 8000 or 16000 for audio/l16")
		}
	default:
		return nil, perr(at("encoding"), "must be audio/x-mulaw or audio/l16")
	}
	if s.CustomParameters == nil {
		s.CustomParameters = map[string]string{}
	}
	if len(s.CustomParameters) > MaxStreamParameters {
		return nil, perr(at("custom_parameters"), "must have at most %d entries", MaxStreamParameters)
	}
	if n := VariablesSize(s.CustomParameters); n > MaxVariablesBytes {
		return nil, perr(at("custom_parameters"), "must be at most %d bytes in all (names and values), not %d", MaxVariablesBytes, n)
	}
	for k := range s.CustomParameters {
		if k == "" || len(k) > 64 {
			return nil, perr(at("custom_parameters"), "names must be 1 to 64 bytes")
		}
	}
	return s, checkURL(at("status_url"), s.StatusURL, false)
}

// checkStreamURL checks the shape of a stream's WebSocket URL; the SSRF
// guard decides at connect time whether its address may be reached.
func checkStreamURL(path, raw string) error {
	if raw == "" {
		return perr(path, "is required")
	}
	if len(raw) > MaxURLBytes {
		return perr(path, "must be at most %d characters", MaxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return perr(path, "must be a ws or wss URL")
	}
	if u.User != nil {
		return perr(path, "must not carry credentials")
	}
	return nil
}

// StreamHTTPURL is a stream URL with its scheme as the HTTP one it upgrades
// from (ws to http, wss to https), for checks written for HTTP URLs.
func StreamHTTPURL(raw string) string {
	if rest, ok := strings.CutPrefix(raw, "ws://"); ok {
		return "http://" + rest
	}
	if rest, ok := strings.CutPrefix(raw, "wss://"); ok {
		return "https://" + rest
	}
	return raw
}

func runStream(ctx context.Context, s Session, a *Stream) runResult {
	ss, ok := s.(StreamSession)
	if !ok {
		return runResult{err: fmt.Errorf("stream is not supported here")}
	}
	return runResult{err: ss.Stream(ctx, a)}
}
