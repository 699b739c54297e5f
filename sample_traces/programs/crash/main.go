// crash: allocates a little, writes its ground truth, then deadlocks every
// goroutine so the runtime prints "fatal error: all goroutines are asleep -
// deadlock!" (plus, under schedtrace, a scheddetail dump) and exits non-zero.
package main

import (
	"sync"
	"time"

	"gclens/samples/internal/truth"
)

var sink [][]byte

func main() {
	start := time.Now().UnixNano()
	t0 := time.Now()
	for time.Since(t0) < 1500*time.Millisecond {
		for i := 0; i < 64; i++ {
			sink = append(sink, make([]byte, 16<<10))
		}
		if len(sink) > 512 {
			sink = sink[:0]
		}
		time.Sleep(2 * time.Millisecond)
	}
	var mu sync.Mutex
	mu.Lock()
	ch := make(chan int)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // blocks forever on the mutex held by main
		mu.Lock()
		wg.Done()
	}()
	go func() { // blocks forever on a channel nobody sends on
		<-ch
	}()
	time.Sleep(50 * time.Millisecond)
	truth.Write("crash", "before_deadlock", start, nil)
	wg.Wait() // main blocks: no goroutine can run -> runtime deadlock
}
