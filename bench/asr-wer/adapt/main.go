// Command adapt makes the MLLR transform that adapts pocketsphinx's en-us
// acoustic model to narrowband (G.711) calls (or, with -codec G722, to
// wideband ones), from Debian packages only
// (flite, pocketsphinx-en-us, sphinxbase-utils, sphinxtrain):
//
//	go run ./bench/asr-wer/adapt -out internal/insights/asr/narrowband.mllr
//
// It renders train.txt (sentences written for this, none of them an
// evaluation sentence) with every general flite voice at 8 kHz, passes the
// audio through G.711 µ-law, prepares it exactly as the engine does
// (asr.ModelInput: 16 kHz with the upper band filled), computes features
// with sphinx_fe, collects statistics with sphinxtrain's bw, and solves one
// global MLLR transform with mllr_solve. The en-us model ships its mixture
// weights only as a quantised sendump, which bw cannot read, so they are
// expanded to a mixture_weights file first (as sphinxtrain's sendump.py
// does). Everything happens in a temporary directory; the output is the
// transform, a few kB of text, plus OUT.means-sha256: the model it fits.
//
// pocketsphinx-testdata's human recordings are never used here: they are
// the evaluation's.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/minivoice/minivoice/bench/asr-wer/wer"
	"github.com/minivoice/minivoice/internal/insights/asr"
	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/media/g722"
	"github.com/minivoice/minivoice/internal/tts"
)

const sphinxtrain = "/usr/lib/sphinxtrain"

func main() {
	out := flag.String("out", "internal/insights/asr/narrowband.mllr", "where to write the MLLR transform")
	model := flag.String("model", asr.DefaultPocketsphinxModelDir, "pocketsphinx model directory (en-us, cmudict-en-us.dict)")
	train := flag.String("train", "bench/asr-wer/adapt/train.txt", "adaptation sentences")
	voices := flag.String("voices", "kal,kal16,awb,rms,slt", "flite voices to render them with")
	codec := flag.String("codec", "PCMU", "the call audio to adapt to: PCMU (8 kHz, µ-law) or G722 (16 kHz)")
	keep := flag.Bool("keep", false, "keep the work directory (printed)")
	flag.Parse()
	if err := run(*out, *model, *train, strings.Split(*voices, ","), strings.ToUpper(*codec), *keep); err != nil {
		fmt.Fprintf(os.Stderr, "adapt: %v\n", err)
		os.Exit(1)
	}
}

func run(out, model, trainFile string, voices []string, codec string, keep bool) error {
	ctx := context.Background()
	rate, through := 8000, ulawRoundTrip
	switch codec {
	case "PCMU":
	case "G722":
		rate, through = 16000, g722RoundTrip
	default:
		return fmt.Errorf("-codec %q: want PCMU or G722", codec)
	}
	start := time.Now()
	sents, err := wer.LoadSentences(trainFile)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "minivoice-adapt-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(os.Stderr, "work directory: %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	hmm := filepath.Join(model, "en-us")
	dict := filepath.Join(model, "cmudict-en-us.dict")

	// A model directory bw can read: the en-us files plus expanded
	// mixture weights and a text mdef.
	adapt := filepath.Join(work, "model")
	if err := os.MkdirAll(adapt, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"means", "variances", "transition_matrices", "noisedict", "feat.params"} {
		if err := copyFile(filepath.Join(hmm, f), filepath.Join(adapt, f)); err != nil {
			return err
		}
	}
	if err := sendumpToMixw(filepath.Join(hmm, "sendump"), filepath.Join(adapt, "mixture_weights")); err != nil {
		return fmt.Errorf("sendump: %w", err)
	}
	if err := sh(ctx, work, "pocketsphinx_mdef_convert", "-text", filepath.Join(hmm, "mdef"), filepath.Join(adapt, "mdef.txt")); err != nil {
		return err
	}

	// Training audio, as a G.711 call delivers it and the engine sees it.
	speaker, err := tts.New(tts.Config{CacheDir: filepath.Join(work, "tts")})
	if err != nil {
		return err
	}
	wavDir := filepath.Join(work, "wav")
	if err := os.MkdirAll(wavDir, 0o755); err != nil {
		return err
	}
	var ids, trans []string
	var audioSec float64
	for _, v := range voices {
		for i, s := range sents {
			p, err := speaker.Render(ctx, v, s, rate)
			if err != nil {
				return fmt.Errorf("flite %s: %w", v, err)
			}
			p = through(p)
			in := asr.ModelInput(asr.Audio{Samples: p.Samples, Rate: p.Rate})
			id := fmt.Sprintf("%s-%02d", v, i+1)
			if err := writeWAV(filepath.Join(wavDir, id+".wav"), in); err != nil {
				return err
			}
			audioSec += in.Duration().Seconds()
			ids = append(ids, id)
			trans = append(trans, fmt.Sprintf("<s> %s </s> (%s)", words(s), id))
		}
	}
	ctl, lsn := filepath.Join(work, "train.fileids"), filepath.Join(work, "train.transcription")
	if err := os.WriteFile(ctl, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(lsn, []byte(strings.Join(trans, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "adapt: %d utterances, %.0f s of audio (%s, %d Hz, through %s)\n", len(ids), audioSec, strings.Join(voices, ","), rate, codec)

	if err := sh(ctx, work, "sphinx_fe", "-argfile", filepath.Join(hmm, "feat.params"), "-samprate", "16000", "-c", ctl,
		"-di", wavDir, "-do", wavDir, "-ei", "wav", "-eo", "mfc", "-mswav", "yes"); err != nil {
		return err
	}
	accum := filepath.Join(work, "accum")
	if err := os.MkdirAll(accum, 0o755); err != nil {
		return err
	}
	if err := sh(ctx, work, filepath.Join(sphinxtrain, "bw"), "-hmmdir", adapt, "-moddeffn", filepath.Join(adapt, "mdef.txt"),
		"-ts2cbfn", ".ptm.", "-feat", "1s_c_d_dd", "-svspec", "0-12/13-25/26-38", "-cmn", "batch", "-agc", "none",
		"-dictfn", dict, "-fdictfn", filepath.Join(adapt, "noisedict"), "-ctlfn", ctl, "-lsnfn", lsn, "-cepdir", wavDir,
		"-accumdir", accum, "-timing", "no"); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := sh(ctx, work, filepath.Join(sphinxtrain, "mllr_solve"), "-meanfn", filepath.Join(adapt, "means"),
		"-varfn", filepath.Join(adapt, "variances"), "-outmllrfn", tmp, "-accumdir", accum); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	sum, err := fileSHA256(filepath.Join(hmm, "means"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(out+".means-sha256", []byte(sum+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "adapt: wrote %s (for means %s) in %.0f s\n", out, sum[:12], time.Since(start).Seconds())
	return nil
}

// words is a sentence as a transcript: lower case, letters and
// apostrophes.
func words(s string) string {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r == '\'')
	})
	return strings.Join(f, " ")
}

// sendumpToMixw expands pocketsphinx's quantised mixture weights (sendump:
// per feature stream and codeword, one byte per senone holding
// -log_1.0001(w) >> 10) into a Sphinx-3 mixture_weights file (float32,
// senone x stream x codeword), as sphinxtrain's sendump.py does.
func sendumpToMixw(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	r := b
	readInt := func() (int, error) {
		if len(r) < 4 {
			return 0, io.ErrUnexpectedEOF
		}
		v := int(int32(binary.LittleEndian.Uint32(r)))
		r = r[4:]
		return v, nil
	}
	nFeat, clusters := 0, 0
	for first := true; ; first = false {
		n, err := readInt()
		if err != nil {
			return err
		}
		if n == 0 && !first {
			break
		}
		if n < 0 || n > len(r) {
			return errors.New("bad header string length")
		}
		h := strings.TrimRight(string(r[:n]), "\x00")
		r = r[n:]
		if v, ok := strings.CutPrefix(h, "feature_count "); ok {
			fmt.Sscan(v, &nFeat)
		}
		if v, ok := strings.CutPrefix(h, "cluster_count "); ok {
			fmt.Sscan(v, &clusters)
		}
	}
	if clusters != 0 {
		return fmt.Errorf("clustered sendump (cluster_count %d) not supported", clusters)
	}
	nDensity, err := readInt()
	if err != nil {
		return err
	}
	nSen, err := readInt()
	if err != nil {
		return err
	}
	if nFeat <= 0 || nDensity <= 0 || nSen <= 0 || len(r) != nFeat*nDensity*nSen {
		return fmt.Errorf("%d streams x %d codewords x %d senones does not match %d bytes", nFeat, nDensity, nSen, len(r))
	}
	w := make([]float32, nSen*nFeat*nDensity)
	for f := range nFeat {
		for d := range nDensity {
			for s := range nSen {
				q := r[(f*nDensity+d)*nSen+s]
				w[(s*nFeat+f)*nDensity+d] = float32(math.Pow(1.0001, -float64(int(q)<<10)))
			}
		}
	}
	fh, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(fh)
	// The Sphinx-3 binary header, padded so the data starts 4-byte aligned.
	hdr := "s3\nversion 1.0\n"
	if pad := (len(hdr) + len("endhdr\n")) % 4; pad != 0 {
		hdr += strings.Repeat(" ", 4-pad)
	}
	hdr += "endhdr\n"
	bw.WriteString(hdr)
	le := binary.LittleEndian
	for _, v := range []uint32{0x11223344, uint32(nSen), uint32(nFeat), uint32(nDensity), uint32(len(w))} {
		_ = binary.Write(bw, le, v)
	}
	_ = binary.Write(bw, le, w)
	if err := bw.Flush(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// ulawRoundTrip encodes p as G.711 µ-law and decodes it again: the
// quantisation a PCMU call adds.
func ulawRoundTrip(p *media.PCM) *media.PCM {
	out := &media.PCM{Rate: p.Rate, Samples: make([]int16, len(p.Samples))}
	for i, s := range p.Samples {
		out.Samples[i] = ulawDecode(ulawEncode(s))
	}
	return out
}

// g722RoundTrip encodes p (16 kHz) as G.722 and decodes it again.
func g722RoundTrip(p *media.PCM) *media.PCM {
	data := g722.NewEncoder().Encode(nil, p.Samples)
	return &media.PCM{Rate: p.Rate, Samples: g722.NewDecoder().Decode(nil, data)}
}

// ulawEncode and ulawDecode are ITU-T G.711 µ-law.
func ulawEncode(s int16) byte {
	const bias, clip = 0x84, 32635
	v := int(s)
	sign := 0
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, clip) + bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

func ulawDecode(u byte) int16 {
	u = ^u
	t := (int(u&0x0f)<<3 + 0x84) << ((u & 0x70) >> 4)
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

func writeWAV(path string, p *media.PCM) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := media.WriteWAV(f, p); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// sh runs a tool, its output to work/NAME.log, and reports the log's
// error lines when it fails.
func sh(ctx context.Context, work, name string, args ...string) error {
	log := filepath.Join(work, filepath.Base(name)+".log")
	f, err := os.Create(log)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(log)
		var errs []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "ERROR") || strings.Contains(l, "FATAL") {
				errs = append(errs, l)
			}
		}
		if len(errs) > 5 {
			errs = errs[len(errs)-5:]
		}
		return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, strings.Join(errs, "; "))
	}
	return nil
}
