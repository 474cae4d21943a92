package api

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strconv"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

// RecordingFiles is the blob store holding recording files, addressed by a
// recording's StorageKey. recording.Dir (a local directory) implements it.
type RecordingFiles interface {
	// Open opens a file for reading; a missing one is an fs.ErrNotExist error.
	Open(key string) (*os.File, error)
	// Remove deletes a file; a missing one is an fs.ErrNotExist error.
	Remove(key string) error
}

// recordingView renders a recording: media_url is where this API serves it.
func recordingView(r *voice.Recording) *voice.Recording {
	if r.MediaURL == "" {
		r.MediaURL = "/v1/recordings/" + r.ID + "/media"
	}
	return r
}

// errNoRecordingFiles answers media and delete requests on a server started
// without a blob store (API-only deployments).
var errNoRecordingFiles = voice.Errorf(voice.ECodeNotReady, "recording storage is not configured on this server")

func (s *Server) listRecordings(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	f := voice.RecordingFilter{Scope: p.Scope(), CallID: r.URL.Query().Get("call_id")}
	// A filter naming another tenant's call is a 404, like reading it.
	if f.CallID != "" {
		if _, err := s.store.Call(r.Context(), p.Scope(), f.CallID); err != nil {
			return err
		}
	}
	list, err := s.store.Recordings(r.Context(), f, pg)
	if err != nil {
		return err
	}
	for _, rec := range list.Data {
		recordingView(rec)
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) getRecording(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	rec, err := s.store.Recording(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recordingView(rec))
	return nil
}

// recordingMedia serves a completed recording's WAV file. http.ServeContent
// does the conditional and Range handling (single and multiple ranges,
// suffix ranges, If-Range against the ETag, which is the file's SHA-256).
func (s *Server) recordingMedia(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	rec, err := s.store.Recording(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	err = ServeRecording(w, r, s.files, rec, func(w http.ResponseWriter, size int64) http.ResponseWriter {
		return &mediaWriter{ResponseWriter: w, s: s, r: r, size: size}
	})
	if errors.Is(err, fs.ErrNotExist) {
		// The row says completed but the file is gone: report it to the
		// operator, and to the client as the missing thing it is.
		s.log.ErrorContext(r.Context(), "recording file missing", slog.String("request_id", requestID(r.Context())),
			slog.String("recording_id", rec.ID), slog.String("storage_key", rec.StorageKey))
		return voice.Errorf(voice.ECodeNotFound, "the media of recording %s is missing", rec.ID)
	}
	return err
}

// ServeRecording serves a completed recording's WAV file (the API's media
// endpoint and the web console's player). http.ServeContent does the
// conditional and Range handling; wrap, if not nil, may wrap the writer it
// writes to (the API turns its plain-text errors into the API's error body).
// A missing file is an fs.ErrNotExist error, and nothing is written.
func ServeRecording(w http.ResponseWriter, r *http.Request, files RecordingFiles, rec *voice.Recording,
	wrap func(w http.ResponseWriter, size int64) http.ResponseWriter) error {
	if rec.Status != voice.RecordingCompleted {
		return voice.Errorf(voice.ECodeConflict, "recording %s is %s; its media can be fetched once it is completed", rec.ID, rec.Status)
	}
	if files == nil {
		return errNoRecordingFiles
	}
	f, err := files.Open(rec.StorageKey)
	if err != nil {
		return fmt.Errorf("open recording %s: %w", rec.ID, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat recording %s: %w", rec.ID, err)
	}
	h := w.Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Content-Disposition", `inline; filename="`+rec.ID+`.wav"`)
	h.Set("Cache-Control", "private")
	if rec.SHA256 != "" {
		h.Set("ETag", strconv.Quote(rec.SHA256))
	}
	if wrap != nil {
		w = wrap(w, st.Size())
	}
	http.ServeContent(w, r, rec.ID+".wav", st.ModTime(), f)
	return nil
}

// mediaWriter turns the plain-text errors of http.ServeContent (416 for an
// unsatisfiable range, 412 for a failed precondition) into the API's error
// body; everything else passes through.
type mediaWriter struct {
	http.ResponseWriter
	s      *Server
	r      *http.Request
	size   int64
	failed bool
}

func (m *mediaWriter) WriteHeader(code int) {
	if code < http.StatusBadRequest || m.failed {
		m.ResponseWriter.WriteHeader(code)
		return
	}
	m.failed = true
	h := m.Header()
	for _, k := range []string{"Content-Disposition", "Cache-Control", "ETag", "Last-Modified", "X-Content-Type-Options"} {
		h.Del(k)
	}
	var ve *voice.Error
	switch {
	case code == http.StatusRequestedRangeNotSatisfiable:
		// Content-Range: bytes */size stays, as RFC 9110 asks.
		ve = &voice.Error{Code: voice.ECodeInvalidRequest, Param: "Range",
			Message: "Range: not satisfiable; the file has " + strconv.FormatInt(m.size, 10) + " bytes"}
	case code < http.StatusInternalServerError:
		ve = &voice.Error{Code: voice.ECodeInvalidRequest, Message: http.StatusText(code)}
	default:
		ve = &voice.Error{Code: voice.ECodeInternal, Message: "internal error; quote the request_id when reporting it"}
	}
	m.s.writeError(m.ResponseWriter, m.r, withStatus(ve, code))
}

func (m *mediaWriter) Write(b []byte) (int, error) {
	if m.failed {
		return len(b), nil // ServeContent's plain-text error body, replaced above
	}
	return m.ResponseWriter.Write(b)
}

// deleteRecording removes a finished recording's file and marks it deleted;
// it then reads as missing. The file goes first, so a failure leaves the
// recording listed and the client's retry completes the job.
func (s *Server) deleteRecording(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	rec, err := s.store.Recording(r.Context(), p.Scope(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if rec.Status == voice.RecordingInProgress {
		return voice.Errorf(voice.ECodeConflict, "recording %s is in progress; delete it once it has ended", rec.ID)
	}
	if s.files == nil {
		return errNoRecordingFiles
	}
	if rec.StorageKey != "" {
		if err := s.files.Remove(rec.StorageKey); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	rec.Status, rec.UpdatedAt = voice.RecordingDeleted, s.clock()
	// not_found here means a concurrent delete won: this one is a 404 too.
	if err := s.store.UpdateRecordingWithEvents(r.Context(), rec); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
