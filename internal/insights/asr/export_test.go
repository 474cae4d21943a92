package asr

// Endpoint is the URL o posts audio to, so tests can check how the
// configured base URL was completed.
func Endpoint(o *OpenAI) string { return o.endpoint }
