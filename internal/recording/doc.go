// Package recording makes call recordings: WAV files written while the call
// runs, kept in a blob store, and closed properly even when the process dies
// in the middle of a call.
//
// # Layout
//
// A recording is one 16-bit PCM WAV file at the call's codec rate (16 kHz for
// G.722, 8 kHz for G.711), stored under the key "<customer id>/<recording
// id>.wav" (Key) in a BlobStore. The default store is Dir, a local directory
// (DATA/recordings); an S3-compatible store can implement the same interface.
// A "dual" recording has two channels: left is the far end of the call leg
// (what it said to us), right is what the platform sent to it (prompts or the
// bridged party). A "mono" recording mixes both into one channel.
//
// # Timing
//
// A Recorder is fed by two unsynchronised goroutines, one per direction, and
// either may go quiet for minutes (hold, VAD, waiting for a digit). It keeps
// both channels aligned to wall-clock time rather than to sample counts, so
// the file is as long as the call and what was said at the same moment sits at
// the same offset on both channels; see Recorder for the exact rules.
//
// # Crash safety
//
// The file is written incrementally through media.WAVWriter and flushed about
// every Config.FlushEvery (default one second) while audio flows, from within
// the write calls, with the header sizes rewritten after the data. So at any moment the
// file on disk is a valid WAV holding all but about the last second of audio.
// If the process dies, the recording row stays "in-progress"; at the next
// start Recover repairs each such file's header (media.RepairWAV), measures it
// and marks the recording completed, or failed when the file is gone.
package recording
