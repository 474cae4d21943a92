package console

import (
	"fmt"
	"net/http"
	"time"
)

// Live calls stream: how often the count is read, how often an unchanged
// count is repeated (so proxies keep the connection), and how long one
// stream lasts. The browser's EventSource reconnects by itself after the
// end, and the reconnection goes through the session check again, so a
// revoked key or a signed-out session stops getting numbers within
// liveStreamFor.
const (
	livePoll      = 2 * time.Second
	liveKeepalive = 15 * time.Second
	liveStreamFor = time.Minute
)

// liveCalls streams the number of the key's calls that have not ended, as
// server-sent events ("event: live", "data: N"), when it changes.
func (c *Console) liveCalls(w http.ResponseWriter, r *http.Request, s *session) error {
	// The console's middleware wraps w; the controller finds the flusher
	// underneath through Unwrap.
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprintf(w, "retry: %d\n\n", (2 * time.Second).Milliseconds())

	end := time.NewTimer(liveStreamFor)
	defer end.Stop()
	poll := time.NewTicker(livePoll)
	defer poll.Stop()
	last, lastSent := -1, time.Time{}
	for {
		n, err := c.store.LiveCalls(r.Context(), s.p.Scope())
		if err != nil {
			if r.Context().Err() != nil {
				return nil
			}
			c.log.WarnContext(r.Context(), "live calls", "error", err)
		} else if n != last || time.Since(lastSent) >= liveKeepalive {
			if _, err := fmt.Fprintf(w, "event: live\ndata: %d\n\n", n); err != nil {
				return nil // the browser went away
			}
			if err := rc.Flush(); err != nil {
				return fmt.Errorf("live calls: %w", err)
			}
			last, lastSent = n, time.Now()
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-c.stop:
			return nil
		case <-end.C:
			return nil
		case <-poll.C:
		}
	}
}

// Close ends the live streams, so a server shutting down does not wait for
// browsers that keep them open. Register it with http.Server.RegisterOnShutdown.
func (c *Console) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
}
