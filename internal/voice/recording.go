package voice

import (
	"context"
	"time"
)

// Recording statuses (insights.md).
const (
	RecordingInProgress = "in-progress"
	RecordingCompleted  = "completed"
	RecordingFailed     = "failed"
	RecordingDeleted    = "deleted"
)

// Recording sources: what made it.
const (
	RecordingSourceCall         = "call"          // record: true on the call, answer to hang-up
	RecordingSourceDial         = "dial"          // dial with record: true, the bridged conversation
	RecordingSourceRecordAction = "record_action" // the record action (voicemail: the caller alone)
)

// Recording channel layouts.
const (
	ChannelsDual = "dual" // left: the far end of the leg, right: what the platform sent
	ChannelsMono = "mono" // both mixed
)

// Recording is a WAV file made during a call (insights.md). The file lives in
// the blob store under StorageKey; MediaURL is where the API serves it.
type Recording struct {
	ID            string     `json:"id"`
	CallID        string     `json:"call_id"`
	CustomerID    string     `json:"customer_id"`
	ApplicationID string     `json:"application_id"`
	Status        string     `json:"status"`
	Source        string     `json:"source"`
	Channels      string     `json:"channels"`
	SampleRate    int        `json:"sample_rate"`
	Duration      float64    `json:"duration"` // seconds, millisecond precision
	SizeBytes     int64      `json:"size_bytes"`
	SHA256        string     `json:"sha256"` // hex; empty until completed
	StartedAt     time.Time  `json:"started_at"`
	EndedAt       *time.Time `json:"ended_at"`
	MediaURL      string     `json:"media_url"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`

	// StorageKey names the file in the blob store (a relative path such as
	// "cus_x/rec_y.wav"); it is never shown to API clients.
	StorageKey string `json:"-"`
	// Error says why a failed recording failed.
	Error string `json:"error,omitempty"`
	// Speech is what the platform itself sent on the recording's platform
	// channel (say and play), noted while recording, so the transcript can
	// state it instead of recognising it. Empty for recordings made before
	// the notes existed, which are transcribed by ASR alone. Not shown to
	// API clients: the transcript is where it surfaces.
	Speech []SpeechNote `json:"-"`
}

// Kinds of a SpeechNote.
const (
	SpeechSay  = "say"  // text spoken by text-to-speech
	SpeechPlay = "play" // an audio file played
)

// Bounds of a recording's speech notes, so a looping IVR or a huge say text
// cannot grow the recording's row without limit.
const (
	MaxSpeechNotes    = 1000
	MaxSpeechNoteText = 4000 // bytes of Text, and of URL
)

// SpeechNote is one say or play on a recording's platform channel.
type SpeechNote struct {
	Kind  string `json:"kind"`
	Text  string `json:"text,omitempty"`  // say: the text spoken
	Voice string `json:"voice,omitempty"` // say: the voice it was spoken in
	URL   string `json:"url,omitempty"`   // play: the file played
	// Start and End are seconds from the start of the recording, on the
	// recorder's own clock of samples written to the platform channel.
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// RecordingFilter narrows a recording listing.
type RecordingFilter struct {
	Scope  Scope
	CallID string
}

// RecordingStore persists recordings.
type RecordingStore interface {
	CreateRecording(ctx context.Context, r *Recording) error
	Recording(ctx context.Context, scope Scope, id string) (*Recording, error)
	// Recordings lists newest first; deleted recordings are left out.
	Recordings(ctx context.Context, f RecordingFilter, p Page) (List[*Recording], error)
	// UpdateRecordingWithEvents writes r's mutable fields (status, duration,
	// size, sha256, ended_at, error, speech) and appends events in one
	// transaction.
	UpdateRecordingWithEvents(ctx context.Context, r *Recording, events ...*Event) error
	// UnfinishedRecordings returns recordings still in-progress, oldest first:
	// after a crash their files are repaired and they are closed at start-up.
	UnfinishedRecordings(ctx context.Context) ([]*Recording, error)
}
