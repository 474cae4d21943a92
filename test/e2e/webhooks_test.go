package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minivoice/minivoice/internal/store/storetest"
)

// TestWebhooksSurviveKill9: a call ends while the application's webhook
// receiver is down, and `serve` is killed with SIGKILL right after. The next
// start delivers every event of the call, signed, with the ids the API shows;
// none is lost.
func TestWebhooksSurviveKill9(t *testing.T) {
	t.Parallel()
	bin := build(t)
	for _, backend := range storetest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			args := []string{"--allow-private-urls", "127.0.0.0/8", "--webhook-retry-schedule", "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s"}
			if backend == "postgres" {
				args = []string{"--allow-private-urls", "127.0.0.0/8", "--webhook-retry-schedule", "5s,5s,5s",
					"--database", storetest.SchemaURL(t)}
			}
			data := t.TempDir()
			s := startIn(t, bin, data, args...)
			js := "application/json"

			// The receiver's address, with nothing listening on it yet.
			hookAddr := freeTCPAddr(t)
			deadSIP := freeTCPAddr(t)
			cust := s.do(t, "POST", "/v1/customers", s.key, js, `{"name":"hooks","verified_caller_ids":["+15551230001"]}`, 201)["id"].(string)
			s.do(t, "POST", "/v1/customers/"+cust+"/credits", s.key, js, `{"amount":"10.00"}`, 201)
			s.do(t, "POST", "/v1/rates", s.key, js, `{"prefix":"1","price_per_minute":"0.01"}`, 201)
			app := s.do(t, "POST", "/v1/applications", s.key, js, `{"customer_id":"`+cust+`","name":"hooks",
				"answer_url":"http://127.0.0.1:9/answer","webhook_url":"http://`+hookAddr+`/hooks"}`, 201)
			appID, secret := app["id"].(string), app["webhook_secret"].(string)
			host, port, _ := net.SplitHostPort(deadSIP)
			// A trunk nobody answers on: the call fails at once with call.completed.
			s.do(t, "POST", "/v1/trunks", s.key, js, `{"name":"dead","host":"`+host+`","port":`+port+`,"transport":"tcp"}`, 201)
			call := s.do(t, "POST", "/v1/calls", s.key, js, `{"to":"+15551230002","from":"+15551230001","application_id":"`+appID+`"}`, 201)
			callID := call["id"].(string)
			deadline := time.Now().Add(30 * time.Second)
			for {
				c := s.do(t, "GET", "/v1/calls/"+callID, s.key, js, "", 200)
				if c["status"] == "failed" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("call did not fail: %v", c)
				}
				time.Sleep(50 * time.Millisecond)
			}
			events := eventIDs(t, s, callID)
			if len(events) < 2 {
				t.Fatalf("call events %v, want call.initiated ... call.completed", events)
			}
			if backend == "postgres" {
				// Killed between attempts: a job killed mid-attempt waits
				// for River's stuck-job rescue on PostgreSQL, about a minute
				// (SQLite requeues it at start, which the sqlite run, killed
				// at once, exercises). call.completed waits behind
				// call.initiated, whose first retry is 5 s away.
				for deadline := time.Now().Add(20 * time.Second); ; {
					ev := s.do(t, "GET", "/v1/events/"+events[0], s.key, js, "", 200)
					if n := len(ev["attempts"].([]any)); n > 0 && ev["delivery_status"] == "retrying" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("event with the receiver down: %v", ev)
					}
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-s.done
			s.done <- nil // for start's cleanup

			// The receiver comes up, then serve again on the same data.
			var mu sync.Mutex
			got := map[string]int{}
			var order []string
			ln, err := net.Listen("tcp", hookAddr)
			if err != nil {
				t.Fatal(err)
			}
			rc := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if !independentlySigned(secret, r.Header, body) {
					http.Error(w, "bad signature", http.StatusUnauthorized)
					return
				}
				var p struct {
					ID   string         `json:"id"`
					Call map[string]any `json:"call"`
				}
				if err := json.Unmarshal(body, &p); err != nil || p.ID != r.Header.Get("webhook-id") || p.Call["id"] != callID {
					http.Error(w, "bad body", http.StatusBadRequest)
					return
				}
				mu.Lock()
				got[p.ID]++
				order = append(order, p.ID)
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			}))
			rc.Listener.Close()
			rc.Listener = ln
			rc.Start()
			defer rc.Close()

			s2 := startIn(t, bin, data, args...)
			if again := eventIDs(t, s2, callID); !slices.Equal(again, events) {
				t.Fatalf("events after the restart %v, before %v", again, events)
			}
			deadline = time.Now().Add(100 * time.Second)
			for {
				delivered := 0
				for _, id := range events {
					ev := s2.do(t, "GET", "/v1/events/"+id, s2.key, js, "", 200)
					if ev["delivery_status"] == "delivered" {
						delivered++
					}
				}
				if delivered == len(events) {
					break
				}
				if time.Now().After(deadline) {
					for _, id := range events {
						t.Logf("%v", s2.do(t, "GET", "/v1/events/"+id, s2.key, js, "", 200))
					}
					t.Fatalf("%d of %d events delivered after the restart", delivered, len(events))
				}
				time.Sleep(100 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range events {
				if got[id] != 1 {
					t.Errorf("event %s received %d times, want once", id, got[id])
				}
			}
			if !slices.Equal(order, events) {
				t.Errorf("received in order %v, want %v", order, events)
			}
		})
	}
}

// eventIDs lists a call's events' ids, oldest first.
func eventIDs(t *testing.T, s *server, callID string) []string {
	t.Helper()
	var ids []string
	for _, e := range s.do(t, "GET", "/v1/calls/"+callID+"/events", s.key, "application/json", "", 200)["data"].([]any) {
		ids = append(ids, e.(map[string]any)["id"].(string))
	}
	return ids
}

// freeTCPAddr is a loopback address nothing listens on.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// independentlySigned checks a Standard Webhooks signature from its
// definition, not with MiniVoice's code.
func independentlySigned(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}
