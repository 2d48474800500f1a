package inmem_test

import (
	"testing"
	"time"

	"github.com/shiftsync/shiftsync/server/inmem"
)

func TestFeed(t *testing.T) {
	var f inmem.Feed
	a, stopA := f.Subscribe()
	b, stopB := f.Subscribe()
	defer stopB()

	// Publishing never blocks, even when nobody reads: wake-ups coalesce.
	done := make(chan struct{})
	go func() {
		for range 100 {
			f.Publish()
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
	f.Publish()

	f.Close()
	<-b // the wake-up from the last Publish
	if _, open := <-b; open {
		t.Error("channel still open after Close")
	}
	late, stop := f.Subscribe()
	defer stop()
	if _, open := <-late; open {
		t.Error("a subscription after Close is open")
	}
}
