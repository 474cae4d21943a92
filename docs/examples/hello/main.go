// Command hello is the smallest useful MiniVoice application, the one the
// README's tour runs: its answer_url greets the caller and asks for a digit,
// its action_url says which digit was pressed, and its webhook_url prints
// every event. Every request MiniVoice sends is signed; with -secret (or
// MINIVOICE_WEBHOOK_SECRET) it verifies each one and refuses the others.
//
//	go run ./docs/examples/hello -listen 127.0.0.1:3000 -secret whsec_...
//
// Routes:
//
//	POST /answer    answer_url: say hello, gather one digit
//	POST /pressed   the gather's action_url: say the digit, hang up
//	POST /webhooks  webhook_url: print the event, answer 204
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/minivoice/minivoice/webhook"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3000", "address to listen on")
	secret := flag.String("secret", os.Getenv("MINIVOICE_WEBHOOK_SECRET"), "the application's webhook_secret (whsec_...)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	log.Printf("hello: listening on http://%s (signatures %s)", *listen, map[bool]string{true: "verified", false: "NOT verified: no -secret"}[*secret != ""])
	log.Fatal(http.ListenAndServe(*listen, newApp(*secret)))
}

// newApp returns the application's routes.
func newApp(secret string) http.Handler {
	mux := http.NewServeMux()
	// read returns a request's body once its signature checks out.
	read := func(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
		var raw []byte
		var err error
		if secret != "" {
			raw, err = webhook.VerifyRequest(r, secret, 0)
		} else {
			raw, err = readAll(r)
		}
		if err != nil {
			log.Printf("%s: refused: %v", r.URL.Path, err)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return nil, false
		}
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		return body, true
	}
	actions := func(w http.ResponseWriter, list ...map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}
	mux.HandleFunc("POST /answer", func(w http.ResponseWriter, r *http.Request) {
		body, ok := read(w, r)
		if !ok {
			return
		}
		call, _ := body["call"].(map[string]any)
		log.Printf("answer_url: call %v from %v to %v", call["id"], call["from"], call["to"])
		actions(w,
			map[string]any{"action": "say", "text": "Hello from MiniVoice."},
			map[string]any{"action": "gather", "max_digits": 1, "timeout": 5,
				// Action URLs are absolute: this server, as MiniVoice reached it.
				"action_url": "http://" + r.Host + "/pressed",
				"prompt":     []map[string]any{{"action": "say", "text": "Press any key."}}},
		)
	})
	mux.HandleFunc("POST /pressed", func(w http.ResponseWriter, r *http.Request) {
		body, ok := read(w, r)
		if !ok {
			return
		}
		result, _ := body["result"].(map[string]any)
		log.Printf("action_url: gather %v, digits %q", result["reason"], result["digits"])
		text := "You did not press anything. Goodbye."
		if d, _ := result["digits"].(string); d != "" {
			text = "You pressed " + d + ". Goodbye."
		}
		actions(w, map[string]any{"action": "say", "text": text}, map[string]any{"action": "hangup"})
	})
	mux.HandleFunc("POST /webhooks", func(w http.ResponseWriter, r *http.Request) {
		body, ok := read(w, r)
		if !ok {
			return
		}
		call, _ := body["call"].(map[string]any)
		log.Printf("webhook: %v call %v (%v)", body["event"], call["id"], call["status"])
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func readAll(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, webhook.MaxBodyBytes))
}

// Usage reminder when run with -h.
func init() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: hello [-listen 127.0.0.1:3000] [-secret whsec_...]\n")
		flag.PrintDefaults()
	}
}
