package recording

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/voice"
)

// Finish fills the fields of a recording that become known when its file is
// final, from the file's Result: duration in seconds at millisecond
// precision, size, hash, status completed, and ended_at/updated_at = now. The
// call engine (after Recorder.Close) and Recover (after repairing a file)
// both use it, so a recording closed either way looks the same.
func Finish(r *voice.Recording, res Result, now time.Time) {
	r.Duration = math.Round(res.Duration.Seconds()*1000) / 1000
	r.SizeBytes = res.SizeBytes
	r.SHA256 = res.SHA256
	r.Status = voice.RecordingCompleted
	r.EndedAt = &now
	r.UpdatedAt = now
	r.Error = ""
}

// fileResult measures a finished WAV file by reading it back: its duration
// from the header, its size, and the SHA-256 of every byte. Reading back
// rather than hashing while writing keeps it obviously right (the header is
// rewritten in place), and it is fast enough for hours of audio. It uses
// ReadAt only, so it does not move the file's offset.
func fileResult(f *os.File) (Result, error) {
	fi, err := f.Stat()
	if err != nil {
		return Result{}, fmt.Errorf("recording: %w", err)
	}
	size := fi.Size()
	d, err := wavDuration(io.NewSectionReader(f, 0, size))
	if err != nil {
		return Result{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return Result{}, fmt.Errorf("recording: hashing %s: %w", f.Name(), err)
	}
	return Result{Duration: d, SizeBytes: size, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// wavDuration reads a PCM WAV file's headers (not its audio) and returns how
// long its data chunk plays for. A data chunk claiming more than the file
// holds counts only what is there.
func wavDuration(r *io.SectionReader) (time.Duration, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return 0, fmt.Errorf("%w: no RIFF/WAVE header", media.ErrMalformedWAV)
	}
	le := binary.LittleEndian
	rate, frame := 0, 0
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return 0, fmt.Errorf("%w: no data chunk", media.ErrMalformedWAV)
		}
		size := int64(le.Uint32(ch[4:]))
		switch string(ch[:4]) {
		case "fmt ":
			var fb [16]byte
			if size < 16 {
				return 0, fmt.Errorf("%w: fmt chunk size %d", media.ErrMalformedWAV, size)
			}
			if _, err := io.ReadFull(r, fb[:]); err != nil {
				return 0, fmt.Errorf("%w: truncated fmt chunk", media.ErrMalformedWAV)
			}
			rate, frame = int(le.Uint32(fb[4:])), int(le.Uint16(fb[12:]))
			size -= 16
		case "data":
			if rate <= 0 || frame <= 0 {
				return 0, fmt.Errorf("%w: data chunk without a usable fmt chunk", media.ErrMalformedWAV)
			}
			off, _ := r.Seek(0, io.SeekCurrent)
			size = min(size, r.Size()-off)
			return samplesDuration(size/int64(frame), rate), nil
		}
		if _, err := r.Seek(size+size%2, io.SeekCurrent); err != nil {
			return 0, err
		}
	}
}
