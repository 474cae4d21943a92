// Package media holds MiniVoice's audio building blocks: a mono PCM buffer,
// a robust WAV reader for user uploads and TTS output, a crash-safe incremental
// WAV writer for recordings, a windowed-sinc resampler, and level meters that
// tests use to check that audio really arrived.
//
// Everything here is plain Go with no dependencies, so the call engine, the
// network simulator and the insights pipeline can share it. G.711 codecs for
// RTP live in github.com/emiago/diago/audio (EncodeUlawTo, DecodeUlawTo,
// EncodeAlawTo, DecodeAlawTo); this package only carries the small decode
// tables it needs to read G.711 WAV files.
package media

import "time"

// PCM is mono 16-bit linear PCM at Rate samples per second. It is the one
// in-memory audio format the platform passes around: codecs decode into it,
// TTS renders into it and recordings are made from it.
type PCM struct {
	// Rate is the sample rate in Hz.
	Rate int
	// Samples are signed 16-bit samples, one per sampling instant.
	Samples []int16
}

// clone returns a deep copy so callers may mutate the result freely.
func (p *PCM) clone() *PCM {
	return &PCM{Rate: p.Rate, Samples: append([]int16(nil), p.Samples...)}
}

// samplesDuration converts a sample count to a duration without overflowing
// however long the buffer: n*time.Second alone would overflow int64 past
// about 9.2e9 samples.
func samplesDuration(n, rate int) time.Duration {
	sec := n / rate
	rem := n % rate
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(rate)
}
