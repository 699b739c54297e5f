// churn: steady allocation churn over a live set that swings between a few
// MiB and ~48 MiB, with the program's own log lines on stderr (several per
// second) so that they interleave with runtime trace lines. It forces a few
// cycles with runtime.GC() and debug.FreeOSMemory().
//
// With -pointer-heap it runs a different, GC-bound workload instead (see
// pointerheap.go).
package main

import (
	"flag"
	"log"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"gclens/samples/internal/truth"
)

const (
	runFor     = 4 * time.Second
	chunk      = 64 << 10  // bytes per live-set element
	allocRate  = 240 << 20 // bytes of garbage+live churn per second
	logEvery   = 100 * time.Millisecond
	minLiveMiB = 4
	maxLiveMiB = 48
)

var (
	sink  []byte
	index []*[]byte // a large (>32 KiB) pointerful object: "class L" in gctrace=2 scan lines
)

func main() {
	start := time.Now().UnixNano()
	ptrHeap := flag.Bool("pointer-heap", false, "GC-heavy variant: pointer-heavy live heap, busy mutators (see pointerheap.go)")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetOutput(os.Stderr)
	if *ptrHeap {
		pointerHeapMain(start)
		return
	}
	log.Printf("app: churn starting pid=%d", os.Getpid())

	t0 := time.Now()
	var live [][]byte
	next := 0
	var allocated int64
	batch := 0
	lastLog := t0
	forced := map[int]bool{}
	for {
		el := time.Since(t0)
		if el >= runFor {
			break
		}
		// target live size: a slow sine between min and max
		phase := float64(el) / float64(runFor) * 2 * math.Pi * 1.5
		target := minLiveMiB + (maxLiveMiB-minLiveMiB)*(0.5-0.5*math.Cos(phase))
		targetN := int(target * (1 << 20) / chunk)

		// one batch: 1 MiB of new live data, oldest data dropped to stay at target
		for i := 0; i < 16; i++ {
			b := make([]byte, chunk)
			b[0] = byte(i)
			live = append(live, b)
			next++
			allocated += chunk
		}
		for len(live) > targetN {
			live[0] = nil
			live = live[1:]
		}
		index = make([]*[]byte, 8192)
		for i := range live {
			index[i%len(index)] = &live[i]
		}
		// short-lived garbage: small maps and slices
		for i := 0; i < 64; i++ {
			m := make(map[int]string, 8)
			for j := 0; j < 8; j++ {
				m[j] = "x"
			}
			s := make([]int64, 256)
			s[0] = int64(len(m))
			sink = make([]byte, 4096)
			allocated += 8*64 + 2048 + 4096
		}
		batch++

		// forced cycles at fixed points in the run
		sec := int(el / (500 * time.Millisecond))
		switch sec {
		case 2, 5:
			if !forced[sec] {
				forced[sec] = true
				log.Printf("app: calling runtime.GC() at batch %d", batch)
				runtime.GC()
			}
		case 4, 7:
			if !forced[sec] {
				forced[sec] = true
				log.Printf("app: calling debug.FreeOSMemory() at batch %d", batch)
				debug.FreeOSMemory()
			}
		}

		if time.Since(lastLog) >= logEvery {
			lastLog = time.Now()
			log.Printf("app: processed batch %d items=%d live=%d", batch, next, len(live))
		}
		// pace allocation to allocRate
		want := time.Duration(float64(allocated) / allocRate * float64(time.Second))
		if d := want - time.Since(t0); d > 0 {
			time.Sleep(d)
		}
	}
	log.Printf("app: churn done batches=%d", batch)
	live = nil
	sink = nil
	index = nil
	truth.Write("churn", "exit", start, nil)
}
