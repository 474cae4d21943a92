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
	// size, sha256, ended_at, error) and appends events in one transaction.
	UpdateRecordingWithEvents(ctx context.Context, r *Recording, events ...*Event) error
	// UnfinishedRecordings returns recordings still in-progress, oldest first:
	// after a crash their files are repaired and they are closed at start-up.
	UnfinishedRecordings(ctx context.Context) ([]*Recording, error)
}
