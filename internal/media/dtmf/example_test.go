package dtmf_test

import (
	"fmt"

	"github.com/minivoice/minivoice/internal/media/dtmf"
)

func ExampleDetector() {
	// One Detector per call, fed every received RTP packet whose payload
	// type is the negotiated telephone-event type. Here: the caller presses
	// 4, then 2, the first packet of the "2" is lost, and a late copy of the
	// "4" end packet arrives after the "2" has started.
	type packet struct {
		ts     uint32
		marker bool
		digit  rune
		end    bool
		dur    uint16
	}
	stream := []packet{
		{8000, true, '4', false, 0}, // sipp and some phones start at duration 0
		{8000, false, '4', false, 160},
		{8000, false, '4', false, 320},
		{8000, false, '4', true, 480}, // end, sent three times
		{8000, false, '4', true, 480},
		{9600, false, '2', false, 320}, // start lost: continuation first
		{8000, false, '4', true, 480},  // late redundant end
		{9600, false, '2', true, 480},
		{9600, false, '2', true, 480},
		{9600, false, '2', true, 480},
	}
	d := dtmf.NewDetector()
	for _, p := range stream {
		payload, err := dtmf.EncodePayload(p.digit, p.end, 10, p.dur)
		if err != nil {
			panic(err)
		}
		if ev, ok := d.Packet(p.ts, p.marker, payload); ok {
			fmt.Printf("pressed %c (event at %d)\n", ev.Digit, ev.Timestamp)
		}
	}
	// Output:
	// pressed 4 (event at 8000)
	// pressed 2 (event at 9600)
}

func ExampleParseInfo() {
	// The body of a SIP INFO from a phone that sends DTMF that way instead
	// of (or as well as) RFC 4733 packets.
	digit, err := dtmf.ParseInfo("application/dtmf-relay", []byte("Signal=11\r\nDuration=160\r\n"))
	fmt.Printf("%c %v\n", digit, err)

	_, err = dtmf.ParseInfo("application/dtmf-relay", []byte("Signal=16\r\n")) // hook flash
	fmt.Println(err)
	// Output:
	// # <nil>
	// dtmf: INFO signal is not a DTMF key: "16"
}

func ExampleDetector_Duration() {
	d := dtmf.NewDetector()
	start, _ := dtmf.EncodePayload('5', false, 10, 160)
	end, _ := dtmf.EncodePayload('5', true, 10, 800)
	ev, _ := d.Packet(1000, true, start)
	d.Packet(1000, false, end)
	units, ended := d.Duration(ev)
	// Units are RTP timestamp units: at the usual 8000 Hz clock, 800 is 100 ms.
	fmt.Println(units, ended)
	// Output:
	// 800 true
}
