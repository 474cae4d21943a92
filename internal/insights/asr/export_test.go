package asr

// Endpoint is the URL o posts audio to, so tests can check how the
// configured base URL was completed.
func Endpoint(o *OpenAI) string { return o.endpoint }

// VoiceSpans exposes voiceSpans as [from, to) sample pairs.
func VoiceSpans(samples []int16, rate int) [][2]int {
	var out [][2]int
	for _, s := range voiceSpans(samples, rate) {
		out = append(out, [2]int{s.from, s.to})
	}
	return out
}
