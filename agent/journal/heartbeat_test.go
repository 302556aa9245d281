package journal

import (
	"context"
	"errors"
	"testing"
)

// A writer stuck in a batch does not answer heartbeats; once it moves on, it does.
func TestHeartbeatWaitsForTheWriter(t *testing.T) {
	s, _ := newStore(t)
	if err := s.Heartbeat(context.Background()); err != nil {
		t.Fatalf("idle writer: %v", err)
	}
	release, gateErr := gate(t, s) // the writer is now inside a call that does not return
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Heartbeat(ctx) }()
	waitPending(t, s, 1) // queued behind the stuck call
	select {
	case err := <-done:
		t.Fatalf("a stuck writer answered: %v", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("stuck writer: %v, want context.Canceled", err)
	}
	release()
	if err := <-gateErr; err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(context.Background()); err != nil {
		t.Fatalf("after the writer moved on: %v", err)
	}
}
