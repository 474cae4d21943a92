package platform

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestServicesStopInReverse: services start in order and stop in reverse;
// a failed start stops the ones already started, in reverse, and is
// reported with their stop errors.
func TestServicesStopInReverse(t *testing.T) {
	t.Parallel()
	var log []string
	svc := func(name string, startErr, stopErr error) Service {
		return service{name: name,
			start: func(context.Context) error { log = append(log, "start "+name); return startErr },
			stop:  func(context.Context) error { log = append(log, "stop "+name); return stopErr }}
	}
	ctx := context.Background()

	var ss services
	for _, s := range []Service{svc("a", nil, nil), svc("b", nil, nil), service{name: "no stop"}, svc("c", nil, nil)} {
		if err := ss.start(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := ss.stop(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}
	if !slices.Equal(log, want) {
		t.Errorf("got %v, want %v", log, want)
	}

	log = nil
	ss = services{}
	boom, stuck := errors.New("boom"), errors.New("stuck")
	for _, s := range []Service{svc("a", nil, nil), svc("b", nil, stuck), svc("c", boom, nil), svc("d", nil, nil)} {
		if err := ss.start(ctx, s); err != nil {
			if !errors.Is(err, boom) || !errors.Is(err, stuck) {
				t.Errorf("error %v, want the failed start and the failed stop", err)
			}
			break
		}
	}
	want = []string{"start a", "start b", "start c", "stop b", "stop a"}
	if !slices.Equal(log, want) {
		t.Errorf("failed start: got %v, want %v", log, want)
	}
	if err := ss.stop(ctx); err != nil || len(log) != len(want) {
		t.Errorf("stopping again after a failed start: %v, %v", err, log)
	}
}
