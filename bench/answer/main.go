// Command answer is a minimal answer_url for load tests: it answers every
// request with the same action list, so the platform, not the application,
// is what gets measured.
//
// With -smoke (or SMOKE=1 in the environment) it checks itself instead of
// serving: it listens on a free loopback port, asks itself for the action
// list once, and exits non-zero unless the answer is a JSON array of actions.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18099", "address to serve on")
	actions := flag.String("actions", `[{"action":"say","text":"Hello"},{"action":"hangup"}]`, "the JSON action list to return")
	smoke := flag.Bool("smoke", os.Getenv("SMOKE") == "1", "check the answer once on a free loopback port and exit (default true when SMOKE=1)")
	flag.Parse()
	body := []byte(*actions)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	if *smoke {
		if err := selfCheck(mux); err != nil {
			fmt.Fprintln(os.Stderr, "answer smoke: FAIL:", err)
			os.Exit(1)
		}
		return
	}
	log.Fatal(http.ListenAndServe(*listen, mux))
}

// selfCheck serves h on a free loopback port, fetches the answer as the
// platform would (POST), and checks it is a non-empty array of actions.
func selfCheck(h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	resp, err := client.Post("http://"+ln.Addr().String()+"/answer", "application/json", nil)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("answer is not a JSON array of actions: %w", err)
	}
	if resp.StatusCode != http.StatusOK || len(list) == 0 {
		return fmt.Errorf("HTTP %d with %d actions", resp.StatusCode, len(list))
	}
	for i, a := range list {
		if _, ok := a["action"].(string); !ok {
			return errors.New("action " + fmt.Sprint(i) + " has no \"action\" name")
		}
	}
	fmt.Printf("answer smoke: ok, %d actions in %v\n", len(list), time.Since(start).Round(time.Microsecond))
	return nil
}
