package console

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/voice"
)

// Waveform drawing: waveBuckets stretches across, waveLane pixels per
// channel. The SVG is a few tens of KiB whatever the recording's length.
const (
	waveBuckets = 600
	waveLane    = 60
)

// waveform draws the call's recording as an SVG image, one lane per
// channel (for a dual recording: the far end above, the platform below),
// computed in one streaming pass over the file. It is its own request, not
// part of the call page, so the page renders in milliseconds whatever the
// recording's length; the image is cached by the browser under the
// recording's hash.
func (c *Console) waveform(w http.ResponseWriter, r *http.Request, s *session) error {
	rec, err := c.playedRecording(r, s)
	if err != nil {
		return err
	}
	etag := `"wave-` + rec.SHA256 + `"`
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	f, err := c.files.Open(rec.StorageKey)
	if errors.Is(err, fs.ErrNotExist) {
		return voice.Errorf(voice.ECodeNotFound, "the media of recording %s is missing", rec.ID)
	}
	if err != nil {
		return fmt.Errorf("waveform: %w", err)
	}
	defer f.Close()
	p, err := media.WAVPeaks(f, waveBuckets)
	if err != nil {
		return fmt.Errorf("waveform of %s: %w", rec.ID, err)
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "private, max-age=86400")
	h.Set("ETag", etag)
	_, err = w.Write([]byte(waveSVG(p)))
	return err
}

// waveSVG draws p: for each channel a lane with one vertical stroke per
// stretch from its lowest to its highest sample.
func waveSVG(p *media.Peaks) string {
	height := waveLane * len(p.Min)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img">`, waveBuckets, height)
	title := fmt.Sprintf("Waveform, %.1f s", p.Duration)
	if len(p.Min) == 2 {
		title += ": the far end above, the platform below"
	}
	fmt.Fprintf(&b, `<title>%s</title>`, title)
	colors := []string{"#1d4ed8", "#7e22ce"}
	for c := range p.Min {
		mid := float64(c*waveLane) + waveLane/2.0
		scale := (waveLane/2.0 - 2) / 32768
		fmt.Fprintf(&b, `<line x1="0" x2="%d" y1="%.1f" y2="%.1f" stroke="#d1d5db" stroke-width="1"/>`, waveBuckets, mid, mid)
		fmt.Fprintf(&b, `<path stroke="%s" stroke-width="1" d="`, colors[c%len(colors)])
		for x := range p.Min[c] {
			top := mid - float64(p.Max[c][x])*scale
			bottom := mid - float64(p.Min[c][x])*scale
			if bottom-top < 1 {
				top, bottom = mid-0.5, mid+0.5
			}
			fmt.Fprintf(&b, "M%d.5 %.1fV%.1f", x, top, bottom)
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return b.String()
}
