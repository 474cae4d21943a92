package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrBadScript is wrapped by every script validation error, so callers (the
// CLI's exit code 2) can tell a mistake in the script file from a failure to
// run it.
var ErrBadScript = errors.New("sim: bad script")

// MaxWait bounds one "wait" step: a typo such as "wait 600000" would
// otherwise hold a call open for days.
const MaxWait = time.Hour

// stepKind is what one script step does.
type stepKind int

const (
	stepSay stepKind = iota + 1
	stepWait
	stepDTMF
	stepHangup
)

// step is one parsed script step.
type step struct {
	kind   stepKind
	text   string        // say
	wait   time.Duration // wait
	digits string        // dtmf, upper case
}

// parseStep parses "say TEXT", "wait SECONDS", "dtmf DIGITS" or "hangup".
func parseStep(s string) (step, error) {
	word, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(word) {
	case "say":
		if rest == "" {
			return step{}, errors.New(`"say" needs text`)
		}
		return step{kind: stepSay, text: rest}, nil
	case "wait":
		sec, err := strconv.ParseFloat(rest, 64)
		if err != nil || math.IsNaN(sec) || sec < 0 {
			return step{}, fmt.Errorf(`"wait" needs a number of seconds >= 0, got %q`, rest)
		}
		d := time.Duration(sec * float64(time.Second))
		if sec > MaxWait.Seconds() {
			return step{}, fmt.Errorf(`"wait %s" is longer than %s`, rest, MaxWait)
		}
		return step{kind: stepWait, wait: d}, nil
	case "dtmf":
		digits := strings.ToUpper(strings.ReplaceAll(rest, " ", ""))
		if digits == "" {
			return step{}, errors.New(`"dtmf" needs digits`)
		}
		for _, r := range digits {
			if !strings.ContainsRune("0123456789*#ABCD", r) {
				return step{}, fmt.Errorf(`"dtmf": %q is not a DTMF digit (0-9, *, #, A-D)`, r)
			}
		}
		return step{kind: stepDTMF, digits: digits}, nil
	case "hangup":
		if rest != "" {
			return step{}, errors.New(`"hangup" takes no argument`)
		}
		return step{kind: stepHangup}, nil
	}
	return step{}, fmt.Errorf("unknown step %q (want say, wait, dtmf or hangup)", word)
}

// parseSteps parses a whole script; errors name the number and the step so a
// mistake in a long script file is easy to find.
func parseSteps(number string, steps []string) ([]step, error) {
	out := make([]step, 0, len(steps))
	for i, s := range steps {
		st, err := parseStep(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: step %d %q: %v", ErrBadScript, number, i+1, s, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// ValidateScript checks one number's steps without running them, so a script
// file is refused when it is loaded rather than in the middle of a call.
func ValidateScript(number string, steps []string) error {
	_, err := parseSteps(number, steps)
	return err
}

// LoadScripts reads a script file: a JSON object from an E.164 number to its
// list of steps, e.g. {"+15550000101": ["wait 2", "dtmf 42#", "hangup"]}. Every
// step is validated; numbers are checked to contain digits.
func LoadScripts(r io.Reader) (map[string][]string, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var scripts map[string][]string
	if err := dec.Decode(&scripts); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object of number -> list of steps: %w", ErrBadScript, err)
	}
	if _, err := compileScripts(scripts); err != nil {
		return nil, err
	}
	return scripts, nil
}

// compileScripts validates scripts and keys them by the digits of the number,
// so "+15550000101" and "15550000101" name the same script.
func compileScripts(scripts map[string][]string) (map[string][]step, error) {
	out := make(map[string][]step, len(scripts))
	for number, steps := range scripts {
		digits := digitsOnly(number)
		if digits == "" {
			return nil, fmt.Errorf("%w: %q is not a phone number", ErrBadScript, number)
		}
		parsed, err := parseSteps(number, steps)
		if err != nil {
			return nil, err
		}
		if _, dup := out[digits]; dup {
			return nil, fmt.Errorf("%w: %s: the same number appears twice", ErrBadScript, number)
		}
		out[digits] = parsed
	}
	return out, nil
}

// digitsOnly keeps the decimal digits of s: "+1 (555) 000-0101" -> "15550000101".
func digitsOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
