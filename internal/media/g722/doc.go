// Package g722 implements the ITU-T G.722 wideband speech codec (7 kHz audio
// coding within 64 kbit/s) in its 64 kbit/s mode (mode 1), the only mode that
// SIP peers negotiate as RTP payload type 9.
//
// # How the codec works
//
// G.722 is sub-band ADPCM (SB-ADPCM). A 24-tap quadrature mirror filter
// (QMF) splits 16 kHz input into two 8 kHz bands: 0-4 kHz and 4-8 kHz.
// The lower band, where most speech energy is, is coded with 6-bit
// adaptive differential PCM; the higher band with 2-bit ADPCM. Each
// pair of input samples becomes one byte, so 16000 samples/s become
// 8000 bytes/s = 64 kbit/s. The receive QMF puts the two decoded bands back
// together. The two linear-phase QMFs delay the audio by 11.5 samples each;
// since the decoder emits each pair as soon as its byte arrives, decoded
// output lags the encoder's input by exactly 22 samples (1.375 ms), which
// callers comparing input with output must allow for.
//
// Both ADPCM coders adapt their step size and a pole-zero predictor
// ("block 4" of the Recommendation) from the transmitted codes alone, so an
// encoder and a decoder that start from the same state stay in lockstep
// without side information. The lower-band predictor is driven by the
// 4-bit (not 6-bit) inverse quantiser output: that is what lets the
// Recommendation's 56 and 48 kbit/s modes drop low-band bits in the network
// without the decoder losing track. It is why the decoder here keeps both a
// 6-bit reconstruction (what it outputs) and a 4-bit one (what it predicts
// from).
//
// The arithmetic follows the Recommendation's fixed-point description
// exactly, with its saturations, so the bit stream is interchangeable with
// other implementations. It is verified byte for byte and sample for sample
// against spandsp's g722 (the library baresip's g722 module uses), with and
// without the QMFs, see testdata/spandsp. Like spandsp and FFmpeg, the QMFs
// map 16-bit linear PCM to the 15-bit range the ADPCM coders work in (and
// back), so full-scale audio passes without clipping and the level is the
// same at both ends. The one deliberate difference from spandsp 0.0.6 is on
// decoder overload: where the receive QMF's output exceeds 16 bits, it is
// saturated (as in later spandsp and in FFmpeg) instead of wrapping to the
// opposite sign; this changes no codes and no codec state.
//
// # Byte layout and RTP
//
// Each byte carries the higher-band code in bits 7-6 and the lower-band code
// in bits 5-0, the first sample pair in the first byte (RFC 3551 4.5.2).
// 20 ms of audio is 320 samples and 160 bytes.
//
// A long-standing quirk to keep in mind when framing RTP: although G.722
// samples audio at 16 kHz, its RTP clock rate is 8000 Hz, both in SDP
// ("a=rtpmap:9 G722/8000") and in RTP timestamps. The error in RFC 1890
// was kept for compatibility (RFC 3551 4.5.2), so a 20 ms packet advances the
// RTP timestamp by 160, not 320 — one timestamp tick per byte.
package g722
