// goroutines: waves of short-lived goroutines (a few hundred at a time) that
// allocate, block on channels, sleep and contend on a mutex, then finish.
// GOMAXPROCS is changed once at run time (to 2, halfway through).
package main

import (
	"runtime"
	"sync"
	"time"

	"gclens/samples/internal/truth"
)

const (
	runFor  = 4 * time.Second
	perWave = 300
)

var (
	mu     sync.Mutex
	shared = map[int][]byte{}
)

func worker(id int, in <-chan int, out chan<- int, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([][]byte, 0, 4)
	for i := 0; i < 4; i++ {
		buf = append(buf, make([]byte, 512+id%7*256))
	}
	v := <-in // block on a channel
	switch id % 4 {
	case 0:
		time.Sleep(time.Duration(1+id%5) * time.Millisecond)
	case 1:
		mu.Lock()
		shared[id%64] = buf[id%4]
		time.Sleep(20 * time.Microsecond)
		mu.Unlock()
	case 2:
		runtime.Gosched()
	}
	out <- v + len(buf)
}

func main() {
	start := time.Now().UnixNano()
	initialProcs := runtime.GOMAXPROCS(0)
	t0 := time.Now()
	waves := 0
	changed := false
	changedAtMs := int64(-1)
	total := 0
	for time.Since(t0) < runFor {
		if !changed && time.Since(t0) >= runFor/2 {
			runtime.GOMAXPROCS(2)
			changed = true
			changedAtMs = time.Since(t0).Milliseconds()
		}
		var wg sync.WaitGroup
		in := make(chan int)
		out := make(chan int, perWave)
		for i := 0; i < perWave; i++ {
			wg.Add(1)
			go worker(i, in, out, &wg)
		}
		for i := 0; i < perWave; i++ {
			in <- i
		}
		wg.Wait()
		close(out)
		for v := range out {
			total += v
		}
		waves++
		time.Sleep(15 * time.Millisecond)
	}
	truth.Write("goroutines", "exit", start, map[string]any{
		"waves":                                waves,
		"goroutines_per_wave":                  perWave,
		"gomaxprocs_initial":                   initialProcs,
		"gomaxprocs_changed_to":                2,
		"gomaxprocs_changed_at_ms_since_start": changedAtMs,
	})
}
