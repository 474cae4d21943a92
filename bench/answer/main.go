// Command answer is a minimal answer_url for load tests: it answers every
// request with the same action list, so the platform, not the application,
// is what gets measured.
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18099", "address to serve on")
	actions := flag.String("actions", `[{"action":"say","text":"Hello"},{"action":"hangup"}]`, "the JSON action list to return")
	flag.Parse()
	body := []byte(*actions)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
