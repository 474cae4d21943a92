package tts

import (
	"crypto/sha256"
	"encoding/hex"
)

// Waiters reports how many Render calls wait on the in-flight render of
// (voice, text), so tests can sequence callers without sleeping.
func Waiters(e *Engine, voice, text string) int {
	sum := sha256.Sum256([]byte(voice + "\x00" + text))
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.inflight[hex.EncodeToString(sum[:])]; ok {
		return r.waiters
	}
	return 0
}
