package rtpaudio

import (
	"container/list"
	"hash/maphash"
	"sync"
	"unsafe"

	"github.com/minivoice/minivoice/internal/media/g722"
)

// EncodedPrompt is a prompt's audio encoded once for one codec: the payload
// of each 20 ms frame, the last frame padded with silence.
type EncodedPrompt struct {
	// Frames are the payloads in order. They are shared by every call that
	// plays the prompt: read them, never write.
	Frames [][]byte
	// g722End is the encoder's state after the last frame, which a leg takes
	// over (Continue) so that its live audio after the prompt continues the
	// stream the far decoder has followed.
	g722End g722.Encoder
	kind    int
	size    int
}

// Continue makes a's encoder carry on from the end of p, after a leg has
// sent p's frames instead of encoding the prompt itself. For G.711, which
// keeps no state, it does nothing.
//
// For G.722 the cached frames were encoded from the codec's reset state, not
// from the state the leg's stream was in, so the far decoder's adaptive
// state starts the prompt out of step with the encoder's: the scale factor
// and predictors, which leak towards the input within a few tens of
// milliseconds, converge over the prompt's first frames (prompts start with
// their own leading silence, where the difference is inaudible). After the
// prompt both ends follow the same codes again.
func (a *AudioCodec) Continue(p *EncodedPrompt) {
	if a.kind == 9 && p.kind == 9 {
		*a.enc = p.g722End
	}
}

// PromptCache keeps prompts encoded per codec, so a prompt that every call
// plays (a rendered say, a play URL's audio) is encoded once rather than
// once per call. Entries are found by the prompt's samples (a 64-bit hash of
// their bytes with the codec and frame size), so any two calls that render
// the same audio share it; the least recently used entries go when the
// encoded bytes pass the bound. It is safe for concurrent use.
type PromptCache struct {
	mu      sync.Mutex
	seed    maphash.Seed
	max     int
	size    int
	entries map[promptKey]*list.Element
	lru     list.List // of *cacheEntry, most recent at the front
}

type promptKey struct {
	hash  uint64
	n     int // samples
	kind  int
	frame int
}

type cacheEntry struct {
	key    promptKey
	prompt *EncodedPrompt
}

// NewPromptCache returns a cache that holds at most maxBytes of payloads.
func NewPromptCache(maxBytes int) *PromptCache {
	return &PromptCache{seed: maphash.MakeSeed(), max: maxBytes, entries: make(map[promptKey]*list.Element)}
}

// Encoded returns samples (mono PCM at the codec's rate) encoded for the
// codec of a in frames of frameSamples, from the cache or encoded now and
// kept. Hashing the samples costs about as much as copying them, a small
// fraction of encoding them.
func (c *PromptCache) Encoded(a *AudioCodec, samples []int16, frameSamples int) *EncodedPrompt {
	var raw []byte
	if len(samples) > 0 {
		raw = unsafe.Slice((*byte)(unsafe.Pointer(&samples[0])), 2*len(samples))
	}
	key := promptKey{hash: maphash.Bytes(c.seed, raw), n: len(samples), kind: a.kind, frame: frameSamples}
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		p := el.Value.(*cacheEntry).prompt
		c.mu.Unlock()
		return p
	}
	c.mu.Unlock()

	// Encode outside the lock: two calls that miss at once both encode, and
	// the second one's result replaces the first; both are the same bytes.
	p := encodePrompt(a.kind, samples, frameSamples)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		return el.Value.(*cacheEntry).prompt
	}
	if p.size > c.max {
		return p // too big to keep; the caller still gets it
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, prompt: p})
	c.size += p.size
	for c.size > c.max {
		el := c.lru.Back()
		e := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.size -= e.prompt.size
	}
	return p
}

// Len is the number of prompts held.
func (c *PromptCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func encodePrompt(kind int, samples []int16, per int) *EncodedPrompt {
	a := &AudioCodec{kind: kind}
	if kind == 9 {
		a.enc = g722.NewEncoder()
	}
	nFrames := (len(samples) + per - 1) / per
	// One backing array for all frames: G.711 is one byte per sample, G.722
	// one byte per two.
	bytesPer := per
	if kind == 9 {
		bytesPer = per / 2
	}
	buf := make([]byte, 0, nFrames*bytesPer)
	p := &EncodedPrompt{Frames: make([][]byte, 0, nFrames), kind: kind}
	frame := make([]int16, per)
	for off := 0; off < len(samples); off += per {
		n := copy(frame, samples[off:min(off+per, len(samples))])
		clear(frame[n:])
		start := len(buf)
		buf = a.Encode(buf, frame)
		p.Frames = append(p.Frames, buf[start:len(buf):len(buf)])
	}
	if kind == 9 {
		p.g722End = *a.enc
	}
	p.size = len(buf) + 24*len(p.Frames)
	return p
}
