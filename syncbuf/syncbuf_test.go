package syncbuf_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/exmaintd/exmaintd/syncbuf"
)

// TestConcurrentWrites: lines written from many goroutines while another reads all arrive whole (-race
// checks the locking).
func TestConcurrentWrites(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "line %d\n", i)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			_ = b.String()
		}
	})
	wg.Wait()
	if n := b.Count("line "); n != 800 {
		t.Errorf("%d lines; want 800", n)
	}
	if n := b.Count("line 3\n"); n != 100 {
		t.Errorf("%d lines of writer 3; want 100", n)
	}
}
