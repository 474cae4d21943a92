// Package rtpaudio is the audio side of RTP that the call engine and the
// network simulator share: which codecs MiniVoice negotiates, in which order,
// and how payloads turn into 16-bit PCM and back. G.711 comes from diago;
// G.722 from internal/media/g722.
package rtpaudio

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emiago/diago/audio"
	dmedia "github.com/emiago/diago/media"
	"github.com/minivoice/minivoice/internal/media/g722"
)

// CodecG722 is ITU-T G.722 as SDP names it: static payload type 9 with an RTP
// clock of 8000 although the audio is 16 kHz (RFC 3551 4.5.2). Declaring the
// clock as 8000 makes diago advance RTP timestamps by 160 per 20 ms packet,
// which is what every G.722 peer expects.
var CodecG722 = dmedia.Codec{Name: "G722", PayloadType: 9, SampleRate: 8000, SampleDur: 20 * time.Millisecond, NumChannels: 1}

// MediaCodecs are the codecs the platform offers and accepts, best first:
// wideband G.722, then G.711 µ-law and A-law, plus RFC 4733 telephone-event.
var MediaCodecs = []dmedia.Codec{CodecG722, dmedia.CodecAudioUlaw, dmedia.CodecAudioAlaw, dmedia.CodecTelephoneEvent8000}

func init() {
	// Answer with our order of preference rather than the offer's, so that
	// G.722 wins whenever the far end offers it at all (telephony.md). diago
	// keeps this in a package variable; setting it before any call exists
	// keeps it race-free.
	dmedia.SDPCodecPreferLocalOrder = 1
}

// IsG722 reports whether c is G.722.
func IsG722(c dmedia.Codec) bool {
	return c.PayloadType == 9 || strings.EqualFold(c.Name, "G722")
}

// PCMRate is the sample rate of a codec's audio: 16 kHz for G.722, else the
// RTP clock rate.
func PCMRate(c dmedia.Codec) int {
	if IsG722(c) {
		return 16000
	}
	return int(c.SampleRate)
}

// CodecName is the name a call object shows: "G722", "PCMU", "PCMA".
func CodecName(c dmedia.Codec) string {
	switch {
	case IsG722(c):
		return "G722"
	case c.PayloadType == 0:
		return "PCMU"
	case c.PayloadType == 8:
		return "PCMA"
	}
	return strings.ToUpper(c.Name)
}

// AudioCodec encodes and decodes one stream's audio payloads. Each direction
// of a leg has its own, since G.722 keeps adaptive state per stream.
type AudioCodec struct {
	kind int // 0 PCMU, 8 PCMA, 9 G.722
	enc  *g722.Encoder
	dec  *g722.Decoder
}

// NewAudioCodec returns the payload codec for c.
func NewAudioCodec(c dmedia.Codec) (*AudioCodec, error) {
	switch {
	case IsG722(c):
		return &AudioCodec{kind: 9, enc: g722.NewEncoder(), dec: g722.NewDecoder()}, nil
	case c.PayloadType == 0:
		return &AudioCodec{kind: 0}, nil
	case c.PayloadType == 8:
		return &AudioCodec{kind: 8}, nil
	}
	return nil, fmt.Errorf("unsupported audio codec %s/%d", c.Name, c.SampleRate)
}

// Encode appends the payload for pcm (at the codec's PCM rate) to dst.
func (a *AudioCodec) Encode(dst []byte, pcm []int16) []byte {
	switch a.kind {
	case 9:
		return a.enc.Encode(dst, pcm)
	case 0:
		return encodeG711(dst, pcm, &ulawEncode)
	}
	return encodeG711(dst, pcm, &alawEncode)
}

// Decode appends the samples of payload to dst.
func (a *AudioCodec) Decode(dst []int16, payload []byte) []int16 {
	switch a.kind {
	case 9:
		return a.dec.Decode(dst, payload)
	case 0:
		return decodeG711(dst, payload, &ulawDecode)
	}
	return decodeG711(dst, payload, &alawDecode)
}

// G.711 is a fixed mapping, so both directions are table lookups: 64 KiB per
// law to encode (one entry per 16-bit sample) and 512 bytes to decode. The
// tables are filled from diago's own converters, so the bytes are the ones
// diago produced when it did the coding (TestG711MatchesDiago).
var (
	ulawEncode, alawEncode [1 << 16]byte
	ulawDecode, alawDecode [256]int16
)

func init() {
	lpcm := make([]byte, 2<<16)
	for i := range 1 << 16 {
		binary.LittleEndian.PutUint16(lpcm[2*i:], uint16(i))
	}
	_, _ = audio.EncodeUlawTo(ulawEncode[:], lpcm)
	_, _ = audio.EncodeAlawTo(alawEncode[:], lpcm)
	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	out := make([]byte, 512)
	_, _ = audio.DecodeUlawTo(out, codes)
	for i := range ulawDecode {
		ulawDecode[i] = int16(binary.LittleEndian.Uint16(out[2*i:]))
	}
	_, _ = audio.DecodeAlawTo(out, codes)
	for i := range alawDecode {
		alawDecode[i] = int16(binary.LittleEndian.Uint16(out[2*i:]))
	}
}

func encodeG711(dst []byte, pcm []int16, table *[1 << 16]byte) []byte {
	dst = slices.Grow(dst, len(pcm))
	for _, s := range pcm {
		dst = append(dst, table[uint16(s)])
	}
	return dst
}

func decodeG711(dst []int16, payload []byte, table *[256]int16) []int16 {
	dst = slices.Grow(dst, len(payload))
	for _, c := range payload {
		dst = append(dst, table[c])
	}
	return dst
}
