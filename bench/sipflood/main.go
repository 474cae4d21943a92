// Command sipflood attacks a MiniVoice SIP edge on loopback for
// bench/sip-flood.sh: it floods INVITEs over UDP from many loopback source
// addresses that no trunk allows, and holds idle and half-sent TCP
// connections (dialled again when the server closes them), while sampling
// the server's goroutines and RSS from /metrics. It prints one line of
// results, key=value, for the script to tabulate.
//
// Everything is bounded: -duration ends the attack, every socket is closed
// before it exits, and only 127.0.0.0/8 addresses are used.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	sipAddr := flag.String("sip", "127.0.0.1:5060", "the platform's SIP address")
	metricsURL := flag.String("metrics", "", "the platform's /metrics URL (sampled every second)")
	key := flag.String("key", "", "operator key for -metrics")
	duration := flag.Duration("duration", 60*time.Second, "how long the attack lasts")
	rate := flag.Int("rate", 1000, "INVITEs per second over UDP")
	sources := flag.Int("sources", 250, "UDP source addresses the INVITEs come from (127.2.x.y)")
	idle := flag.Int("tcp", 10000, "TCP connections to hold open, half silent and half with a message never finished")
	connSources := flag.Int("tcp-sources", 200, "source addresses the TCP connections come from (127.3.x.y)")
	flag.Parse()
	if *sources < 1 || *connSources < 1 || *rate < 0 || *idle < 0 {
		log.Fatal("sipflood: -sources and -tcp-sources must be at least 1, -rate and -tcp not negative")
	}
	platform, err := net.ResolveUDPAddr("udp", *sipAddr)
	if err != nil {
		log.Fatalf("sipflood: -sip: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()

	var wg sync.WaitGroup
	samp := &sampler{url: *metricsURL, key: *key}
	if samp.url != "" {
		wg.Add(1)
		go func() { defer wg.Done(); samp.run(ctx) }()
	}
	tcp := &holder{addr: *sipAddr, sources: *connSources, dialing: make(chan struct{}, 100)}
	for i := range *idle {
		wg.Add(1)
		go func() { defer wg.Done(); tcp.hold(ctx, i) }()
	}
	fl := &flooder{platform: platform, callIDs: map[string]int{}}
	socks, err := fl.open(*sources)
	if err != nil {
		log.Fatalf("sipflood: %v", err)
	}
	for _, s := range socks {
		wg.Add(1)
		go func() { defer wg.Done(); fl.read(s) }()
	}
	fl.send(ctx, socks, *rate)
	<-ctx.Done()
	// Late answers (and retransmissions, if any) still count for 3 s.
	time.Sleep(3 * time.Second)
	for _, s := range socks {
		s.Close()
	}
	wg.Wait()
	retrans := 0
	for _, n := range fl.callIDs {
		if n > 1 {
			retrans += n - 1
		}
	}
	fmt.Printf("invites_sent=%d final_responses=%d trying=%d retransmitted_finals=%d answered_invites=%d "+
		"tcp_dials=%d tcp_dial_errors=%d tcp_closed_by_server=%d tcp_closed_at_once=%d tcp_open_peak=%d tcp_open_end=%d "+
		"goroutines_peak=%d rss_peak_mib=%d goroutines_end=%d rss_end_mib=%d samples=%d\n",
		fl.sent.Load(), fl.finals.Load(), fl.trying.Load(), retrans, len(fl.callIDs),
		tcp.dials.Load(), tcp.dialErrs.Load(), tcp.closed.Load(), tcp.atOnce.Load(), tcp.peak.Load(), tcp.open.Load(),
		samp.gPeak, samp.rssPeak>>20, samp.gLast, samp.rssLast>>20, samp.n)
}

// flooder sends INVITEs from many source addresses and counts the answers.
type flooder struct {
	platform *net.UDPAddr
	sent     atomic.Int64
	finals   atomic.Int64
	trying   atomic.Int64
	mu       sync.Mutex
	callIDs  map[string]int // final responses per Call-ID
}

func (f *flooder) open(n int) ([]*net.UDPConn, error) {
	var socks []*net.UDPConn
	for i := range n {
		ip := net.IPv4(127, 2, byte(i/250), byte(i%250+1))
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			for _, s := range socks {
				s.Close()
			}
			return nil, fmt.Errorf("bind %s: %w", ip, err)
		}
		socks = append(socks, c)
	}
	return socks, nil
}

// send paces rate INVITEs a second over socks, round robin, until ctx ends.
func (f *flooder) send(ctx context.Context, socks []*net.UDPConn, rate int) {
	if rate == 0 {
		return
	}
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := int(now.Sub(start).Seconds() * float64(rate))
			for ; n < due; n++ {
				s := socks[n%len(socks)]
				local := s.LocalAddr().(*net.UDPAddr)
				id := fmt.Sprintf("flood-%d@%s", n, local.IP)
				msg := fmt.Sprintf("INVITE sip:+15550009999@%[2]s SIP/2.0\r\nVia: SIP/2.0/UDP %[1]s;branch=z9hG4bK-%[3]d;rport\r\n"+
					"Max-Forwards: 70\r\nFrom: <sip:scanner@%[1]s>;tag=%[3]d\r\nTo: <sip:+15550009999@%[2]s>\r\nCall-ID: %[4]s\r\n"+
					"CSeq: 1 INVITE\r\nContact: <sip:scanner@%[1]s>\r\nContent-Length: 0\r\n\r\n", local, f.platform, n, id)
				if _, err := s.WriteToUDP([]byte(msg), f.platform); err == nil {
					f.sent.Add(1)
				}
			}
		}
	}
}

// read counts the responses arriving on s until it is closed.
func (f *flooder) read(s *net.UDPConn) {
	buf := make([]byte, 65535)
	for {
		n, err := s.Read(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, "SIP/2.0 ") {
			continue
		}
		if strings.HasPrefix(msg, "SIP/2.0 1") {
			f.trying.Add(1)
			continue
		}
		f.finals.Add(1)
		id := header(msg, "Call-ID")
		f.mu.Lock()
		f.callIDs[id]++
		f.mu.Unlock()
	}
}

func header(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// holder keeps TCP connections open, dialling again a second after the
// server closes one.
type holder struct {
	addr                            string
	sources                         int
	dialing                         chan struct{} // bounds dials in flight, so the listen backlog is not what is measured
	dials, dialErrs, closed, atOnce atomic.Int64
	open, peak                      atomic.Int64
}

func (h *holder) hold(ctx context.Context, i int) {
	ip := net.IPv4(127, 3, byte((i%h.sources)/250), byte((i%h.sources)%250+1))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		select {
		case h.dialing <- struct{}{}:
		case <-ctx.Done():
			return
		}
		c, err := d.DialContext(ctx, "tcp", h.addr)
		<-h.dialing
		h.dials.Add(1)
		if err != nil {
			h.dialErrs.Add(1)
			sleep(ctx, time.Second)
			continue
		}
		if n := h.open.Add(1); n > h.peak.Load() {
			h.peak.Store(n) // racy max, close enough for a peak
		}
		if i%2 == 1 {
			_, _ = io.WriteString(c, "INVITE sip:+15550009999@"+h.addr+" SIP/2.0\r\nVia: SIP/2.0/TCP "+c.LocalAddr().String()+"\r\nFrom: ")
		}
		opened := time.Now()
		stop := context.AfterFunc(ctx, func() { c.Close() })
		_, _ = io.Copy(io.Discard, c) // returns when either side closes
		stop()
		c.Close()
		h.open.Add(-1)
		if ctx.Err() != nil {
			return
		}
		h.closed.Add(1)
		if time.Since(opened) < time.Second {
			h.atOnce.Add(1)
		}
		sleep(ctx, time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// sampler reads go_goroutines and process_resident_memory_bytes every second.
type sampler struct {
	url, key         string
	gPeak, gLast     int64
	rssPeak, rssLast int64
	n                int
}

func (s *sampler) run(ctx context.Context) {
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		s.sample(client)
		select {
		case <-ctx.Done():
			time.Sleep(3 * time.Second) // the end sample, after the last answers
			s.sample(client)
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *sampler) sample(client *http.Client) {
	req, err := http.NewRequest("GET", s.url, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipflood: metrics:", err)
		return
	}
	defer resp.Body.Close()
	var g, rss int64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			g = int64(v)
		case "process_resident_memory_bytes":
			rss = int64(v)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return
	}
	s.n++
	s.gLast, s.rssLast = g, rss
	s.gPeak, s.rssPeak = max(s.gPeak, g), max(s.rssPeak, rss)
}
