package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/api"
	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// dirFiles is the tests' blob store: files under a temporary directory,
// named by their storage key (what recording.Dir does in production).
type dirFiles struct{ dir string }

func (d *dirFiles) path(key string) string            { return filepath.Join(d.dir, filepath.FromSlash(key)) }
func (d *dirFiles) Open(key string) (*os.File, error) { return os.Open(d.path(key)) }
func (d *dirFiles) Remove(key string) error           { return os.Remove(d.path(key)) }

var _ api.RecordingFiles = (*dirFiles)(nil)

// recBundle is a bundle whose server has a blob store.
type recBundle struct {
	*bundle
	files *dirFiles
}

// eachWithFiles is each with a recording blob store configured.
func eachWithFiles(t *testing.T, fn func(t *testing.T, b *recBundle)) {
	t.Helper()
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		db := storetest.Open(t, backend, nil)
		files := &dirFiles{dir: t.TempDir()}
		srv := api.New(api.Config{
			Store:            db,
			Auth:             auth.New(auth.Config{Store: db, OperatorKey: testOperatorKey}),
			AllowPrivateURLs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Version:          "test",
			Recordings:       files,
		})
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		fn(t, &recBundle{bundle: &bundle{t: t, url: ts.URL, store: db, op: testOperatorKey}, files: files})
	})
}

// wav returns a 16-bit mono 8 kHz WAV of n samples with varied bytes.
func wav(n int) []byte {
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))
	w(uint16(1))
	w(uint32(8000))
	w(uint32(16000))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(2 * n))
	for i := range n {
		w(int16(i*37%65536 - 32768))
	}
	return b.Bytes()
}

// addRecording stores a recording of a call (and, if content is not nil, its
// file) straight through the store, as the recorder would.
func (b *recBundle) addRecording(callID, status string, at time.Time, content []byte) *voice.Recording {
	b.t.Helper()
	c := b.storedCall(callID)
	at = at.UTC().Truncate(time.Millisecond)
	id := voice.NewID(voice.PrefixRecording, at)
	r := &voice.Recording{ID: id, CallID: c.ID, CustomerID: c.CustomerID, ApplicationID: c.ApplicationID, Status: status,
		Source: voice.RecordingSourceCall, Channels: voice.ChannelsMono, SampleRate: 8000, StartedAt: at,
		StorageKey: c.CustomerID + "/" + id + ".wav", CreatedAt: at, UpdatedAt: at}
	if status != voice.RecordingInProgress {
		end := at.Add(1500 * time.Millisecond)
		r.EndedAt, r.Duration, r.UpdatedAt = &end, 1.5, end
	}
	if content != nil {
		if err := os.MkdirAll(filepath.Dir(b.files.path(r.StorageKey)), 0o755); err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(b.files.path(r.StorageKey), content, 0o644); err != nil {
			b.t.Fatal(err)
		}
		r.SizeBytes = int64(len(content))
		if status == voice.RecordingCompleted {
			sum := sha256.Sum256(content)
			r.SHA256 = hex.EncodeToString(sum[:])
		}
	}
	if err := b.store.CreateRecording(context.Background(), r); err != nil {
		b.t.Fatalf("create recording: %v", err)
	}
	return r
}

func TestRecordingGetListShape(t *testing.T) {
	eachWithFiles(t, func(t *testing.T, b *recBundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		key := b.customerKey(cust)
		call := b.placeCall(key, app, "+15551230002")
		t0 := time.Date(2026, 5, 29, 12, 10, 0, 0, time.UTC)
		rec := b.addRecording(call, voice.RecordingCompleted, t0, wav(100))

		got := b.ok(200, "GET", "/v1/recordings/"+rec.ID, key, nil)
		end := t0.Add(1500 * time.Millisecond)
		want := map[string]any{"id": rec.ID, "call_id": call, "customer_id": cust, "application_id": app, "status": "completed",
			"source": "call", "channels": "mono", "sample_rate": float64(8000), "duration": 1.5, "size_bytes": float64(244),
			"sha256": rec.SHA256, "started_at": "2026-05-29T12:10:00Z", "ended_at": end.Format(time.RFC3339Nano),
			"media_url": "/v1/recordings/" + rec.ID + "/media", "created_at": "2026-05-29T12:10:00Z",
			"updated_at": end.Format(time.RFC3339Nano)}
		if !reflect.DeepEqual(got.JSON, want) {
			t.Errorf("recording:\n got %v\nwant %v", got.JSON, want)
		}
		if strings.Contains(string(got.Raw), "storage") || strings.Contains(string(got.Raw), `"error"`) {
			t.Errorf("recording shows internals: %s", got.Raw)
		}
		list := b.ok(200, "GET", "/v1/recordings", key, nil)
		if ids := listIDs(list); len(ids) != 1 || ids[0] != rec.ID || list.data()[0]["media_url"] != want["media_url"] {
			t.Errorf("list: %s", list.Raw)
		}

		// A failed recording says why.
		failed := b.addRecording(call, voice.RecordingFailed, t0.Add(time.Second), nil)
		failed.Error = "write: no space left on device"
		if err := b.store.UpdateRecordingWithEvents(context.Background(), failed); err != nil {
			t.Fatal(err)
		}
		if got := b.ok(200, "GET", "/v1/recordings/"+failed.ID, key, nil); got.str("error") != failed.Error || got.str("status") != "failed" {
			t.Errorf("failed recording: %s", got.Raw)
		}

		b.want(b.call("GET", "/v1/recordings/rec_nope", key, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/recordings", "", nil), 401, "unauthorized")
		b.want(b.call("GET", "/v1/recordings?limit=0", key, nil), 422, "invalid_request")
		b.want(b.call("GET", "/v1/recordings?after=!!", key, nil), 422, "invalid_request")
	})
}

func TestRecordingListFilterPaginationIsolation(t *testing.T) {
	eachWithFiles(t, func(t *testing.T, b *recBundle) {
		a, c := b.customer("a"), b.customer("c")
		a1, a2, c1 := b.application(a), b.application(a), b.application(c)
		ak, ck, a1k, a2k := b.customerKey(a), b.customerKey(c), b.applicationKey(a1), b.applicationKey(a2)
		callA1, callA2, callC := b.placeCall(ak, a1, "+15551230002"), b.placeCall(ak, a2, "+15551230002"), b.placeCall(ck, c1, "+15551230002")
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		var idsA1, idsA2 []string // newest first
		for i := range 5 {
			r := b.addRecording(callA1, voice.RecordingCompleted, t0.Add(time.Duration(i)*time.Second), wav(10))
			idsA1 = append([]string{r.ID}, idsA1...)
		}
		// Two in the same millisecond: the id orders them.
		for range 2 {
			r := b.addRecording(callA2, voice.RecordingCompleted, t0.Add(10*time.Second), wav(10))
			idsA2 = append(idsA2, r.ID)
		}
		if idsA2[0] < idsA2[1] {
			idsA2[0], idsA2[1] = idsA2[1], idsA2[0]
		}
		recC := b.addRecording(callC, voice.RecordingInProgress, t0.Add(20*time.Second), nil)
		allA := append(append([]string{}, idsA2...), idsA1...)

		walk := func(path, key string, limit int) []string {
			t.Helper()
			var ids []string
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			next := path + sep + fmt.Sprintf("limit=%d", limit)
			for range 20 {
				r := b.ok(200, "GET", next, key, nil)
				if n := len(r.data()); n > limit {
					t.Fatalf("%s: %d items, limit %d", next, n, limit)
				}
				ids = append(ids, listIDs(r)...)
				if r.JSON["has_more"] != true {
					return ids
				}
				next = path + sep + fmt.Sprintf("limit=%d&after=%s", limit, r.str("next_cursor"))
			}
			t.Fatalf("%s: pagination does not end", path)
			return nil
		}
		for _, tc := range []struct {
			name, path, key string
			want            []string
		}{
			{"operator", "/v1/recordings", b.op, append([]string{recC.ID}, allA...)},
			{"customer a", "/v1/recordings", ak, allA},
			{"customer c", "/v1/recordings", ck, []string{recC.ID}},
			{"app a1", "/v1/recordings", a1k, idsA1},
			{"app a2", "/v1/recordings", a2k, idsA2},
			{"call a1", "/v1/recordings?call_id=" + callA1, ak, idsA1},
			{"call a2 by operator", "/v1/recordings?call_id=" + callA2, b.op, idsA2},
			{"call a1 by app a1", "/v1/recordings?call_id=" + callA1, a1k, idsA1},
		} {
			for _, limit := range []int{1, 2, 3, 50} {
				if got := walk(tc.path, tc.key, limit); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s, limit %d:\n got %v\nwant %v", tc.name, limit, got, tc.want)
				}
			}
		}
		// Naming another tenant's call, or another application's, in the filter is a 404.
		b.want(b.call("GET", "/v1/recordings?call_id="+callC, ak, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/recordings?call_id="+callA2, a1k, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/recordings?call_id=call_nope", b.op, nil), 404, "not_found")

		// Another tenant's recording reads as missing on every route.
		for _, tc := range []struct {
			id, key string
		}{{recC.ID, ak}, {idsA1[0], ck}, {idsA1[0], a2k}, {idsA2[0], a1k}} {
			for _, m := range []string{"GET /v1/recordings/%s", "GET /v1/recordings/%s/media", "DELETE /v1/recordings/%s"} {
				method, path, _ := strings.Cut(fmt.Sprintf(m, tc.id), " ")
				if tc.key == a1k || tc.key == a2k {
					if method == "DELETE" {
						continue // application keys may not delete at all (below)
					}
				}
				b.want(b.call(method, path, tc.key, nil), 404, "not_found")
			}
		}
		// Each sees its own.
		b.ok(200, "GET", "/v1/recordings/"+idsA1[0], a1k, nil)
		b.ok(200, "GET", "/v1/recordings/"+idsA2[0], a2k, nil)
		b.ok(200, "GET", "/v1/recordings/"+recC.ID, ck, nil)
		b.ok(200, "GET", "/v1/recordings/"+recC.ID, b.op, nil)
		// Deleting takes a customer (or the operator's) key.
		b.want(b.call("DELETE", "/v1/recordings/"+idsA1[0], a1k, nil), 403, "forbidden")
	})
}

func TestRecordingMediaAndRanges(t *testing.T) {
	eachWithFiles(t, func(t *testing.T, b *recBundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		key, appKey := b.customerKey(cust), b.applicationKey(app)
		call := b.placeCall(key, app, "+15551230002")
		content := wav(4000) // 8044 bytes
		n := len(content)
		rec := b.addRecording(call, voice.RecordingCompleted, time.Now(), content)
		media := "/v1/recordings/" + rec.ID + "/media"

		full := b.ok(200, "GET", media, appKey, nil)
		if !bytes.Equal(full.Raw, content) {
			t.Fatalf("full download: %d bytes, want the %d of the file", len(full.Raw), n)
		}
		for h, want := range map[string]string{
			"Content-Type":        "audio/wav",
			"Content-Length":      fmt.Sprint(n),
			"Accept-Ranges":       "bytes",
			"Content-Disposition": `inline; filename="` + rec.ID + `.wav"`,
			"ETag":                `"` + rec.SHA256 + `"`,
		} {
			if got := full.Header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if full.Header.Get("Last-Modified") == "" {
			t.Error("no Last-Modified")
		}

		// The header alone.
		head := b.ok(206, "GET", media, key, nil, "Range: bytes=0-43")
		if !bytes.Equal(head.Raw, content[:44]) || string(head.Raw[:4]) != "RIFF" {
			t.Errorf("bytes=0-43: got %d bytes %q", len(head.Raw), head.Raw)
		}
		if got, want := head.Header.Get("Content-Range"), fmt.Sprintf("bytes 0-43/%d", n); got != want {
			t.Errorf("Content-Range = %q, want %q", got, want)
		}
		if head.Header.Get("Content-Length") != "44" || head.Header.Get("Content-Type") != "audio/wav" {
			t.Errorf("206 headers: %v", head.Header)
		}
		// The last 100 bytes.
		tail := b.ok(206, "GET", media, key, nil, "Range: bytes=-100")
		if !bytes.Equal(tail.Raw, content[n-100:]) {
			t.Errorf("bytes=-100: got %d bytes", len(tail.Raw))
		}
		if got, want := tail.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", n-100, n-1, n); got != want {
			t.Errorf("suffix Content-Range = %q, want %q", got, want)
		}
		// An open-ended range from the middle.
		mid := b.ok(206, "GET", media, key, nil, "Range: bytes=8000-")
		if !bytes.Equal(mid.Raw, content[8000:]) {
			t.Errorf("bytes=8000-: got %d bytes", len(mid.Raw))
		}
		// Two ranges: multipart/byteranges, each part audio/wav.
		multi := b.ok(206, "GET", media, key, nil, "Range: bytes=0-3,8-11")
		if mt := multi.Header.Get("Content-Type"); !strings.HasPrefix(mt, "multipart/byteranges; boundary=") ||
			!bytes.Contains(multi.Raw, []byte("Content-Type: audio/wav")) || !bytes.Contains(multi.Raw, []byte("RIFF")) ||
			!bytes.Contains(multi.Raw, []byte("WAVE")) {
			t.Errorf("multi-range: %s\n%q", mt, multi.Raw)
		}
		// Past the end: 416 in the API's error shape, with the size.
		bad := b.call("GET", media, key, nil, fmt.Sprintf("Range: bytes=%d-", n))
		b.want(bad, 416, "invalid_request")
		if bad.errParam() != "Range" || bad.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", n) {
			t.Errorf("416: param %q, Content-Range %q: %s", bad.errParam(), bad.Header.Get("Content-Range"), bad.Raw)
		}
		if bad.Header.Get("Content-Disposition") != "" {
			t.Errorf("416 keeps Content-Disposition")
		}
		// A cached copy is still good.
		b.ok(304, "GET", media, key, nil, "If-None-Match: "+full.Header.Get("ETag"))

		// Only a completed recording has media.
		running := b.addRecording(call, voice.RecordingInProgress, time.Now(), content[:44])
		b.want(b.call("GET", "/v1/recordings/"+running.ID+"/media", key, nil), 409, "conflict")
		failed := b.addRecording(call, voice.RecordingFailed, time.Now(), nil)
		b.want(b.call("GET", "/v1/recordings/"+failed.ID+"/media", key, nil), 409, "conflict")
		// A completed recording whose file is gone: 404.
		lost := b.addRecording(call, voice.RecordingCompleted, time.Now(), nil)
		b.want(b.call("GET", "/v1/recordings/"+lost.ID+"/media", key, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/recordings/rec_nope/media", key, nil), 404, "not_found")
	})
}

func TestRecordingDelete(t *testing.T) {
	eachWithFiles(t, func(t *testing.T, b *recBundle) {
		cust := b.customer("acme")
		app := b.application(cust)
		key := b.customerKey(cust)
		call := b.placeCall(key, app, "+15551230002")
		rec := b.addRecording(call, voice.RecordingCompleted, time.Now(), wav(50))
		keep := b.addRecording(call, voice.RecordingCompleted, time.Now(), wav(50))
		running := b.addRecording(call, voice.RecordingInProgress, time.Now(), wav(5))

		// A recording still being written cannot be deleted; its file stays.
		b.want(b.call("DELETE", "/v1/recordings/"+running.ID, key, nil), 409, "conflict")
		if _, err := os.Stat(b.files.path(running.StorageKey)); err != nil {
			t.Errorf("in-progress file: %v", err)
		}

		r := b.ok(204, "DELETE", "/v1/recordings/"+rec.ID, key, nil)
		if len(r.Raw) != 0 {
			t.Errorf("204 with a body: %q", r.Raw)
		}
		if _, err := os.Stat(b.files.path(rec.StorageKey)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("file after delete: %v, want gone", err)
		}
		b.want(b.call("GET", "/v1/recordings/"+rec.ID, key, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/recordings/"+rec.ID+"/media", key, nil), 404, "not_found")
		b.want(b.call("DELETE", "/v1/recordings/"+rec.ID, key, nil), 404, "not_found")
		b.want(b.call("GET", "/v1/recordings/"+rec.ID, b.op, nil), 404, "not_found")
		if ids := listIDs(b.ok(200, "GET", "/v1/recordings?call_id="+call, key, nil)); !sameSet(ids, []string{keep.ID, running.ID}) {
			t.Errorf("list after delete: %v", ids)
		}
		// The other recording of the call is untouched.
		if got := b.ok(200, "GET", "/v1/recordings/"+keep.ID+"/media", key, nil); len(got.Raw) != 144 {
			t.Errorf("kept recording: %d bytes", len(got.Raw))
		}
		// A failed recording without a file, and a completed one whose file is
		// already gone, delete cleanly; so does the operator.
		failed := b.addRecording(call, voice.RecordingFailed, time.Now(), nil)
		b.ok(204, "DELETE", "/v1/recordings/"+failed.ID, key, nil)
		lost := b.addRecording(call, voice.RecordingCompleted, time.Now(), nil)
		b.ok(204, "DELETE", "/v1/recordings/"+lost.ID, b.op, nil)
		b.want(b.call("DELETE", "/v1/recordings/rec_nope", key, nil), 404, "not_found")
	})
}

func TestRecordingWithoutBlobStore(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		rb := &recBundle{bundle: b, files: &dirFiles{dir: t.TempDir()}}
		cust := b.customer("acme")
		app := b.application(cust)
		key := b.customerKey(cust)
		call := b.placeCall(key, app, "+15551230002")
		rec := rb.addRecording(call, voice.RecordingCompleted, time.Now(), wav(10))
		// Metadata works; media and delete need the store.
		b.ok(200, "GET", "/v1/recordings/"+rec.ID, key, nil)
		b.want(b.call("GET", "/v1/recordings/"+rec.ID+"/media", key, nil), 503, "not_ready")
		b.want(b.call("DELETE", "/v1/recordings/"+rec.ID, key, nil), 503, "not_ready")
		b.ok(200, "GET", "/v1/recordings/"+rec.ID, key, nil)
	})
}
