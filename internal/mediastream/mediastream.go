// Package mediastream is the wire protocol of MiniVoice's live media streams
// (the stream action, docs/streams.md): the JSON messages the platform and an
// application exchange over a WebSocket, and the audio encodings their
// base64 payloads carry. The platform's engine and the tests' receivers both
// use it, so the two sides cannot drift apart.
package mediastream

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Events of messages from the platform.
const (
	EventConnected = "connected"
	EventStart     = "start"
	EventMedia     = "media"
	EventDTMF      = "dtmf"
	EventMark      = "mark"
	EventStop      = "stop"
)

// EventClear is the application's message that drops queued audio (the
// application also sends EventMedia and EventMark).
const EventClear = "clear"

// Tracks: inbound is what the caller (the far end) says, outbound what the
// platform sends to them.
const (
	TrackInbound  = "inbound"
	TrackOutbound = "outbound"
	TrackBoth     = "both"
)

// Encodings of a stream's payloads.
const (
	EncodingMulaw = "audio/x-mulaw" // G.711 mu-law, 8 kHz, one byte a sample
	EncodingL16   = "audio/l16"     // linear PCM16, big-endian (network order), 8 or 16 kHz
)

// Protocol is the name the connected message carries, and Version its version.
const (
	Protocol = "minivoice-stream"
	Version  = "1"
)

// FrameMillis is the duration of one media message's audio.
const FrameMillis = 20

// Message is one message either way; Event says which of the other fields
// are set.
type Message struct {
	Event string `json:"event"`
	// SequenceNumber counts the platform's messages on a stream from 1.
	SequenceNumber int64  `json:"sequence_number,omitempty"`
	StreamID       string `json:"stream_id,omitempty"`
	// Protocol and Version are set on connected.
	Protocol string `json:"protocol,omitempty"`
	Version  string `json:"version,omitempty"`
	Start    *Start `json:"start,omitempty"`
	Media    *Media `json:"media,omitempty"`
	DTMF     *DTMF  `json:"dtmf,omitempty"`
	Mark     *Mark  `json:"mark,omitempty"`
	Stop     *Stop  `json:"stop,omitempty"`
}

// Start describes the stream, sent once after connected.
type Start struct {
	CallID           string            `json:"call_id"`
	CustomerID       string            `json:"customer_id"`
	ApplicationID    string            `json:"application_id,omitempty"`
	Tracks           []string          `json:"tracks"`
	Bidirectional    bool              `json:"bidirectional"`
	MediaFormat      Format            `json:"media_format"`
	CustomParameters map[string]string `json:"custom_parameters"`
}

// Format is a stream's audio format: mono, 20 ms a message.
type Format struct {
	Encoding   string `json:"encoding"`
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
}

// Media is one frame of audio. From the platform it names its track, its
// chunk number on that track (from 1) and its timestamp (milliseconds since
// the call was answered); from the application only Payload counts.
type Media struct {
	Track     string `json:"track,omitempty"`
	Chunk     int64  `json:"chunk,omitempty"`
	Timestamp int64  `json:"timestamp,omitempty"`
	Payload   string `json:"payload"`
}

// DTMF is one key the caller pressed.
type DTMF struct {
	Track string `json:"track"`
	Digit string `json:"digit"`
}

// Mark names a point in the audio the application sent: the platform sends
// it back once the audio before it has been played (or cleared).
type Mark struct {
	Name string `json:"name"`
}

// Stop ends the stream and says why (a docs/streams.md reason).
type Stop struct {
	CallID string `json:"call_id"`
	Reason string `json:"reason"`
}

// MaxMarkName bounds a mark's name.
const MaxMarkName = 256

// ParseAppMessage reads a message from the application and checks it: a
// known event with what it needs. The error says what is wrong, in words
// fit for the customer's call.error.
func ParseAppMessage(b []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errors.New("a message is not a JSON object")
	}
	switch m.Event {
	case EventMedia:
		if m.Media == nil || m.Media.Payload == "" {
			return nil, errors.New("a media message has no media.payload")
		}
	case EventMark:
		if m.Mark == nil || m.Mark.Name == "" || len(m.Mark.Name) > MaxMarkName {
			return nil, fmt.Errorf("a mark message needs mark.name of 1 to %d bytes", MaxMarkName)
		}
	case EventClear:
	default:
		return nil, fmt.Errorf("unknown event %.40q (expected media, mark or clear)", m.Event)
	}
	return &m, nil
}

// Codec turns PCM16 at the format's rate into payload bytes and back.
type Codec struct{ f Format }

// NewCodec returns the codec of f, or an error for an unsupported format.
func NewCodec(f Format) (*Codec, error) {
	switch {
	case f.Encoding == EncodingMulaw && f.SampleRate == 8000:
	case f.Encoding == EncodingL16 && (f.SampleRate == 8000 || f.SampleRate == 16000):
	default:
		return nil, fmt.Errorf("unsupported media format %s at %d Hz", f.Encoding, f.SampleRate)
	}
	return &Codec{f: f}, nil
}

// Format is the codec's format.
func (c *Codec) Format() Format { return c.f }

// Encode appends pcm's payload bytes to dst.
func (c *Codec) Encode(dst []byte, pcm []int16) []byte {
	if c.f.Encoding == EncodingMulaw {
		for _, s := range pcm {
			dst = append(dst, MulawEncode(s))
		}
		return dst
	}
	for _, s := range pcm {
		dst = append(dst, byte(uint16(s)>>8), byte(s))
	}
	return dst
}

// Decode appends the samples of payload to dst; an odd trailing byte of L16
// is ignored.
func (c *Codec) Decode(dst []int16, payload []byte) []int16 {
	if c.f.Encoding == EncodingMulaw {
		for _, b := range payload {
			dst = append(dst, MulawDecode(b))
		}
		return dst
	}
	for i := 0; i+1 < len(payload); i += 2 {
		dst = append(dst, int16(uint16(payload[i])<<8|uint16(payload[i+1])))
	}
	return dst
}

// EncodePayload is Encode then base64, a media message's payload.
func (c *Codec) EncodePayload(pcm []int16) string {
	return base64.StdEncoding.EncodeToString(c.Encode(nil, pcm))
}

// DecodePayload is base64 then Decode.
func (c *Codec) DecodePayload(dst []int16, payload string) ([]int16, error) {
	b, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return dst, errors.New("a media payload is not base64")
	}
	return c.Decode(dst, b), nil
}

// MulawEncode is G.711 mu-law of one sample.
func MulawEncode(s int16) byte {
	const bias, clip = 0x84, 32635
	x := int(s)
	sign := 0
	if x < 0 {
		x, sign = -x, 0x80
	}
	if x > clip {
		x = clip
	}
	x += bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (x >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

// MulawDecode is the sample of one G.711 mu-law byte.
func MulawDecode(b byte) int16 {
	b = ^b
	exp := int(b>>4) & 7
	x := ((int(b&0x0f) << 3) + 0x84) << exp
	x -= 0x84
	if b&0x80 != 0 {
		return int16(-x)
	}
	return int16(x)
}

// Rate converts mono PCM16 between 8 and 16 kHz, keeping state between
// frames so 20 ms frames join without clicks: upsampling interpolates
// between samples, downsampling averages pairs (a light low-pass before
// dropping every other sample). Equal rates copy.
type Rate struct {
	in, out int
	last    int16
}

// NewRate returns a converter from in to out Hz (each 8000 or 16000).
func NewRate(in, out int) *Rate { return &Rate{in: in, out: out} }

// Convert appends pcm, converted, to dst.
func (r *Rate) Convert(dst, pcm []int16) []int16 {
	switch {
	case r.in == r.out:
		return append(dst, pcm...)
	case r.out == 2*r.in:
		for _, s := range pcm {
			dst = append(dst, int16((int(r.last)+int(s))/2), s)
			r.last = s
		}
		return dst
	case r.in == 2*r.out:
		for i := 0; i+1 < len(pcm); i += 2 {
			dst = append(dst, int16((int(pcm[i])+int(pcm[i+1]))/2))
		}
		return dst
	}
	return append(dst, pcm...)
}

// AppendMedia appends the platform's media message (Message with Event media
// and Media set) to dst, exactly as json.Marshal writes it, without
// reflection or a base64 string: it is the message sent 50 times a second
// per track of every stream. encoded is the audio in the stream's encoding.
func AppendMedia(dst []byte, seq int64, streamID, track string, chunk, timestamp int64, encoded []byte) []byte {
	if !plainJSON(streamID) || !plainJSON(track) {
		b, _ := json.Marshal(&Message{Event: EventMedia, SequenceNumber: seq, StreamID: streamID,
			Media: &Media{Track: track, Chunk: chunk, Timestamp: timestamp, Payload: base64.StdEncoding.EncodeToString(encoded)}})
		return append(dst, b...)
	}
	dst = append(dst, `{"event":"media"`...)
	if seq != 0 {
		dst = strconv.AppendInt(append(dst, `,"sequence_number":`...), seq, 10)
	}
	if streamID != "" {
		dst = append(append(append(dst, `,"stream_id":"`...), streamID...), '"')
	}
	dst = append(dst, `,"media":{`...)
	sep := ""
	if track != "" {
		dst = append(append(append(dst, `"track":"`...), track...), '"')
		sep = ","
	}
	if chunk != 0 {
		dst = strconv.AppendInt(append(append(dst, sep...), `"chunk":`...), chunk, 10)
		sep = ","
	}
	if timestamp != 0 {
		dst = strconv.AppendInt(append(append(dst, sep...), `"timestamp":`...), timestamp, 10)
		sep = ","
	}
	dst = append(append(dst, sep...), `"payload":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, encoded)
	return append(dst, `"}}`...)
}

// plainJSON reports whether s needs no escaping in a JSON string as
// encoding/json writes it (which also escapes <, > and &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x80, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
