#!/bin/sh
# Regenerates the known-answer vectors in this directory from the system
# spandsp (libspandsp 0.0.6 on Debian 12, the library baresip's g722 module
# links). Needs cc, libspandsp-dev, python3 and flite. The .pcm inputs are
# committed, so re-running only the ref steps reproduces the expected outputs.
#
#   <name>.pcm      input, 16 kHz mono s16le
#   <name>.g722     spandsp's encoding of <name>.pcm
#   <name>.dec      spandsp's decoding of <name>.g722 (s16le)
#   silence.g722    spandsp's encoding of 1 s of zeros; silence.dec its decoding
#   random.g722     arbitrary codes; random.dec is spandsp's decoding
#   noise.itu       QMF-bypassed encoding of noise.pcm (ref enctest)
#   random.itu      QMF-bypassed decoding of random.g722 (ref dectest)
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/ref" ref.c -lspandsp

if [ "${REGEN_INPUTS:-}" = 1 ]; then
	flite -voice slt -t "Thanks for calling. Please hold while we connect you." -o "$tmp/speech.wav"
	python3 - "$tmp/speech.wav" <<'PY'
import math, random, struct, sys, wave

def put(name, samples):
    samples = [max(-32768, min(32767, int(round(v)))) for v in samples]
    with open(name + ".pcm", "wb") as f:
        f.write(struct.pack("<%dh" % len(samples), *samples))

w = wave.open(sys.argv[1])
assert w.getframerate() == 16000 and w.getsampwidth() == 2 and w.getnchannels() == 1
raw = w.readframes(w.getnframes())
speech = struct.unpack("<%dh" % (len(raw) // 2), raw)
start = next(i for i, v in enumerate(speech) if abs(v) > 500)
put("speech", speech[start:start + 16000])

# Exponential sweep 50 Hz .. 7.9 kHz, 0.5 s, -4 dBFS.
n, f0, f1 = 8000, 50.0, 7900.0
k = math.log(f1 / f0) / n
put("chirp", [20000 * math.sin(2 * math.pi * f0 * (math.exp(k * i) - 1) / k / 16000) for i in range(n)])

# Full-scale noise with rail-to-rail bursts: drives every saturation.
rnd = random.Random(722)
noise = []
for i in range(8000):
    if (i // 500) % 4 == 3:
        noise.append(32767 if rnd.random() < 0.5 else -32768)
    else:
        noise.append(rnd.randint(-32768, 32767) * ((i // 500) % 4 + 1) / 4)
put("noise", noise)

# Silence, clicks, DC steps and a quiet tone: zero differences, overload
# recovery and small signals.
edge = [0] * 800
for i in range(800, 4000):
    if i % 400 == 0:
        edge.append(30000)
    elif 2000 <= i < 2400:
        edge.append(-20000)
    elif 2400 <= i < 2800:
        edge.append(12000)
    elif i >= 3200:
        edge.append(40 * math.sin(2 * math.pi * 1000 * i / 16000))
    else:
        edge.append(0)
put("edge", edge)

with open("random.g722", "wb") as f:
    f.write(bytes(rnd.randrange(256) for _ in range(4000)))
PY
fi

for name in speech chirp noise edge; do
	"$tmp/ref" enc <"$name.pcm" >"$name.g722"
	"$tmp/ref" dec <"$name.g722" >"$name.dec"
done
head -c 32000 /dev/zero | "$tmp/ref" enc >silence.g722
"$tmp/ref" dec <silence.g722 >silence.dec
"$tmp/ref" dec <random.g722 >random.dec
"$tmp/ref" enctest <noise.pcm >noise.itu
"$tmp/ref" dectest <random.g722 >random.itu
