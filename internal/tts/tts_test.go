package tts_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/media"
	"github.com/minivoice/minivoice/internal/tts"
)

// newEngine returns an Engine on the real flite with a private cache, so
// parallel tests never see each other's renders.
func newEngine(t *testing.T) *tts.Engine {
	t.Helper()
	return newEngineAt(t, t.TempDir())
}

// newEngineAt is newEngine on a given cache directory, for tests that look
// inside it or share it between engines.
func newEngineAt(t *testing.T, dir string) *tts.Engine {
	t.Helper()
	if _, err := exec.LookPath("flite"); err != nil {
		t.Skip("flite not installed")
	}
	e, err := tts.New(tts.Config{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fakeFlite writes a stand-in flite: it lists two voices for -lv and runs
// body (a POSIX sh fragment; $6 is the -o path) for a render. It lets tests
// hold a render open or make it fail on purpose.
func fakeFlite(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs a POSIX shell")
	}
	path := filepath.Join(t.TempDir(), "fake-flite")
	script := "#!/bin/sh\nPATH=/usr/bin:/bin\nif [ \"$1\" = -lv ]; then echo 'Voices available: slt kal '; exit 0; fi\n" + body + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// A child forked by a parallel test at the moment the file was open for
	// writing keeps that descriptor until its exec, and executing the script
	// meanwhile fails with ETXTBSY (golang.org/issue/22315): wait until it
	// runs before handing it out.
	for i := 0; ; i++ {
		err := exec.Command(path, "-lv").Run()
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || i == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return path
}

func newFakeEngine(t *testing.T, body string, timeout time.Duration) *tts.Engine {
	t.Helper()
	e, err := tts.New(tts.Config{CacheDir: t.TempDir(), FliteBin: fakeFlite(t, body), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// waitFor polls cond; the generous deadline only turns a hang into a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRenderSpeaks(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	const text = "Hello, this is a test call"
	for _, voice := range []string{"slt", "kal", "kal16", "awb", "rms"} {
		for _, rate := range []int{8000, 16000} {
			t.Run(fmt.Sprintf("%s at %d Hz", voice, rate), func(t *testing.T) {
				t.Parallel()
				if !slices.Contains(e.Voices(), voice) {
					t.Skipf("voice %s not installed", voice)
				}
				p, err := e.Render(context.Background(), voice, text, rate)
				if err != nil {
					t.Fatal(err)
				}
				if p.Rate != rate {
					t.Errorf("rate %d", p.Rate)
				}
				if d := p.Duration(); d <= time.Second || d >= 5*time.Second {
					t.Errorf("duration %v, want between 1 s and 5 s", d)
				}
				if a := media.ActiveDuration(p, -40); a <= 500*time.Millisecond {
					t.Errorf("active speech %v at -40 dBFS, want > 500 ms", a)
				}
				// flite's leading silence is trimmed: the first 100 ms
				// (50 ms kept before the onset) already carry speech.
				lead := &media.PCM{Rate: p.Rate, Samples: p.Samples[:p.Rate/10]}
				if media.ActiveDuration(lead, -45) == 0 {
					t.Errorf("the first 100 ms are silent (%.1f dBFS): the leading silence was not trimmed", media.DBFS(lead.Samples))
				}
			})
		}
	}
}

func TestRenderCachesOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEngineAt(t, dir)
	ctx := context.Background()
	first, err := e.Render(ctx, "kal", "Press one for sales.", 8000)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.Renders(); n != 1 {
		t.Fatalf("Renders = %d after first render", n)
	}
	// A hit at another rate reuses the same rendering.
	second, err := e.Render(ctx, "kal", "Press one for sales.", 8000)
	if err != nil {
		t.Fatal(err)
	}
	wide, err := e.Render(ctx, "kal", "Press one for sales.", 16000)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.Renders(); n != 1 {
		t.Errorf("Renders = %d after cache hits, want 1", n)
	}
	if !slices.Equal(first.Samples, second.Samples) || wide.Rate != 16000 {
		t.Error("cache hit returned different audio")
	}
	// The cache key is sha256(voice NUL text), and nothing else is left in
	// the directory (no temp files).
	sum := sha256.Sum256([]byte("kal\x00Press one for sales."))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != hex.EncodeToString(sum[:])+".wav" {
		t.Errorf("cache dir holds %v", entries)
	}
	// A second engine on the same directory (a restart) hits the cache too.
	e2 := newEngineAt(t, dir)
	if _, err := e2.Render(ctx, "kal", "Press one for sales.", 8000); err != nil || e2.Renders() != 0 {
		t.Errorf("after restart: err %v, Renders %d", err, e2.Renders())
	}
	// Another voice or text is another key.
	if _, err := e.Render(ctx, "slt", "Press one for sales.", 8000); err != nil || e.Renders() != 2 {
		t.Errorf("other voice: err %v, Renders %d", err, e.Renders())
	}
}

func TestRenderCoalescesConcurrentCalls(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	const n = 10
	results := make([]*media.PCM, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = e.Render(context.Background(), "slt", "Your appointment is tomorrow at nine.", 8000)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !slices.Equal(results[i].Samples, results[0].Samples) {
			t.Fatalf("caller %d got different audio", i)
		}
	}
	if got := e.Renders(); got != 1 {
		t.Errorf("Renders = %d for %d concurrent calls, want 1", got, n)
	}
}

func TestRenderRejects(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tests := []struct {
		name, voice, text string
		rate              int
		want              error
	}{
		{"unknown voice", "nosuch", "hello", 8000, tts.ErrUnknownVoice},
		{"empty voice", "", "hello", 8000, tts.ErrUnknownVoice},
		// flite loads -voice values it does not know as files or URLs.
		{"voice as path", "/usr/lib/flite/voice.flitevox", "hello", 8000, tts.ErrUnknownVoice},
		{"voice as URL", "http://127.0.0.1:1/v.flitevox", "hello", 8000, tts.ErrUnknownVoice},
		{"empty text", "slt", "", 8000, tts.ErrInvalidText},
		{"blank text", "slt", " \n\t", 8000, tts.ErrInvalidText},
		{"text too long", "slt", strings.Repeat("a", tts.MaxTextLen+1), 8000, tts.ErrInvalidText},
		{"zero rate", "slt", "hello", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := e.Render(context.Background(), tt.voice, tt.text, tt.rate)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Render = %v, %v; want error %v", p, err, tt.want)
			}
		})
	}
	if n := e.Renders(); n != 0 {
		t.Errorf("flite ran %d times for rejected input", n)
	}
}

func TestRenderTextIsNeverAnOption(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	victim := filepath.Join(t.TempDir(), "pwned.wav")
	text := "-o " + victim + " -voice kal --help"
	p, err := e.Render(context.Background(), "slt", text, 8000)
	if err != nil {
		t.Fatal(err)
	}
	if a := media.ActiveDuration(p, -40); a < time.Second {
		t.Errorf("only %v of speech: the text was not spoken", a)
	}
	if _, err := os.Stat(victim); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("text was parsed as flite options: %v", err)
	}
}

func TestRenderCancelKillsFlite(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	e := newFakeEngine(t, "echo $$ > "+pidFile+"\nexec sleep 600", 0)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.Render(ctx, "slt", "never finishes", 8000)
		errc <- err
	}()
	var pid int
	waitFor(t, "flite to start", func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Render = %v, want context.Canceled", err)
	}
	waitFor(t, "flite to be killed", func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	})
	if n := e.Renders(); n != 1 {
		t.Errorf("Renders = %d, want 1", n)
	}
	// An already-cancelled context does not start flite at all.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := e.Render(ctx2, "slt", "never finishes", 8000); !errors.Is(err, context.Canceled) || e.Renders() != 1 {
		t.Errorf("already-cancelled Render = %v, Renders %d", err, e.Renders())
	}
}

func TestRenderTimeout(t *testing.T) {
	t.Parallel()
	e := newFakeEngine(t, "exec sleep 600", 50*time.Millisecond)
	if _, err := e.Render(context.Background(), "slt", "hello", 8000); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Render = %v, want context.DeadlineExceeded", err)
	}
}

// TestCancelledWaiterLeavesSharedRender checks that one caller giving up does
// not kill a render another caller still waits for.
func TestCancelledWaiterLeavesSharedRender(t *testing.T) {
	t.Parallel()
	flite := newEngine(t)
	sample, err := flite.Render(context.Background(), "kal", "hi", 8000)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fixture := filepath.Join(dir, "fixture.wav")
	f, err := os.Create(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := media.WriteWAV(f, sample); err != nil {
		t.Fatal(err)
	}
	f.Close()
	gate := filepath.Join(dir, "gate")
	e := newFakeEngine(t, fmt.Sprintf("while [ ! -e %s ]; do sleep 0.01; done\nexec cp %s \"$6\"", gate, fixture), 0)

	const text = "shared"
	patient := make(chan error, 1)
	go func() {
		_, err := e.Render(context.Background(), "slt", text, 8000)
		patient <- err
	}()
	waitFor(t, "first waiter", func() bool { return tts.Waiters(e, "slt", text) == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	impatient := make(chan error, 1)
	go func() {
		_, err := e.Render(ctx, "slt", text, 8000)
		impatient <- err
	}()
	waitFor(t, "second waiter", func() bool { return tts.Waiters(e, "slt", text) == 2 })
	cancel()
	if err := <-impatient; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-patient; err != nil {
		t.Fatalf("patient caller: %v", err)
	}
	if n := e.Renders(); n != 1 {
		t.Errorf("Renders = %d, want 1", n)
	}
}

func TestRenderFailuresAreNotCached(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       error
	}{
		{"flite fails", "echo 'voice exploded' >&2; exit 3", nil},
		{"flite writes garbage", "echo garbage > \"$6\"", media.ErrMalformedWAV},
		{"flite writes nothing", "exit 0", media.ErrMalformedWAV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			e, err := tts.New(tts.Config{CacheDir: dir, FliteBin: fakeFlite(t, tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				_, err := e.Render(context.Background(), "kal", "hello", 8000)
				if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("Render = %v, want error %v", err, tt.want)
				}
			}
			if n := e.Renders(); n != 2 {
				t.Errorf("Renders = %d, want 2 (failures must not be cached)", n)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("cache dir holds %v after failures", entries)
			}
		})
	}
}

func TestRenderReplacesCorruptCacheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEngineAt(t, dir)
	if _, err := e.Render(context.Background(), "kal", "hello again", 8000); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("kal\x00hello again"))
	if err := os.WriteFile(filepath.Join(dir, hex.EncodeToString(sum[:])+".wav"), []byte("RIFF junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	// At another rate, so the decoded copy kept in memory does not answer.
	p, err := e.Render(context.Background(), "kal", "hello again", 16000)
	if err != nil {
		t.Fatal(err)
	}
	if e.Renders() != 2 || p.Duration() == 0 {
		t.Errorf("Renders %d, duration %v", e.Renders(), p.Duration())
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := tts.New(tts.Config{}); err == nil {
		t.Error("missing CacheDir accepted")
	}
	if _, err := tts.New(tts.Config{CacheDir: t.TempDir(), FliteBin: "/nonexistent/flite"}); err == nil {
		t.Error("missing binary accepted")
	}
	mute := filepath.Join(t.TempDir(), "mute-flite")
	if err := os.WriteFile(mute, []byte("#!/bin/sh\necho 'Voices available:'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := tts.New(tts.Config{CacheDir: t.TempDir(), FliteBin: mute}); err == nil {
		t.Error("flite without voices accepted")
	}
	// Stale temp files from a crash are swept; fresh ones (another process
	// rendering right now) and cached renders are left alone.
	dir := t.TempDir()
	for _, name := range []string{".render-old.wav", ".render-new.wav", "abc.wav"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, ".render-old.wav"), old, old); err != nil {
		t.Fatal(err)
	}
	e, err := tts.New(tts.Config{CacheDir: dir, FliteBin: fakeFlite(t, "exit 1")})
	if err != nil {
		t.Fatal(err)
	}
	if v := e.Voices(); !slices.Equal(v, []string{"kal", "slt"}) {
		t.Errorf("Voices = %v", v)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, de := range entries {
		names = append(names, de.Name())
	}
	if !slices.Equal(names, []string{".render-new.wav", "abc.wav"}) {
		t.Errorf("cache dir after New: %v", names)
	}
}

func TestRenderKeepsDecodedPromptsInMemory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEngineAt(t, dir)
	a, err := e.Render(context.Background(), "kal", "the same prompt", 8000)
	if err != nil {
		t.Fatal(err)
	}
	// With the cache file gone, the decoded copy still answers at that rate.
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		_ = os.Remove(filepath.Join(dir, en.Name()))
	}
	b, err := e.Render(context.Background(), "kal", "the same prompt", 8000)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || e.Renders() != 1 {
		t.Fatalf("second render was not served from memory (renders %d)", e.Renders())
	}
}
