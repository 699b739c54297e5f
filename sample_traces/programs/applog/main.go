// applog: a busy service's log on stderr, interleaved with GODEBUG trace
// output the way real services interleave it. Meant for
// GODEBUG=gctrace=1,gcpacertrace=1,scavtrace=1,schedtrace=100 GOMAXPROCS=2.
//
// -writers goroutines serve "requests" (random arrivals, -rate per second in
// total, each a short busy loop of mean -work) and log one whole line per
// request (one record = one write(2) of the complete line with its newline, as
// log.Printf, slog handlers and fmt.Fprintf(os.Stderr) all do), while 2
// goroutines allocate garbage (-alloc-rate MiB/s) over a modest live set
// (-live MiB), so a GC cycle runs every 10-20 ms. main forces two cycles with
// runtime.GC() (at 1/3 and 2/3 of -duration; a call that a background cycle
// absorbed is repeated), so num_forced_gc = 2.
//
// The runtime prints a gc / pacer / scav / SCHED line with one write(2) per
// print argument and takes no lock the application knows about, so an
// application line that is written meanwhile lands between two pieces: the
// stderr line holds the runtime line's head followed by the whole application
// line, and the next line starts with the runtime line's tail, e.g.
//
//	gc 56 @0.765s 4%: 0.073+2.8+0.031 ms clock, 0.14+0.006/1.1/02026/12/05 07:46:14.109280 applog: request done worker=3 seq=557 path=/api/orders/970 dur_us=738
//	+0.063 ms cpu, 5->5->3 MB, 6 MB goal, 0 MB stacks, 0 MB globals, 2 P
//
// -style chooses the application's log format:
//
//	stdlog    log package, log.LstdFlags|log.Lmicroseconds: "2026/12/05 07:46:14.109280 applog: request done worker=3 ..."
//	bracket   fmt.Fprintf(os.Stderr) of one whole line:       "[INFO] 07:46:22 worker=2 seq=405 ... msg=request_done"
//	slogtext  log/slog TextHandler (go1.21+ builds only):     "time=2026-12-05T07:45:37.625Z level=INFO msg=\"request done\" worker=1 ..."
//	slogjson  log/slog JSONHandler (go1.21+ builds only):     "{\"time\":\"2026-12-05T07:45:42.058224401Z\",\"level\":\"INFO\",...}"
//
// The slog styles live in slog.go (//go:build go1.21); the module is go 1.19,
// and a go1.19 build offers only stdlog and bracket (noslog.go).
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gclens/samples/internal/truth"
)

var (
	style     = flag.String("style", "stdlog", "application log style: "+strings.Join(styleNames(), ", "))
	runFor    = flag.Duration("duration", 2500*time.Millisecond, "run time")
	writers   = flag.Int("writers", 5, "goroutines logging whole lines")
	rate      = flag.Float64("rate", 3500, "application lines per second, all writers together")
	allocRate = flag.Float64("alloc-rate", 220, "MiB/s of garbage allocated (2 goroutines together)")
	liveMiB   = flag.Int("live", 3, "MiB of live heap (held by a global slice)")
	workMean  = flag.Duration("work", 150*time.Microsecond, "mean CPU work (busy loop) before each application line")
)

// appLogger writes one whole application line (one write of the complete
// line). kv is a flat list of key, value pairs; values are string or int.
type appLogger func(msg string, kv ...any)

// styles maps a -style name to a constructor; slog.go adds the slog styles.
var styles = map[string]func() appLogger{
	"stdlog": func() appLogger {
		l := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
		return func(msg string, kv ...any) {
			var b strings.Builder
			b.WriteString("applog: ")
			b.WriteString(msg)
			for i := 0; i+1 < len(kv); i += 2 {
				fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
			}
			l.Print(b.String())
		}
	},
	"bracket": func() appLogger {
		return func(msg string, kv ...any) {
			var b strings.Builder
			b.WriteString("[INFO] ")
			b.WriteString(time.Now().Format("15:04:05"))
			for i := 0; i+1 < len(kv); i += 2 {
				fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
			}
			b.WriteString(" msg=")
			b.WriteString(strings.ReplaceAll(msg, " ", "_"))
			b.WriteString("\n")
			fmt.Fprint(os.Stderr, b.String()) // one Write of the whole line
		}
	},
}

// forcedCycles reads /gc/cycles/forced:gc-cycles (no stop-the-world, unlike
// runtime.ReadMemStats).
func forcedCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func styleNames() []string {
	names := make([]string, 0, len(styles))
	for n := range styles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var (
	appLines atomic.Int64
	sinkMu   sync.Mutex
	sink     [][]byte
	live     [][]byte
	paths    = []string{"/api/items", "/api/users", "/api/orders", "/api/search"}
)

// writer serves "requests" arriving at random (exponentially distributed)
// intervals, its share of -rate per second: each one takes a random amount of
// CPU work (mean -work, a busy loop on the goroutine's P), then
// logs one line. A writer that falls behind its schedule serves the backlog
// back to back, as a real one would (a backlog left at the deadline is
// dropped, so a run on a busy machine does not overrun).
func writer(id int, lg appLogger, deadline time.Time, wg *sync.WaitGroup) {
	defer wg.Done()
	mean := float64(*writers) / *rate * float64(time.Second)
	rng := rand.New(rand.NewSource(int64(id) + 1))
	next := time.Now()
	var spin uint64
	for seq := 0; ; seq++ {
		next = next.Add(time.Duration(rng.ExpFloat64() * mean))
		if !next.Before(deadline) || !time.Now().Before(deadline) {
			break // a backlog left at the deadline is dropped
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		t := time.Now()
		work := time.Duration(rng.ExpFloat64() * float64(*workMean))
		for time.Since(t) < work {
			for i := 0; i < 200; i++ {
				spin = spin*6364136223846793005 + 1442695040888963407
			}
		}
		k := (seq*7 + id) % len(paths)
		lg("request done", "worker", id, "seq", seq,
			"path", paths[k]+"/"+strconv.Itoa(int(spin>>54)),
			"dur_us", int(time.Since(t)/time.Microsecond))
		appLines.Add(1)
	}
}

// allocator allocates 16 KiB garbage blocks (keeping the last 32, 512 KiB)
// plus ~1 KiB pointer slices, paced to half of -alloc-rate.
func allocator(deadline time.Time, wg *sync.WaitGroup) {
	defer wg.Done()
	perSec := *allocRate * (1 << 20) / 2
	t0 := time.Now()
	var allocated float64
	recent := make([][]byte, 32)
	for i := 0; time.Now().Before(deadline); i++ {
		for j := 0; j < 32; j++ {
			b := make([]byte, 16<<10)
			b[0] = byte(j)
			recent[(i*32+j)%len(recent)] = b
			allocated += 16 << 10
			if j%8 == 0 {
				ptrs := make([][]byte, 40)
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
	mk, ok := styles[*style]
	if !ok {
		fmt.Fprintf(os.Stderr, "applog: unknown -style %q (this build has: %s)\n",
			*style, strings.Join(styleNames(), ", "))
		os.Exit(2)
	}
	lg := mk()
	lg("applog starting", "pid", os.Getpid(), "style", *style, "writers", *writers)
	appLines.Add(1)
	for i := 0; i < *liveMiB*16; i++ {
		live = append(live, make([]byte, 64<<10))
	}
	t0 := time.Now()
	deadline := t0.Add(*runFor)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go allocator(deadline, &wg)
	}
	for i := 0; i < *writers; i++ {
		wg.Add(1)
		go writer(i, lg, deadline, &wg)
	}
	// Two forced cycles. With a cycle every ~15 ms a runtime.GC() call is
	// often absorbed by a background cycle that starts between the end of the
	// previous cycle and its own gcStart (it then waits for that cycle, which
	// does not count as forced), so call it again (up to 5 times) until the
	// forced-cycle count has gone up.
	calls := 0
	for k := 1; k <= 2; k++ {
		time.Sleep(time.Until(t0.Add(*runFor * time.Duration(k) / 3)))
		before := forcedCycles()
		for try := 1; try <= 5 && forcedCycles() == before; try++ {
			lg("calling runtime.GC()", "n", k, "try", try)
			appLines.Add(1)
			calls++
			runtime.GC()
		}
	}
	wg.Wait()
	lg("applog done", "lines", appLines.Load()+1)
	appLines.Add(1)
	extra := map[string]any{
		"style":            *style,
		"writers":          *writers,
		"app_lines":        appLines.Load(),
		"rate_lines_s":     *rate,
		"duration_s":       runFor.Seconds(),
		"alloc_rate_mib_s": *allocRate,
		"live_mib":         *liveMiB,
		"work_mean_us":     workMean.Seconds() * 1e6,
		"gc_calls":         calls,
		"note": "every application line is one write(2) of the whole line with its newline; " +
			"app_lines counts all of them, including the first ('applog starting'), the two " +
			"'calling runtime.GC()' lines (one per call, gc_calls; a call is repeated when a background " +
			"cycle absorbed it) and the last ('applog done')",
	}
	sink, live = nil, nil
	truth.Write("applog", "exit", start, extra)
}
