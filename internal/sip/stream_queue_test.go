package sip

import (
	"testing"
)

// queueStream is a stream with only its play queue set up, for an 8 kHz leg.
func queueStream() *stream {
	return &stream{cs: &callStreams{leg: &leg{rate: 8000}}}
}

// loud is n samples of a full-scale-ish square wave.
func loud(n int) []int16 {
	f := make([]int16, n)
	for i := range f {
		if i%2 == 0 {
			f[i] = 8000
		} else {
			f[i] = -8000
		}
	}
	return f
}

// feedLive plays ticks of the clock with one frame arriving before each.
func feedLive(st *stream, ticks int, frame func(i int) []int16) {
	for i := range ticks {
		st.enqueueAudio(frame(i))
		st.next()
	}
}

// TestStreamCatchUpSkipsSilence: a burst that arrives once (jitter) leaves
// frames standing in the queue; while the application keeps feeding live,
// the queue catches up by skipping silent frames only.
func TestStreamCatchUpSkipsSilence(t *testing.T) {
	t.Parallel()
	st := queueStream()
	// Three frames arrive together, then one per tick: two frames stand.
	st.enqueueAudio(make([]int16, 160*2))
	silentOrTone := func(i int) []int16 {
		if (i/10)%2 == 0 {
			return loud(160)
		}
		return make([]int16, 160)
	}
	feedLive(st, 3*trimWindow, silentOrTone)
	if got := st.trimmed.Load(); got != 2 {
		t.Errorf("trimmed %d frames, want the 2 that stood", got)
	}
	st.playMu.Lock()
	queued := st.queued
	st.playMu.Unlock()
	if queued != 0 {
		t.Errorf("%d frames still wait after the catch-up, want 0", queued)
	}
}

// TestStreamCatchUpKeepsSpeech: with no silence to skip, nothing is skipped.
func TestStreamCatchUpKeepsSpeech(t *testing.T) {
	t.Parallel()
	st := queueStream()
	st.enqueueAudio(loud(160 * 3))
	feedLive(st, 3*trimWindow, func(int) []int16 { return loud(160) })
	if got := st.trimmed.Load(); got != 0 {
		t.Errorf("trimmed %d frames of tone, want 0", got)
	}
}

// TestStreamCatchUpLeavesBulkAudio: audio sent ahead of time in one go is
// played whole, silences included.
func TestStreamCatchUpLeavesBulkAudio(t *testing.T) {
	t.Parallel()
	st := queueStream()
	var bulk []int16
	for i := range 5 * trimWindow {
		if (i/10)%2 == 0 {
			bulk = append(bulk, loud(160)...)
		} else {
			bulk = append(bulk, make([]int16, 160)...)
		}
	}
	st.enqueueAudio(bulk)
	played := 0
	for {
		f, _ := st.next()
		if f == nil {
			break
		}
		played++
	}
	if played != 5*trimWindow || st.trimmed.Load() != 0 {
		t.Errorf("played %d of %d frames, trimmed %d; want all, none", played, 5*trimWindow, st.trimmed.Load())
	}
}

// TestStreamCatchUpKeepsMarks: a mark behind a skipped frame still comes back.
func TestStreamCatchUpKeepsMarks(t *testing.T) {
	t.Parallel()
	st := queueStream()
	st.enqueueAudio(make([]int16, 160*4))
	var marks []string
	for i := range 2 * trimWindow {
		st.enqueueAudio(make([]int16, 160))
		if i == trimWindow+1 {
			st.playMu.Lock()
			st.queue = append(st.queue, playItem{mark: "m1"})
			st.playMu.Unlock()
		}
		_, m := st.next()
		marks = append(marks, m...)
	}
	if st.trimmed.Load() == 0 || len(marks) != 1 || marks[0] != "m1" {
		t.Errorf("trimmed %d, marks %v; want some trimmed and m1 back", st.trimmed.Load(), marks)
	}
}
