package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/minivoice/minivoice/internal/checklist"
)

// isTerminal reports whether w is a terminal that understands cursor
// movement, for the live progress view.
func isTerminal(w io.Writer, getenv func(string) string) bool {
	f, ok := w.(*os.File)
	if !ok || getenv("TERM") == "dumb" || getenv("NO_COLOR") != "" && getenv("TERM") == "" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressView shows checklist cases as they run: on a terminal one line per
// case redrawn in place, otherwise one plain line per step.
type progressView struct {
	w     io.Writer
	tty   bool
	start time.Time

	mu    sync.Mutex
	order []string
	title map[string]string
	line  map[string]string
	state map[string]checklist.State
	drawn int
	stop  chan struct{}
	done  chan struct{}
}

func newProgressView(w io.Writer, tty bool, cases []string) *progressView {
	p := &progressView{w: w, tty: tty, start: time.Now(), order: cases, title: map[string]string{},
		line: map[string]string{}, state: map[string]checklist.State{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, c := range cases {
		p.line[c] = "waiting"
	}
	if tty {
		// The owner of the ticker goroutine is the view: Close stops it.
		go func() {
			defer close(p.done)
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					p.mu.Lock()
					p.redraw()
					p.mu.Unlock()
				}
			}
		}()
	} else {
		close(p.done)
	}
	return p
}

// Event takes one checklist event; safe from several goroutines.
func (p *progressView) Event(e checklist.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Step {
	case "start":
		p.title[e.Case] = e.Detail
		p.state[e.Case] = checklist.Running
		p.line[e.Case] = "started"
	case "done":
		p.state[e.Case] = e.State
		if e.State == checklist.Passed {
			p.line[e.Case] = "passed"
		} else {
			p.line[e.Case] = "FAILED: " + e.Detail
		}
	default:
		mark := "ok"
		if e.State == checklist.Failed {
			mark = "FAILED"
		}
		p.line[e.Case] = e.Step + " " + mark + ": " + e.Detail
	}
	if p.tty {
		p.redraw()
		return
	}
	at := time.Since(p.start).Seconds()
	switch e.Step {
	case "start":
		fmt.Fprintf(p.w, "[%6.1fs] %-18s start: %s\n", at, e.Case, e.Detail)
	case "done":
		fmt.Fprintf(p.w, "[%6.1fs] %-18s %s\n", at, e.Case, strings.ToUpper(string(e.State)))
	default:
		fmt.Fprintf(p.w, "[%6.1fs] %-18s %s\n", at, e.Case, p.line[e.Case])
	}
}

var spinner = []string{"|", "/", "-", "\\"}

// redraw rewrites the case lines in place. Called with p.mu held.
func (p *progressView) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	elapsed := time.Since(p.start)
	spin := spinner[int(elapsed/(250*time.Millisecond))%len(spinner)]
	for _, c := range p.order {
		mark := " "
		switch p.state[c] {
		case checklist.Running:
			mark = spin
		case checklist.Passed:
			mark = "✓"
		case checklist.Failed:
			mark = "✗"
		}
		line := fmt.Sprintf("%s %-18s %s", mark, c, p.line[c])
		if r := []rune(line); len(r) > 110 {
			line = string(r[:107]) + "..."
		}
		fmt.Fprintf(&b, "\x1b[2K%s\n", line)
	}
	fmt.Fprintf(&b, "\x1b[2K  %.0f s\n", elapsed.Seconds())
	p.drawn = len(p.order) + 1
	_, _ = io.WriteString(p.w, b.String())
}

// Close stops the view, leaving its last state on screen.
func (p *progressView) Close() {
	p.mu.Lock()
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.mu.Unlock()
	<-p.done
	if p.tty {
		p.mu.Lock()
		p.redraw()
		p.mu.Unlock()
	}
}

// printResults writes the pass/fail table of a run, then each failure's
// reason and each replay difference.
func printResults(w io.Writer, rep *checklist.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tRESULT\tCALL\tSTATUS\tHANGUP CAUSE\tWEBHOOKS\tRECORDING")
	for _, r := range rep.Results {
		res := "PASS"
		if !r.Passed() {
			res = "FAIL"
		}
		switch n := len(r.Differences); {
		case n == 1:
			res += " (1 diff)"
		case n > 1:
			res += fmt.Sprintf(" (%d diffs)", n)
		}
		rec := "-"
		if r.Recording > 0 {
			rec = fmt.Sprintf("%.1f s", r.Recording)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Case, res, dash(r.CallID), dash(r.Status), dash(r.HangupCause),
			webhookSummary(r), rec)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nWebhooks received per call, in arrival order (✓ signature verified; 5xx: the receiver refused that attempt):")
	for _, r := range rep.Results {
		var evs []string
		for _, wh := range r.Fixture.Webhooks {
			if wh.Kind != "webhook" {
				continue
			}
			mark := "✓"
			if !wh.Verified {
				mark = "✗ NOT VERIFIED"
			}
			if wh.Answered/100 != 2 {
				mark += fmt.Sprintf(" %d", wh.Answered)
			}
			evs = append(evs, wh.Event()+" "+mark)
		}
		if len(evs) > 0 {
			fmt.Fprintf(w, "  %-18s %s\n", r.Case, strings.Join(evs, ", "))
		}
	}
	for _, r := range rep.Results {
		if r.Failure != "" {
			fmt.Fprintf(w, "\n%s failed: %s\n", r.Case, r.Failure)
		}
		if len(r.Differences) > 0 {
			fmt.Fprintf(w, "\n%s differs from its fixture:\n", r.Case)
			for _, d := range r.Differences {
				fmt.Fprintf(w, "  - %s\n", d)
			}
		}
	}
}

// webhookSummary is "N verified" plus the event names, short.
func webhookSummary(r *checklist.Result) string {
	n, refused, failed := 0, 0, 0
	for _, w := range r.Fixture.Webhooks {
		switch {
		case w.Kind != "webhook":
		case !w.Verified:
			failed++
		case w.Answered/100 != 2:
			refused++
		default:
			n++
		}
	}
	if n+refused+failed == 0 {
		return "-"
	}
	s := fmt.Sprintf("%d verified", n)
	if refused > 0 {
		s += fmt.Sprintf(" + %d answered 5xx", refused)
	}
	if failed > 0 {
		s += fmt.Sprintf(", %d NOT verified", failed)
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
