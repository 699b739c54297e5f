// pauses: long stop-the-world pauses on a small machine. Meant for a
// GOMAXPROCS far above the number of CPUs (GOMAXPROCS=32 on 2 cores).
//
// -spinners goroutines (default: one per P) run bursts of a tight integer
// loop with no function calls (-spin iterations, about 0.2 ms), so a P that
// runs one can only be stopped by asynchronous, signal-based preemption, and
// each P is an OS thread that first has to get one of the few real CPUs back
// from the other spinning threads. That makes the STW phases of a GC cycle
// (sweep termination and mark termination: the first and last values of the
// gc line's "ms clock" triple) take milliseconds, sometimes over 10 ms,
// instead of microseconds.
//
// Between bursts each spinner allocates garbage (8 KiB pointer slices and
// 24 KiB byte slices, up to 8 pairs) while the process as a whole is behind
// -alloc-rate MiB/s, over a pointer-dense live set (-live MiB of small linked
// nodes held by a global slice); every 17th pointer slice replaces a shared,
// mutex-protected sink. Allocating goroutines also wait for the GC (assists,
// the start of a cycle), so not every P is busy all the time (SCHED
// idleprocs). The concurrent mark phase is slow as well (tens of ms of wall
// clock), because the mark workers' threads compete for the CPUs too.
// -stackers goroutines stay parked with deep stacks (-stack-depth frames) for
// the whole run. Runs for -duration.
package main

import (
	"flag"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"gclens/samples/internal/truth"
)

var (
	runFor     = flag.Duration("duration", 3*time.Second, "run time")
	spinners   = flag.Int("spinners", 0, "CPU-bound, allocating goroutines (0: one per P)")
	spinIters  = flag.Int("spin", 200000, "iterations of the call-free loop per burst")
	allocRate  = flag.Float64("alloc-rate", 200, "MiB/s of garbage allocated (all spinners together)")
	liveMiB    = flag.Int("live", 1, "MiB of pointer-dense live heap (small linked nodes)")
	stackers   = flag.Int("stackers", 16, "parked goroutines with deep stacks")
	stackDepth = flag.Int("stack-depth", 100, "frames per parked goroutine")
)

type node struct {
	next, other *node
	payload     [4]*int
	n           int
}

var (
	live     []*node
	sinkMu   sync.Mutex
	sink     [][]*node
	stopFlag atomic.Int32
	bursts   atomic.Int64
	allocB   atomic.Int64
	checksum atomic.Uint64
)

func buildLive(mib int) {
	const nodeSize = 64
	n := mib << 20 / nodeSize
	live = make([]*node, n)
	for i := range live {
		v := i
		live[i] = &node{n: i, payload: [4]*int{&v}}
		if i > 0 {
			live[i-1].next = live[i]
			live[i].other = live[(i*7919)%i]
		}
	}
}

func spinner(id, iters int, t0 time.Time, perSec float64, wg *sync.WaitGroup) {
	defer wg.Done()
	x := uint64(id)*0x9E3779B97F4A7C15 + 1
	var mine [][]*node
	var n int64
	for stopFlag.Load() == 0 {
		// the burst: no calls, no allocation, no preemption point
		for i := 0; i < iters; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		n++
		// allocate while the process as a whole is behind its allocation pace
		want := int64(perSec * time.Since(t0).Seconds())
		for k := 0; k < 8 && allocB.Load() < want; k++ {
			s := make([]*node, 1024) // 8 KiB of pointers
			s[0] = live[int(x%uint64(len(live)))]
			b := make([]byte, 24<<10)
			b[0] = byte(x)
			allocB.Add(8<<10 + 24<<10)
			mine = append(mine, s)
			if len(mine) > 16 {
				sinkMu.Lock()
				sink = mine
				sinkMu.Unlock()
				mine = nil
			}
		}
	}
	bursts.Add(n)
	checksum.Add(x)
}

func deep(n int, ch chan struct{}) int {
	var pad [8]*node
	pad[n%8] = live[n%len(live)]
	if n == 0 {
		<-ch
		return 0
	}
	return deep(n-1, ch) + pad[n%8].n&1
}

func main() {
	start := time.Now().UnixNano()
	flag.Parse()
	nspin := *spinners
	if nspin <= 0 {
		nspin = runtime.GOMAXPROCS(0)
	}
	buildLive(*liveMiB)

	park := make(chan struct{})
	var parked sync.WaitGroup
	for i := 0; i < *stackers; i++ {
		parked.Add(1)
		go func() {
			defer parked.Done()
			deep(*stackDepth, park)
		}()
	}

	t0 := time.Now()
	perSec := *allocRate * (1 << 20)
	var wg sync.WaitGroup
	for i := 0; i < nspin; i++ {
		wg.Add(1)
		go spinner(i, *spinIters, t0, perSec, &wg)
	}
	time.Sleep(*runFor)
	stopFlag.Store(1)
	wg.Wait()
	close(park)
	parked.Wait()
	elapsed := time.Since(t0)

	extra := map[string]any{
		"spinners":          nspin,
		"spin_iters":        *spinIters,
		"spin_bursts":       bursts.Load(),
		"alloc_rate_mib_s":  *allocRate,
		"allocated_mib":     float64(allocB.Load()) / (1 << 20),
		"live_mib":          *liveMiB,
		"stackers":          *stackers,
		"stack_depth":       *stackDepth,
		"run_seconds":       elapsed.Seconds(),
		"checksum_low_bits": checksum.Load() & 0xff,
	}
	sinkMu.Lock()
	sink = nil
	sinkMu.Unlock()
	live = nil
	truth.Write("pauses", "exit", start, extra)
}
