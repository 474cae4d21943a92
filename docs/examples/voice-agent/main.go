// Command voice-agent is a MiniVoice application that answers calls with an
// offline voice agent on a two-way media stream (docs/streams.md): it
// greets the caller, listens to what they say, recognises it with
// pocketsphinx against the phrases it understands, decides a reply and
// speaks it with flite. When the caller talks over a reply it stops talking
// at once (barge-in, the stream's clear message). "Goodbye" ends the call.
//
// The answer_url (/answer) returns one action, a bidirectional stream to
// this server's /media, and a hangup for when the stream ends. Everything
// runs on this machine: Debian's flite, pocketsphinx and pocketsphinx-en-us.
//
// With -secret (or MINIVOICE_WEBHOOK_SECRET) the stream's upgrade request
// is checked against the application's webhook_secret before it is
// accepted; see README.md to run it.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/minivoice/minivoice/webhook"
)

// The stream's audio: 16 kHz big-endian PCM, what flite speaks and
// pocketsphinx hears without conversion.
const (
	rate        = 16000
	frameLen    = rate / 50 // samples in 20 ms
	encoding    = "audio/l16"
	speechDBFS  = -35.0 // a frame louder than this is speech
	startFrames = 3     // 60 ms of speech starts an utterance
	endFrames   = 40    // 800 ms of silence ends it
	maxFrames   = 500   // 10 s: an utterance is cut there
)

// grammar is what the agent understands (JSGF for pocketsphinx): a small
// grammar recognises far better than a dictation model.
const grammar = `#JSGF V1.0;
grammar agent;
public <utterance> = [what are your | when are you] opening hours | [when are you] open | [where is] my order | [can i] speak to a person | goodbye;
`

// config is what the agent needs.
type config struct {
	// Secret is the application's webhook_secret; empty skips the check.
	Secret string
	// Voice is the flite voice; default slt.
	Voice string
	// ModelDir is pocketsphinx's en-us model; default Debian's.
	ModelDir string
}

// turn is one exchange, for the log and the test.
type turn struct {
	CallID  string
	Heard   string
	Replied string
}

// agent is the application's web server.
type agent struct {
	cfg     config
	workDir string

	mu       sync.Mutex
	turns    []turn
	bargeIns int
}

func newAgent(cfg config) (*agent, error) {
	if cfg.Voice == "" {
		cfg.Voice = "slt"
	}
	if cfg.ModelDir == "" {
		cfg.ModelDir = "/usr/share/pocketsphinx/model/en-us"
	}
	dir, err := os.MkdirTemp("", "voice-agent-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "agent.jsgf"), []byte(grammar), 0o600); err != nil {
		return nil, err
	}
	return &agent{cfg: cfg, workDir: dir}, nil
}

// close removes the agent's temporary files.
func (a *agent) close() { _ = os.RemoveAll(a.workDir) }

func (a *agent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /answer", a.answer)
	mux.HandleFunc("GET /media", a.media)
	return mux
}

// answer connects the call to this server's /media; when the agent closes
// the stream, the call hangs up.
func (a *agent) answer(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode([]map[string]any{
		{"action": "stream", "url": "ws://" + r.Host + "/media", "bidirectional": true,
			"encoding": encoding, "sample_rate": rate},
		{"action": "hangup"},
	})
}

// message is a stream message, both ways (docs/streams.md).
type message struct {
	Event    string `json:"event"`
	StreamID string `json:"stream_id,omitempty"`
	Start    *struct {
		CallID string `json:"call_id"`
	} `json:"start,omitempty"`
	Media *struct {
		Track   string `json:"track,omitempty"`
		Payload string `json:"payload"`
	} `json:"media,omitempty"`
	Mark *struct {
		Name string `json:"name"`
	} `json:"mark,omitempty"`
}

// call is one call's conversation.
type call struct {
	a      *agent
	conn   net.Conn
	writes sync.Mutex
	id     string

	// speaking is the mark of the reply being played, "" when quiet.
	speaking string
	replies  int
	// heard takes finished utterances to the conversation goroutine.
	heard chan []int16
}

// media runs one call's stream.
func (a *agent) media(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Secret != "" {
		if err := webhook.Verify(a.cfg.Secret, r.Header, nil, time.Now(), 0); err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
	}
	conn, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	c := &call{a: a, conn: conn, heard: make(chan []int16, 4)}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.converse(ctx)
	}()
	c.listen(ctx)
	cancel()
	<-done
}

// listen reads the stream: the caller's audio goes through the utterance
// detector; marks say a reply has been heard in full.
func (c *call) listen(ctx context.Context) {
	var utt []int16
	voiced, quiet := 0, 0
	for ctx.Err() == nil {
		b, _, err := wsutil.ReadClientData(c.conn)
		if err != nil {
			return
		}
		var m message
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch {
		case m.Event == "start" && m.Start != nil:
			c.id = m.Start.CallID
			c.heard <- nil // nil: greet
		case m.Event == "mark" && m.Mark != nil:
			c.a.mu.Lock()
			if m.Mark.Name == c.speaking {
				c.speaking = ""
			}
			c.a.mu.Unlock()
			if m.Mark.Name == "bye" {
				return // closing the socket ends the stream; the call hangs up
			}
		case m.Event == "media" && m.Media != nil && m.Media.Track == "inbound":
			raw, err := base64.StdEncoding.DecodeString(m.Media.Payload)
			if err != nil {
				continue
			}
			frame := make([]int16, len(raw)/2)
			for i := range frame {
				frame[i] = int16(binary.BigEndian.Uint16(raw[2*i:]))
			}
			if dbfs(frame) > speechDBFS {
				voiced, quiet = voiced+1, 0
			} else {
				quiet++
				if utt == nil {
					voiced = 0
				}
			}
			if utt == nil && voiced >= startFrames {
				utt = []int16{}
				c.bargeIn()
			}
			if utt == nil {
				continue
			}
			utt = append(utt, frame...)
			if quiet >= endFrames || len(utt) >= maxFrames*frameLen {
				select {
				case c.heard <- utt:
				default: // still answering the last one: this one is lost
				}
				utt, voiced, quiet = nil, 0, 0
			}
		}
	}
}

// bargeIn stops the reply being played when the caller starts talking.
func (c *call) bargeIn() {
	c.a.mu.Lock()
	speaking := c.speaking != ""
	if speaking {
		c.speaking = ""
		c.a.bargeIns++
	}
	c.a.mu.Unlock()
	if speaking {
		c.send(message{Event: "clear"})
	}
}

// converse answers each utterance in turn.
func (c *call) converse(ctx context.Context) {
	for {
		var utt []int16
		select {
		case <-ctx.Done():
			return
		case utt = <-c.heard:
		}
		if utt == nil {
			c.say(ctx, "Hello, this is the voice agent of Example Company. You can ask about our opening hours, or about your order.", "")
			continue
		}
		text, err := c.a.recognise(ctx, utt)
		if err != nil {
			log.Printf("call %s: recognise: %v", c.id, err)
			continue
		}
		reply, mark := decide(text)
		c.a.mu.Lock()
		c.a.turns = append(c.a.turns, turn{CallID: c.id, Heard: text, Replied: reply})
		c.a.mu.Unlock()
		log.Printf("call %s: heard %q, replying %q", c.id, text, reply)
		c.say(ctx, reply, mark)
	}
}

// decide is the agent's whole mind: a reply for what was heard, and "bye"
// as the mark of the last reply.
func decide(heard string) (reply, mark string) {
	switch {
	case strings.Contains(heard, "goodbye"):
		return "Thank you for calling. Goodbye!", "bye"
	case strings.Contains(heard, "open"):
		return "We are open from nine in the morning to five in the evening, Monday to Friday.", ""
	case strings.Contains(heard, "order"):
		return "Your order was sent yesterday and arrives tomorrow.", ""
	case strings.Contains(heard, "person"):
		return "Everybody is busy right now. Please call again later.", ""
	}
	return "Sorry, I did not understand. You can ask about our opening hours, or about your order.", ""
}

// say speaks text: it sends the audio, then a mark that comes back once the
// caller has heard all of it.
func (c *call) say(ctx context.Context, text, mark string) {
	pcm, err := c.a.speak(ctx, text)
	if err != nil {
		log.Printf("call %s: speak: %v", c.id, err)
		return
	}
	c.a.mu.Lock()
	c.replies++
	if mark == "" {
		mark = fmt.Sprintf("reply-%d", c.replies)
	}
	c.speaking = mark
	c.a.mu.Unlock()
	// One second of audio a message: MiniVoice queues it and plays it
	// without gaps.
	for off := 0; off < len(pcm); off += rate {
		chunk := pcm[off:min(off+rate, len(pcm))]
		b := make([]byte, 2*len(chunk))
		for i, s := range chunk {
			binary.BigEndian.PutUint16(b[2*i:], uint16(s))
		}
		m := message{Event: "media"}
		m.Media = &struct {
			Track   string `json:"track,omitempty"`
			Payload string `json:"payload"`
		}{Payload: base64.StdEncoding.EncodeToString(b)}
		c.send(m)
	}
	m := message{Event: "mark"}
	m.Mark = &struct {
		Name string `json:"name"`
	}{Name: mark}
	c.send(m)
}

func (c *call) send(m message) {
	b, _ := json.Marshal(m)
	c.writes.Lock()
	defer c.writes.Unlock()
	_ = wsutil.WriteServerText(c.conn, b)
}

// speak renders text with flite at 16 kHz.
func (a *agent) speak(ctx context.Context, text string) ([]int16, error) {
	f, err := os.CreateTemp(a.workDir, "say-*.wav")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	_ = f.Close()
	defer os.Remove(path)
	if out, err := exec.CommandContext(ctx, "flite", "-voice", a.cfg.Voice, "-t", text, "-o", path).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("flite: %w: %s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return readWAV(b)
}

// recognise runs pocketsphinx on an utterance against the agent's grammar.
func (a *agent) recognise(ctx context.Context, utt []int16) (string, error) {
	f, err := os.CreateTemp(a.workDir, "heard-*.wav")
	if err != nil {
		return "", err
	}
	path := f.Name()
	defer os.Remove(path)
	if _, err := f.Write(wav(utt)); err != nil {
		_ = f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "pocketsphinx_continuous", "-infile", path,
		"-hmm", filepath.Join(a.cfg.ModelDir, "en-us"), "-dict", filepath.Join(a.cfg.ModelDir, "cmudict-en-us.dict"),
		"-jsgf", filepath.Join(a.workDir, "agent.jsgf"))
	cmd.Stderr = io.Discard
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("pocketsphinx: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// wav is a mono 16 kHz PCM16 WAV of samples.
func wav(samples []int16) []byte {
	var b bytes.Buffer
	n := uint32(2 * len(samples))
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, 36+n)
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(2 * rate), uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, n)
	_ = binary.Write(&b, binary.LittleEndian, samples)
	return b.Bytes()
}

// readWAV reads flite's mono PCM16 WAV, at 16 kHz (8 kHz voices are
// doubled up).
func readWAV(b []byte) ([]int16, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("not a WAV file")
	}
	var sr uint32
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8 : min(p+8+size, len(b))]
		switch id {
		case "fmt ":
			if len(body) >= 8 {
				sr = binary.LittleEndian.Uint32(body[4:])
			}
		case "data":
			out := make([]int16, len(body)/2)
			for i := range out {
				out[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			if sr == rate/2 {
				up := make([]int16, 0, 2*len(out))
				for _, s := range out {
					up = append(up, s, s)
				}
				out = up
			}
			return out, nil
		}
		p += 8 + size + size%2
	}
	return nil, errors.New("no audio in the WAV file")
}

// dbfs is a frame's level.
func dbfs(frame []int16) float64 {
	if len(frame) == 0 {
		return math.Inf(-1)
	}
	var sum float64
	for _, s := range frame {
		sum += float64(s) * float64(s)
	}
	return 20 * math.Log10(math.Sqrt(sum/float64(len(frame)))/32768)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8095", "address to serve the answer_url and the stream on")
	secret := flag.String("secret", os.Getenv("MINIVOICE_WEBHOOK_SECRET"), "the application's webhook_secret, to check the stream's upgrade (default $MINIVOICE_WEBHOOK_SECRET)")
	voice := flag.String("voice", "slt", "flite voice")
	flag.Parse()
	a, err := newAgent(config{Secret: *secret, Voice: *voice})
	if err != nil {
		log.Fatal(err)
	}
	defer a.close()
	log.Printf("voice agent: answer_url http://%s/answer", *listen)
	log.Fatal(http.ListenAndServe(*listen, a.routes()))
}
