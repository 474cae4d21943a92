package g722

import "slices"

// Names below follow the computational description in ITU-T G.722 (SUBTRA,
// QUANTL, INVQAL, LOGSCL, SCALEL, the block 4 predictor RECONS, PARREC,
// UPPOL1, UPPOL2, UPZERO, FILTEP, FILTEZ, PREDIC, ...; the tables' names QQ6,
// QQ4, QQ2, WL, WH, ILB, RIL4, RIH2), so each step can be checked against the
// text. All state is int32 for speed, but every value stays within the 16-bit
// range the Recommendation specifies: where its fixed-point arithmetic
// saturates, sat16/sat15 do the same, and where it only shifts, the ranges
// are small enough that nothing can wrap.

// qmfEven are the QMF coefficients h(0), h(2), ..., h(22) and qmfOdd are
// h(1), h(3), ..., h(23), both scaled by 2^13, oldest tap first as they are
// applied to the history windows below. Each set sums to 4096, the DC gain
// that the shifts in the transmit and receive QMF take back out.
var (
	qmfEven = [12]int32{3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11}
	qmfOdd  = [12]int32{-11, 53, -156, 362, -805, 3876, 951, -210, 32, 12, -11, 3}
)

// q6 are the lower-band quantiser decision levels, scaled so that
// q6[i]*det>>12 is the level at the current step size. Index 0 and the two
// trailing zeros are padding: the search runs over 1..29.
var q6 = [32]int32{
	0, 35, 72, 110, 150, 190, 233, 276,
	323, 370, 422, 473, 530, 587, 650, 714,
	786, 858, 940, 1023, 1121, 1219, 1339, 1458,
	1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
}

// q6Search is q6 with the last level repeated over the padding, so the
// levels never decrease and the binary search in QUANTL can probe indices up
// to 31 without a bounds test; capping its result at 30 gives the
// Recommendation's last interval for every difference past level 29.
var q6Search = func() (t [32]int32) {
	t = q6
	t[30], t[31] = q6[29], q6[29]
	return t
}()

// iln and ilp map the quantiser interval (from the search over q6) to the
// 6-bit lower-band code for a negative and a non-negative difference
// signal respectively.
var (
	iln = [32]int32{
		0, 63, 62, 31, 30, 29, 28, 27,
		26, 25, 24, 23, 22, 21, 20, 19,
		18, 17, 16, 15, 14, 13, 12, 11,
		10, 9, 8, 7, 6, 5, 4, 0,
	}
	ilp = [32]int32{
		0, 61, 60, 59, 58, 57, 56, 55,
		54, 53, 52, 51, 50, 49, 48, 47,
		46, 45, 44, 43, 42, 41, 40, 39,
		38, 37, 36, 35, 34, 33, 32, 0,
	}
)

// qm6 is the 6-bit lower-band inverse quantiser (QQ6), used only for the
// decoder's output; qm4 is the 4-bit one (QQ4) that drives the predictor and
// scale factor in both encoder and decoder, so that they never depend on the
// two bits a network may drop in modes 2 and 3.
var (
	qm6 = [64]int32{
		-136, -136, -136, -136, -24808, -21904, -19008, -16704,
		-14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
		-7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
		-3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
		24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192,
		10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
		4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032,
		1688, 1360, 1040, 728, 432, 136, -432, -136,
	}
	qm4 = [16]int32{
		0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
		20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
	}
)

// rl42 (RIL4) maps a 4-bit lower-band code to its magnitude class and wl
// gives the log scale factor increment for that class: large codes grow the
// step size, small ones let it decay.
var (
	rl42 = [16]int32{0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0}
	wl   = [8]int32{-60, -30, 58, 172, 334, 538, 1198, 3042}
)

// ilb is the antilog table that SCALEL and SCALEH use to turn the log scale
// factor nb into the linear step size det.
var ilb = [32]int32{
	2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383,
	2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
	2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371,
	3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
}

// Higher band: qm2 is the 2-bit inverse quantiser (QQ2), rh2 (RIH2) the
// magnitude class of a code and wh its log scale factor increment. ihn/ihp
// give the code for a negative/non-negative difference in the lower (1) or
// upper (2) magnitude interval.
var (
	qm2 = [4]int32{-7408, -1616, 7408, 1616}
	rh2 = [4]int32{2, 1, 2, 1}
	wh  = [3]int32{0, -214, 798}
	ihn = [3]int32{0, 1, 0}
	ihp = [3]int32{0, 3, 2}
)

// Initial step sizes (det) of the two bands, from the Recommendation's reset
// state; everything else starts at zero.
const (
	lowDetInit  = 32
	highDetInit = 8
)

// sat16 limits v to the int16 range, as the Recommendation's 16-bit
// registers do.
func sat16(v int32) int32 {
	return min(max(v, -32768), 32767)
}

// sat15 is block 6 (LIMIT): the reconstructed sub-band signals are 15-bit.
func sat15(v int32) int32 {
	return min(max(v, -16384), 16383)
}

// band is the adaptive state of one sub-band ADPCM coder. The encoder and the
// decoder each hold one per band and update it identically from the codes.
type band struct {
	s   int32    // signal estimate (PREDIC output) for the next sample
	sz  int32    // zero-section part of s (FILTEZ output)
	r   int32    // reconstructed signal of the previous sample, r(n-1)
	a   [2]int32 // pole predictor coefficients a1, a2
	p   [2]int32 // partially reconstructed signal p(n-1), p(n-2)
	b   [6]int32 // zero predictor coefficients b1..b6
	d   [7]int32 // quantised differences: d[0] scratch, d[i] = d(n-i)
	nb  int32    // log scale factor (nabla)
	det int32    // linear scale factor (step size, delta)
}

// scale is blocks 3L/3H (LOGSCL+SCALEL, LOGSCH+SCALEH): it adapts the log
// scale factor with leakage 127/128 and the increment w, limits it to
// nbMax, and converts it to the linear step size. shift is 8 for the lower
// band and 10 for the higher band (their different scale factor ranges).
func (bd *band) scale(w, nbMax, shift int32) {
	nb := (bd.nb*127)>>7 + w
	if nb < 0 {
		nb = 0
	} else if nb > nbMax {
		nb = nbMax
	}
	bd.nb = nb
	wd1 := (nb >> 6) & 31
	wd2 := shift - (nb >> 11)
	var wd3 int32
	if wd2 < 0 {
		wd3 = ilb[wd1] << uint32(-wd2)
	} else {
		wd3 = ilb[wd1] >> uint32(wd2)
	}
	bd.det = wd3 << 2
}

// update is block 4: given the quantised difference dx of the current
// sample it reconstructs the signal, adapts the sixth-order zero and
// second-order pole predictor, and computes the estimate s for the next
// sample. Every limit below is one of the Recommendation's.
func (bd *band) update(dx int32) {
	// RECONS and PARREC.
	r := sat16(bd.s + dx)
	p := sat16(bd.sz + dx)

	// Sign comparisons use bit 15 as the Recommendation does, so zero counts
	// as positive.
	p0 := bd.p[0]
	p1 := bd.p[1]

	// UPPOL2: second pole coefficient.
	wd1 := sat16(bd.a[0] << 2)
	var wd2 int32
	if (p^p0)&0x8000 != 0 {
		wd2 = wd1
	} else {
		wd2 = -wd1
	}
	if wd2 > 32767 {
		wd2 = 32767
	}
	var wd3 int32
	if (p^p1)&0x8000 != 0 {
		wd3 = -128
	} else {
		wd3 = 128
	}
	wd3 += wd2>>7 + (bd.a[1]*32512)>>15
	if wd3 > 12288 {
		wd3 = 12288
	} else if wd3 < -12288 {
		wd3 = -12288
	}
	ap1 := wd3

	// UPPOL1: first pole coefficient, limited for stability by a2.
	if (p^p0)&0x8000 != 0 {
		wd1 = -192
	} else {
		wd1 = 192
	}
	ap0 := sat16(wd1 + (bd.a[0]*32640)>>15)
	lim := sat16(15360 - ap1)
	if ap0 > lim {
		ap0 = lim
	} else if ap0 < -lim {
		ap0 = -lim
	}

	// FILTEP: pole section output from r(n) and r(n-1) with the new
	// coefficients.
	sp := sat16((ap0*sat16(r+r))>>15 + (ap1*sat16(bd.r+bd.r))>>15)
	bd.r = r
	bd.a[0] = ap0
	bd.a[1] = ap1
	bd.p[1] = p0
	bd.p[0] = p

	// UPZERO, DELAYA and FILTEZ, unrolled over the six taps. The sign
	// update is skipped (step 0) for a zero difference, as specified.
	// Two of the Recommendation's limits cannot bind here, so they are left
	// out (TestMatchesReference checks the bytes are the same): b*32640>>15
	// is within [-32640, 32639], so adding ±128 stays in 16 bits; and every
	// d is a quantised difference of at most 16384*20456>>15 = 10228 in
	// magnitude (det peaks at 16384 in both bands), so d+d fits 16 bits too.
	var step int32
	if dx != 0 {
		step = 128
	}
	d := &bd.d
	b := &bd.b
	d1, d2, d3, d4, d5, d6 := d[1], d[2], d[3], d[4], d[5], d[6]
	// The values are sign-extended, so bit 31 is bit 15: m is -1 where the
	// signs of d(n-i-1) and d(n) differ, and (step^m)-m is then -step.
	m := (d1 ^ dx) >> 31
	b0 := (step ^ m) - m + (b[0]*32640)>>15
	m = (d2 ^ dx) >> 31
	b1 := (step ^ m) - m + (b[1]*32640)>>15
	m = (d3 ^ dx) >> 31
	b2 := (step ^ m) - m + (b[2]*32640)>>15
	m = (d4 ^ dx) >> 31
	b3 := (step ^ m) - m + (b[3]*32640)>>15
	m = (d5 ^ dx) >> 31
	b4 := (step ^ m) - m + (b[4]*32640)>>15
	m = (d6 ^ dx) >> 31
	b5 := (step ^ m) - m + (b[5]*32640)>>15
	*b = [6]int32{b0, b1, b2, b3, b4, b5}
	*d = [7]int32{0, dx, d1, d2, d3, d4, d5}
	sz := (b0*(dx+dx))>>15 + (b1*(d1+d1))>>15 + (b2*(d2+d2))>>15 +
		(b3*(d3+d3))>>15 + (b4*(d4+d4))>>15 + (b5*(d5+d5))>>15
	bd.sz = sat16(sz)

	// PREDIC.
	bd.s = sat16(sp + bd.sz)
}

// Encoder encodes 16 kHz mono 16-bit PCM to G.722 at 64 kbit/s. Its zero
// value is not ready for use (the step sizes start non-zero): make one with
// NewEncoder. It is not safe for concurrent use; keep one per stream, since
// the codec's adaptive state is the history of that stream.
type Encoder struct {
	low, high band
	// Transmit QMF history: the first (x) and second (y) sample of each of
	// the last 12 input pairs, each stored twice (at i and i+12) so the
	// 12-tap window starting at ptr is contiguous and needs no wrap.
	x, y [24]int32
	ptr  int
	// An odd sample left over from the previous Encode call, so callers can
	// feed arbitrary chunk sizes and still get the stream's bytes.
	pending    int16
	hasPending bool
}

// NewEncoder returns an encoder in the Recommendation's reset state.
func NewEncoder() *Encoder {
	e := &Encoder{}
	e.Reset()
	return e
}

// Reset returns the encoder to its initial state, as at the start of a new
// stream, dropping any pending odd sample.
func (e *Encoder) Reset() {
	*e = Encoder{}
	e.low.det = lowDetInit
	e.high.det = highDetInit
}

// Encode appends the G.722 encoding of pcm to dst and returns the extended
// slice: one byte per pair of samples. An odd trailing sample is not lost:
// it is kept and paired with the first sample of the next call, so a stream
// encodes to the same bytes however it is chunked (use even lengths, such as
// 320-sample frames, to get exactly len(pcm)/2 bytes per call). It does not
// allocate when dst has room for the output.
func (e *Encoder) Encode(dst []byte, pcm []int16) []byte {
	if len(pcm) == 0 {
		return dst
	}
	dst = slices.Grow(dst, (len(pcm)+boolInt(e.hasPending))/2)
	if e.hasPending {
		e.hasPending = false
		dst = append(dst, e.encodePair(int32(e.pending), int32(pcm[0])))
		pcm = pcm[1:]
	}
	for len(pcm) >= 2 {
		dst = append(dst, e.encodePair(int32(pcm[0]), int32(pcm[1])))
		pcm = pcm[2:]
	}
	if len(pcm) == 1 {
		e.pending = pcm[0]
		e.hasPending = true
	}
	return dst
}

// encodePair runs the transmit QMF over one input pair and encodes the
// resulting lower- and higher-band samples into one byte.
func (e *Encoder) encodePair(s0, s1 int32) byte {
	p := e.ptr
	e.x[p], e.x[p+12] = s0, s0
	e.y[p], e.y[p+12] = s1, s1
	p++
	if p == 12 {
		p = 0
	}
	e.ptr = p
	x := (*[12]int32)(e.x[p : p+12])
	y := (*[12]int32)(e.y[p : p+12])
	var sumOdd, sumEven int32
	for i := range 12 {
		sumOdd += x[i] * qmfEven[i]
		sumEven += y[i] * qmfOdd[i]
	}
	// >>12 removes the filters' DC gain, >>1 the sum of two branches, and
	// one more bit maps 16-bit PCM to the codec's 15-bit range. The sums
	// are at most 2*32768*6482, so the results fit 16 bits.
	xl := (sumEven + sumOdd) >> 14
	xh := (sumEven - sumOdd) >> 14
	return e.encodeBands(xl, xh)
}

// encodeBands is the ADPCM part of the encoder for one lower-band sample xl
// and one higher-band sample xh (15-bit), returning the 8-bit code.
func (e *Encoder) encodeBands(xl, xh int32) byte {
	lo := &e.low
	// SUBTRA and QUANTL: find the interval of the magnitude of the
	// difference among the decision levels at this step size. The levels
	// grow with i, so a binary search finds the same (first) interval as the
	// Recommendation's linear scan, in 5 steps instead of up to 29; written
	// so the compiler can use conditional moves, as the branches are
	// unpredictable.
	el := sat16(xl - lo.s)
	wd := el
	if el < 0 {
		wd = ^el
	}
	det := lo.det
	i := int32(1)
	for n := int32(16); n > 0; n >>= 1 {
		var step int32
		if wd >= (q6Search[i+n-1]*det)>>12 {
			step = n
		}
		i += step
	}
	i = min(i, 30)
	var il int32
	if el < 0 {
		il = iln[i&31]
	} else {
		il = ilp[i&31]
	}

	// INVQAL: the 4-bit inverse quantiser feeds the predictor.
	ril := il >> 2
	dl := (det * qm4[ril&15]) >> 15
	// LOGSCL and SCALEL.
	lo.scale(wl[rl42[ril&15]&7], 18432, 8)
	lo.update(dl)

	hi := &e.high
	// SUBTRA and QUANTH.
	eh := sat16(xh - hi.s)
	wd = eh
	if eh < 0 {
		wd = ^eh
	}
	mih := int32(1)
	if wd >= (564*hi.det)>>12 {
		mih = 2
	}
	var ih int32
	if eh < 0 {
		ih = ihn[mih&3]
	} else {
		ih = ihp[mih&3]
	}
	// INVQAH, LOGSCH, SCALEH.
	dh := (hi.det * qm2[ih&3]) >> 15
	hi.scale(wh[rh2[ih&3]&3], 22528, 10)
	hi.update(dh)

	return byte(ih<<6 | il)
}

// Decoder decodes G.722 at 64 kbit/s to 16 kHz mono 16-bit PCM. Make one with
// NewDecoder (the zero value's step sizes are wrong). It is not safe for
// concurrent use; keep one per stream.
type Decoder struct {
	low, high band
	// Receive QMF history of rl+rh (x) and rl-rh (y), doubled like the
	// encoder's so the 12-tap window at ptr is contiguous.
	x, y [24]int32
	ptr  int
}

// NewDecoder returns a decoder in the Recommendation's reset state.
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.Reset()
	return d
}

// Reset returns the decoder to its initial state, as at the start of a new
// stream (after a change of source, for example).
func (d *Decoder) Reset() {
	*d = Decoder{}
	d.low.det = lowDetInit
	d.high.det = highDetInit
}

// Decode appends two 16 kHz samples per input byte to dst and returns the
// extended slice. Every byte value is a valid code, so there are no errors.
// It does not allocate when dst has room for the output.
func (d *Decoder) Decode(dst []int16, data []byte) []int16 {
	dst = slices.Grow(dst, 2*len(data))
	for _, c := range data {
		rl, rh := d.decodeBands(c)
		// Receive QMF. rl and rh are 15-bit, so their sum and difference
		// fit 16 bits; >>11 is the filters' gain of 4096 less the one bit
		// that maps the 15-bit codec range back to 16-bit PCM.
		p := d.ptr
		sum, diff := rl+rh, rl-rh
		d.x[p], d.x[p+12] = sum, sum
		d.y[p], d.y[p+12] = diff, diff
		p++
		if p == 12 {
			p = 0
		}
		d.ptr = p
		x := (*[12]int32)(d.x[p : p+12])
		y := (*[12]int32)(d.y[p : p+12])
		var o0, o1 int32
		for i := range 12 {
			o0 += y[i] * qmfOdd[i]
			o1 += x[i] * qmfEven[i]
		}
		dst = append(dst, int16(sat16(o0>>11)), int16(sat16(o1>>11)))
	}
	return dst
}

// decodeBands is the ADPCM part of the decoder: it returns the lower- and
// higher-band reconstructed signals (15-bit) for one code and adapts both
// bands' state exactly as the encoder did.
func (d *Decoder) decodeBands(code byte) (rl, rh int32) {
	lo := &d.low
	il := int32(code & 0x3f)
	ih := int32(code >> 6)

	// INVQBL, RECONS, LIMIT: the output uses all 6 bits.
	det := lo.det
	rl = sat15(lo.s + (det*qm6[il])>>15)
	// INVQAL: the predictor only ever sees the top 4 bits.
	ril := il >> 2
	dl := (det * qm4[ril&15]) >> 15
	lo.scale(wl[rl42[ril&15]&7], 18432, 8)
	lo.update(dl)

	hi := &d.high
	// INVQAH, RECONS, LIMIT, then adaptation.
	dh := (hi.det * qm2[ih&3]) >> 15
	rh = sat15(dh + hi.s)
	hi.scale(wh[rh2[ih&3]&3], 22528, 10)
	hi.update(dh)
	return rl, rh
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
