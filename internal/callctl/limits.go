package callctl

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Per-call bounds on what an application controls (call-control.md,
// "Limits"). Without them one call's variables grew without end (a set of
// 100 values of 4,000 characters and a redirect back to itself sent 32 MB
// with every request and wrote 95 MB of database in 12 s).
const (
	// MaxVariables is how many names a call's variables may hold in all.
	MaxVariables = 200
	// MaxVariableValueChars bounds one value, as set and POST /v1/calls do.
	MaxVariableValueChars = 4096
	// MaxVariableNameChars bounds one name.
	MaxVariableNameChars = 64
	// MaxVariablesBytes bounds a call's variables in all: the UTF-8 bytes of
	// every name and value. 64 KiB keeps every answer_url request, webhook
	// and call object small while leaving room for a few kilobytes of state
	// in each of dozens of entries.
	MaxVariablesBytes = 64 << 10
	// MaxRedirects is how many redirect actions may run one after another
	// with nothing in between that speaks, plays, waits or deals with the
	// caller: a loop that only fetches (and sets) is a bug that would
	// otherwise request the application's server as fast as it answers.
	// Twilio's similar cap on documents fetched in a row is 50 for
	// messaging; 10 covers any real chain of redirects.
	MaxRedirects = 10
	// MaxURLBytes bounds every URL of an action list, as the API bounds an
	// application's URLs.
	MaxURLBytes = 2048
	// maxErrorText bounds the message and field path a call.error carries:
	// both may quote the application's answer (a field name, a value).
	maxErrorText = 1000
)

// CodeLimitExceeded is the call.error code of a call that ran into one of
// the bounds above; the call ends with application_error.
const CodeLimitExceeded = "limit_exceeded"

// LimitError is a per-call bound that stopped a call.
type LimitError struct {
	Message string
	// URL is the redirect that was not fetched, if a redirect hit the bound.
	URL string
}

func (e *LimitError) Error() string { return "callctl: " + CodeLimitExceeded + ": " + e.Message }

// VariablesSize is the size of vars as MaxVariablesBytes counts it.
func VariablesSize(vars map[string]string) int {
	n := 0
	for k, v := range vars {
		n += len(k) + len(v)
	}
	return n
}

// CheckVariablesTotal checks a call's whole variables against MaxVariables
// and MaxVariablesBytes; it returns the message of the bound broken, or "".
func CheckVariablesTotal(vars map[string]string) string {
	if len(vars) > MaxVariables {
		return fmt.Sprintf("a call's variables may hold at most %d names, this would make %d", MaxVariables, len(vars))
	}
	if n := VariablesSize(vars); n > MaxVariablesBytes {
		return fmt.Sprintf("a call's variables may hold at most %d bytes (names and values), this would make %d", MaxVariablesBytes, n)
	}
	return ""
}

// MergeVariables merges add into *dst when the result stays within the
// per-call bounds, and changes nothing (returning a *LimitError) when it
// would not. It is how a call's variables change while it runs.
func MergeVariables(dst *map[string]string, add map[string]string) error {
	merged := make(map[string]string, len(*dst)+len(add))
	for k, v := range *dst {
		merged[k] = v
	}
	for k, v := range add {
		merged[k] = v
	}
	if msg := CheckVariablesTotal(merged); msg != "" {
		return &LimitError{Message: msg}
	}
	*dst = merged
	return nil
}

// clip shortens s to at most maxErrorText bytes on a rune boundary.
func clip(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + "…"
}
