package asr

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

// Narrowband acoustic adaptation. An MLLR transform of the en-us model's
// means, estimated by sphinxtrain on flite speech sent through G.711 and
// prepared as the engine prepares 8 kHz audio (bench/asr-wer/adapt, from
// Debian packages only: regenerate with
//
//	go run ./bench/asr-wer/adapt -out internal/insights/asr/narrowband.mllr
//
// ), moves the model towards what telephone-band audio looks like after
// the band filling. The engine hands it to pocketsphinx (-mllr) for audio
// sampled below 16 kHz. It fits exactly one model, the one whose means
// file hashes to narrowbandMLLRMeans; with any other model directory, or
// PocketsphinxConfig.NarrowbandMLLR "none", 8 kHz audio is decoded
// unadapted, as before. docs/insights.md has the measurements.

//go:embed narrowband.mllr
var narrowbandMLLR []byte

//go:embed narrowband.mllr.means-sha256
var narrowbandMLLRMeans string

// NarrowbandMLLRNone, as PocketsphinxConfig.NarrowbandMLLR, turns the
// narrowband adaptation off.
const NarrowbandMLLRNone = "none"

// mllrFor returns the MLLR transform file for audio at rate, "" for none,
// and a function that removes the file once the transcription is done.
// Failures to set it up mean no adaptation, not a failed transcription:
// the transform is an improvement, not a requirement.
func (p *Pocketsphinx) mllrFor(rate int) (path string, done func()) {
	done = func() {}
	if rate >= modelRate || p.mllrCfg == NarrowbandMLLRNone {
		return "", done
	}
	if p.mllrCfg != "" {
		if _, err := os.Stat(p.mllrCfg); err != nil {
			return "", done
		}
		return p.mllrCfg, done
	}
	p.mllrOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join(p.modelDir, psAcousticModel, "means"))
		if err != nil {
			return
		}
		sum := sha256.Sum256(b)
		p.mllrMatch = hex.EncodeToString(sum[:]) == strings.TrimSpace(narrowbandMLLRMeans)
	})
	if !p.mllrMatch || len(narrowbandMLLR) == 0 {
		return "", done
	}
	// A temporary copy per transcription (5 kB): nothing is left behind,
	// and nothing a temp cleaner removes can break a later run.
	f, err := os.CreateTemp(p.tempDir, "minivoice-asr-*.mllr")
	if err != nil {
		return "", done
	}
	_, err = f.Write(narrowbandMLLR)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", done
	}
	return f.Name(), func() { _ = os.Remove(f.Name()) }
}
