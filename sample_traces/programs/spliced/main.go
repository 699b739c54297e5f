// spliced: application goroutines write to fd 2 (os.Stderr) in many small,
// unsynchronized writes (a few bytes each, partial lines, plus an occasional
// whole line in one write) while other goroutines allocate enough to run a GC
// cycle every few tens of milliseconds. The runtime prints each gc / SCHED
// line with many separate write(2) calls under its own print lock, which the
// application does not take, so application bytes land inside runtime lines
// ("gc 12 @0.3" + app bytes + "45s 1%: ...") and runtime lines start in the
// middle of application text. Meant for GODEBUG=gctrace=1,schedtrace=50.
//
// Application text uses its own alphabet: each writer goroutine emits bursts
// of four records like "<w3.417:ab>", each record written -chunk (2) bytes at
// a time ("<w", "3.", "41", "7:", "ab", ">") with a short busy-wait after
// every write (-gap) so that a burst stays "open" for a while, then "\n" as a
// separate write, then sleeps -pause; every 16th burst is instead one whole
// line "app: w3 whole line 417\n" in a single write. Since the writers do not
// coordinate either, their records interleave with each other as well.
package main

import (
	"flag"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gclens/samples/internal/truth"
)

var (
	runFor     = flag.Duration("duration", 1500*time.Millisecond, "run time")
	writers    = flag.Int("writers", 8, "goroutines writing small pieces to stderr")
	burstPause = flag.Duration("pause", 4*time.Millisecond, "sleep between a writer's bursts")
	gap        = flag.Duration("gap", 15*time.Microsecond, "busy-wait after each write")
	chunk      = flag.Int("chunk", 2, "bytes per write of a record")
	allocRate  = flag.Float64("alloc-rate", 220, "MiB/s of garbage allocated (2 goroutines together)")
)

var (
	appWrites, appBytes, wholeLines atomic.Int64
	sinkMu                          sync.Mutex
	sink                            [][]byte
)

func write(s string) {
	n, _ := os.Stderr.Write([]byte(s))
	appWrites.Add(1)
	appBytes.Add(int64(n))
	if *gap > 0 { // spread a burst out in time (busy-wait: sleeps are too coarse)
		for t := time.Now(); time.Since(t) < *gap; {
		}
	}
}

func writer(id int, deadline time.Time, wg *sync.WaitGroup) {
	defer wg.Done()
	tag := "<w" + strconv.Itoa(id)
	letters := "abcdefghijklmnopqrstuvwxyz"
	for seq := 0; time.Now().Before(deadline); seq++ {
		if seq%16 == 15 {
			write("app: w" + strconv.Itoa(id) + " whole line " + strconv.Itoa(seq) + "\n")
			wholeLines.Add(1)
		} else {
			for r := 0; r < 4; r++ {
				rec := tag + "." + strconv.Itoa(seq) + ":" +
					letters[(seq+r)%26:(seq+r)%26+1] + letters[(id+r)%26:(id+r)%26+1] + ">"
				for len(rec) > *chunk {
					write(rec[:*chunk])
					rec = rec[*chunk:]
				}
				write(rec)
			}
			write("\n")
		}
		time.Sleep(*burstPause)
	}
}

// allocator allocates 32 KiB garbage blocks (keeping the last 64 live, about
// 2 MiB) plus some pointerful garbage, paced to half of -alloc-rate.
func allocator(deadline time.Time, wg *sync.WaitGroup) {
	defer wg.Done()
	perSec := *allocRate * (1 << 20) / 2
	t0 := time.Now()
	var allocated float64
	live := make([][]byte, 64)
	for i := 0; time.Now().Before(deadline); i++ {
		for j := 0; j < 32; j++ {
			b := make([]byte, 32<<10)
			b[0] = byte(j)
			live[(i*32+j)%len(live)] = b
			allocated += 32 << 10
			if j%8 == 0 {
				ptrs := make([][]byte, 40) // ~1 KiB of pointers
				ptrs[0] = b
				sinkMu.Lock()
				sink = ptrs
				sinkMu.Unlock()
				allocated += 1024
			}
		}
		want := time.Duration(allocated / perSec * float64(time.Second))
		if d := want - time.Since(t0); d > 0 {
			time.Sleep(d)
		}
	}
}

func main() {
	start := time.Now().UnixNano()
	flag.Parse()
	write("app: spliced starting pid=" + strconv.Itoa(os.Getpid()) + "\n")
	deadline := time.Now().Add(*runFor)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go allocator(deadline, &wg)
	}
	for i := 0; i < *writers; i++ {
		wg.Add(1)
		go writer(i, deadline, &wg)
	}
	wg.Wait()
	// one last whole line, so the application's own output ends with a newline
	// unless a runtime line lands after it
	write("app: spliced done\n")
	extra := map[string]any{
		"writers":          *writers,
		"app_writes":       appWrites.Load(),
		"app_bytes":        appBytes.Load(),
		"app_whole_lines":  wholeLines.Load(),
		"burst_pause_ms":   burstPause.Seconds() * 1000,
		"write_gap_us":     gap.Seconds() * 1e6,
		"chunk_bytes":      *chunk,
		"alloc_rate_mib_s": *allocRate,
		"note": "app text: records like <w3.417:ab> written chunk_bytes at a time, 4 per line " +
			"(newline as its own write), and lines 'app: w3 whole line 417' written in one write; " +
			"first and last app lines 'app: spliced starting pid=N' / 'app: spliced done'",
	}
	sink = nil
	truth.Write("spliced", "exit", start, extra)
}
