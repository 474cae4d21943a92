package jobs_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/jobs"
	"github.com/minivoice/minivoice/internal/netguard"
	"github.com/minivoice/minivoice/internal/publicmsg"
	"github.com/minivoice/minivoice/internal/store/storetest"
	"github.com/minivoice/minivoice/internal/voice"
)

// TestAttemptErrorsNameNoInternalAddress: a delivery attempt's error, which
// customers read in the event's attempts, says the guard refused a private
// address or the connection was refused, without the address a name
// resolved to: localhost (127.0.0.1 and ::1 from the hosts file) outside the
// allowed range, 10.x, and a closed loopback port.
func TestAttemptErrorsNameNoInternalAddress(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, backend string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + ln.Addr().String() + "/hooks"
		ln.Close()
		e := newEnv(t, backend, jobs.Config{RetrySchedule: []time.Duration{100 * time.Millisecond}})
		for hook, want := range map[string]string{
			"http://10.20.30.40/hooks": netguard.RefusedText,
			closed:                     "the connection was refused",
		} {
			_, ev := e.call(e.app(hook))
			got := e.waitStatus(ev.ID, voice.DeliveryExhausted, 20*time.Second)
			if len(got.Attempts) != 2 {
				t.Errorf("%s: attempts %+v, want two", hook, got.Attempts)
			}
			for _, a := range got.Attempts {
				if a.Error != want {
					t.Errorf("%s: attempt error %q, want %q", hook, a.Error, want)
				}
				if publicmsg.Scrub(a.Error) != a.Error || strings.Contains(a.Error, "127.0.0.1") {
					t.Errorf("%s: attempt error %q names an address", hook, a.Error)
				}
			}
		}
	})
}
