package asr

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
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

// mllrFor returns the MLLR transform file for audio at rate, or "" for
// none. Failures to set it up mean no adaptation, not a failed
// transcription: the transform is an improvement, not a requirement.
func (p *Pocketsphinx) mllrFor(rate int) string {
	if rate >= modelRate || p.mllrCfg == NarrowbandMLLRNone {
		return ""
	}
	if p.mllrCfg != "" {
		if _, err := os.Stat(p.mllrCfg); err != nil {
			return ""
		}
		return p.mllrCfg
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
		return ""
	}
	// Written once per content under TempDir, and again if something
	// (a temp cleaner) removed it.
	sum := sha256.Sum256(narrowbandMLLR)
	path := filepath.Join(cmpOr(p.tempDir, os.TempDir()), fmt.Sprintf("minivoice-asr-narrowband-%x.mllr", sum[:6]))
	if b, err := os.ReadFile(path); err == nil && string(b) == string(narrowbandMLLR) {
		return path
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".minivoice-asr-mllr-*")
	if err != nil {
		return ""
	}
	_, err = tmp.Write(narrowbandMLLR)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return ""
	}
	return path
}
