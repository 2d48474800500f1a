package inmem_test

import (
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/inmem"
)

func TestFeed(t *testing.T) {
	var f inmem.Feed
	a, stopA := f.Subscribe([]string{"house-a"})
	b, stopB := f.Subscribe([]string{"house-b", "house-a"})
	defer stopB()

	// Publishing never blocks, even when nobody reads: wake-ups coalesce.
	done := make(chan struct{})
	go func() {
		for range 100 {
			f.Publish("house-a")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on subscribers that do not read")
	}
	for name, ch := range map[string]<-chan struct{}{"a": a, "b": b} {
		select {
		case <-ch:
		default:
			t.Errorf("subscriber %s was not woken", name)
		}
		select {
		case <-ch:
			t.Errorf("subscriber %s got more than one wake-up for a burst", name)
		default:
		}
	}

	stopA()
	if _, open := <-a; open {
		t.Error("channel still open after unsubscribing")
	}
	stopA() // a second stop is harmless
	f.Publish("house-b")

	f.Close()
	<-b // the wake-up from the last Publish
	if _, open := <-b; open {
		t.Error("channel still open after Close")
	}
	late, stop := f.Subscribe([]string{"house-a"})
	defer stop()
	if _, open := <-late; open {
		t.Error("a subscription after Close is open")
	}
}

// TestFeed_WakesOnlyTheServicesPublished checks that a subscriber is woken
// by a publish naming one of its services, and not by one naming others.
func TestFeed_WakesOnlyTheServicesPublished(t *testing.T) {
	var f inmem.Feed
	a, stopA := f.Subscribe([]string{"house-a"})
	defer stopA()
	both, stopBoth := f.Subscribe([]string{"house-a", "house-b"})
	defer stopBoth()
	none, stopNone := f.Subscribe(nil)
	defer stopNone()

	woken := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	f.Publish("house-b", "house-c")
	if woken(a) {
		t.Error("a subscriber of house-a was woken by a change in house-b and house-c")
	}
	if !woken(both) {
		t.Error("a subscriber of house-a and house-b was not woken by a change in house-b")
	}
	f.Publish("house-a")
	if !woken(a) || !woken(both) {
		t.Error("the subscribers of house-a were not both woken by a change in house-a")
	}
	f.Publish()
	if woken(none) || woken(a) || woken(both) {
		t.Error("a publish naming no service woke a subscriber")
	}
}

func TestFeed_WakeAll(t *testing.T) {
	var f inmem.Feed
	a, stopA := f.Subscribe([]string{"house-a"})
	defer stopA()
	b, stopB := f.Subscribe([]string{"house-b"})
	defer stopB()
	f.WakeAll()
	f.WakeAll() // a second one before they read is the same wake-up
	for name, ch := range map[string]<-chan struct{}{"a": a, "b": b} {
		select {
		case <-ch:
		default:
			t.Errorf("subscriber %s was not woken", name)
		}
		select {
		case <-ch:
			t.Errorf("subscriber %s got two wake-ups", name)
		default:
		}
	}
}
