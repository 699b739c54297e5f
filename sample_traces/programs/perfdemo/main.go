// perfdemo: a GC workload to record under `perf record` next to its gctrace, for
// testing the alignment of perf samples with gc cycles (sample_traces/perf/).
//
// It keeps a pointer-heavy live heap of about 30-50 MB (small linked nodes,
// each with a separately allocated payload and a pointer to a random other
// node) and churns allocations in irregular phases, so that gc cycles are not
// evenly spaced (a periodic GC makes an offset search alias at the GC period):
//
//	burst  both worker goroutines allocate garbage and replace live nodes as fast as they can
//	paced  the workers allocate at a random rate (60-500 MiB/s), sleeping between batches
//	idle   the workers sleep (no allocation, so no gc cycle for a while)
//	resize the live heap target moves to a random size between 26 and 44 MB
//
// The phase sequence comes from a fixed seed (-seed); the gc timing still
// differs on every run. One forced cycle (runtime.GC()) runs about 2 s in,
// bracketed by CLOCK_MONOTONIC reads (a fencepost anchor).
//
// Ground truth goes to the file named by $GCLENS_TRUTH (JSON, never to stderr):
// runtime_init_mono_ns is the runtime's runtimeInitTime (the nanotime(), i.e.
// CLOCK_MONOTONIC, that gctrace's @ values count from), read through
// go:linkname. Go >= 1.23 needs -ldflags=-checklinkname=0 to build it.
//
// stdout gets only marker lines: GCLENS_MARK start ..., GCLENS_MARK fence ...,
// GCLENS_MARK end ... (and GCLENS_MARK fork ... with -fork-marker-at), each with
// CLOCK_MONOTONIC ns.
//
// With -fork-marker-at D it also fork+execs /bin/true D after start, between two
// CLOCK_MONOTONIC reads: under `perf record` (which follows children) the
// child's PERF_RECORD_FORK and COMM exec land on perf's clock inside that
// bracket, which measures perf's default clock against CLOCK_MONOTONIC.
// stderr gets nothing from the program itself, only the runtime's trace lines.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

//go:linkname runtimeInitTime runtime.runtimeInitTime
var runtimeInitTime int64

var (
	runFor   = flag.Duration("duration", 3200*time.Millisecond, "churn time after the live heap is built")
	seed     = flag.Uint64("seed", 20240611, "seed of the phase sequence")
	fenceAt  = flag.Duration("fence-at", 2*time.Second, "forced GC this long after main starts (0: none)")
	minLive  = flag.Int("min-live-mb", 26, "smallest live heap target, MB")
	maxLive  = flag.Int("max-live-mb", 44, "largest live heap target, MB")
	startLiv = flag.Int("start-live-mb", 40, "live heap built at start, MB")
	forkAt   = flag.Duration("fork-marker-at", 0, "this long after main starts, fork+exec /bin/true, bracketed by CLOCK_MONOTONIC reads (0: never)")
)

const (
	clockRealtime  = 0
	clockMonotonic = 1
	clockBoottime  = 7
)

func clockNs(id uintptr) int64 {
	var ts syscall.Timespec
	_, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0)
	if e != 0 {
		return -1
	}
	return ts.Sec*1e9 + ts.Nsec
}

func mono() int64 { return clockNs(clockMonotonic) }

// The live heap is a set of independent trees of nodes (no pointers between
// trees), so replacing a whole tree turns exactly that tree into garbage and
// the live heap stays at its target size.
type node struct {
	kids  [8]*node // tree edges
	peers [8]*node // random other nodes of the same tree
	leaf  *[64]byte
	data  [16]int64
}

const (
	treeNodes = 128
	nodeBytes = 288 + 64 // size classes of node and leaf
	treeBytes = treeNodes * nodeBytes
)

type rng uint64

func (r *rng) next() uint64 { // xorshift64
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func newTree(r *rng) *node {
	ns := make([]*node, treeNodes) // garbage after return
	for i := range ns {
		ns[i] = &node{leaf: new([64]byte)}
		ns[i].data[0] = int64(i)
		if i > 0 {
			p := ns[(i-1)/8]
			p.kids[(i-1)%8] = ns[i]
		}
	}
	for _, n := range ns {
		for j := range n.peers {
			n.peers[j] = ns[int(r.next()%treeNodes)]
		}
	}
	return ns[0]
}

// heap is one worker's share of the live set.
type heap struct {
	trees []*node
	r     rng
}

// replace swaps k random trees for fresh ones (the old ones become garbage).
func (h *heap) replace(k int) {
	for j := 0; j < k && len(h.trees) > 0; j++ {
		h.trees[int(h.r.next()%uint64(len(h.trees)))] = newTree(&h.r)
	}
}

// resize drops trees from the end or adds new ones.
func (h *heap) resize(target int) {
	if target < len(h.trees) {
		for i := target; i < len(h.trees); i++ {
			h.trees[i] = nil
		}
		h.trees = h.trees[:target]
		return
	}
	for len(h.trees) < target {
		h.trees = append(h.trees, newTree(&h.r))
	}
}

var sink atomic.Pointer[[]*node]
var sinkB atomic.Pointer[[]byte]

// garbage allocates about n bytes of short-lived garbage: pointer slices
// (with a few pointers into the live heap) and byte slices.
func garbage(h *heap, n int) {
	for done := 0; done < n; done += 2048 + 4096 {
		g := make([]*node, 256) // 2 KiB of pointer slots
		for i := 0; i < 256; i += 32 {
			g[i] = h.trees[int(h.r.next()%uint64(len(h.trees)))]
		}
		sink.Store(&g)
		b := make([]byte, 4096)
		b[0] = byte(done)
		sinkB.Store(&b)
	}
}

type phase struct {
	Kind      string  `json:"kind"`
	Param     float64 `json:"param"` // MiB/s for paced, MB for resize, 0 otherwise
	PlannedMs float64 `json:"planned_ms"`
	StartMono int64   `json:"start_mono_ns"`
	EndMono   int64   `json:"end_mono_ns"`
}

func planPhases(r *rng, total time.Duration) []phase {
	var ps []phase
	var sum time.Duration
	for sum < total {
		u := r.float()
		d := time.Duration((60 + 340*r.float()) * float64(time.Millisecond))
		var p phase
		switch {
		case u < 0.30:
			p = phase{Kind: "burst"}
		case u < 0.65:
			p = phase{Kind: "paced", Param: math.Round(60 + 440*r.float())}
		case u < 0.80:
			p = phase{Kind: "idle"}
			d = time.Duration((20 + 130*r.float()) * float64(time.Millisecond))
		default:
			mb := float64(*minLive) + float64(*maxLive-*minLive)*r.float()
			p = phase{Kind: "resize", Param: math.Round(mb)}
			d = 0
		}
		p.PlannedMs = float64(d) / 1e6
		ps = append(ps, p)
		sum += d
	}
	return ps
}

func procStatStart() int64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	// fields after ")" start at field 3 (state); starttime is field 22
	if len(f) < 20 {
		return -1
	}
	v, _ := strconv.ParseInt(f[19], 10, 64)
	return v
}

func envp(k string) *string {
	if v, ok := os.LookupEnv(k); ok {
		return &v
	}
	return nil
}

type pause struct {
	GCNum          uint32 `json:"gc_num"`
	PauseNs        uint64 `json:"pause_ns"`
	PauseEndUnixNs uint64 `json:"pause_end_unix_ns"`
}

func main() {
	mainStart := mono()
	mainStartReal := clockNs(clockRealtime)
	flag.Parse()
	fmt.Printf("GCLENS_MARK start pid=%d mono_ns=%d\n", os.Getpid(), mainStart)

	r := rng(*seed)
	const workers = 2
	heaps := make([]*heap, workers)
	startTrees := int(float64(*startLiv) * 1e6 / treeBytes / workers)
	for w := range heaps {
		heaps[w] = &heap{r: rng(*seed + uint64(w+1)*0x9E3779B97F4A7C15)}
		heaps[w].resize(startTrees)
	}
	builtMono := mono()

	phases := planPhases(&r, *runFor)
	var fenceT0, fenceT1 int64
	var fenceGC uint32
	fenceDeadline := mainStart + int64(*fenceAt)
	fenceDone := *fenceAt <= 0
	forkDeadline := mainStart + int64(*forkAt)
	forkDone := *forkAt <= 0
	var forkT0, forkT1 int64
	forkPid := -1
	forkErr := ""
	var allocated atomic.Int64

	for pi := range phases {
		p := &phases[pi]
		p.StartMono = mono()
		if !fenceDone && p.StartMono >= fenceDeadline {
			fenceDone = true
			fenceT0 = mono()
			runtime.GC()
			fenceT1 = mono()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fenceGC = ms.NumGC
			fmt.Printf("GCLENS_MARK fence t0_mono_ns=%d t1_mono_ns=%d num_gc=%d\n", fenceT0, fenceT1, fenceGC)
			p.StartMono = mono()
		}
		if !forkDone && p.StartMono >= forkDeadline {
			// a child process whose PERF_RECORD_FORK / COMM exec lands on perf's clock
			// between two CLOCK_MONOTONIC reads: measures perf's clock against CLOCK_MONOTONIC
			forkDone = true
			forkT0 = mono()
			pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
			forkT1 = mono()
			if err != nil {
				forkErr = err.Error()
			} else {
				forkPid = pid
				var ws syscall.WaitStatus
				_, _ = syscall.Wait4(pid, &ws, 0, nil)
			}
			fmt.Printf("GCLENS_MARK fork t0_mono_ns=%d t1_mono_ns=%d child_pid=%d\n", forkT0, forkT1, forkPid)
			p.StartMono = mono()
		}
		end := p.StartMono + int64(p.PlannedMs*1e6)
		switch p.Kind {
		case "resize":
			n := int(p.Param * 1e6 / treeBytes / workers)
			for _, h := range heaps {
				h.resize(n)
			}
		case "idle":
			time.Sleep(time.Duration(end - mono()))
		case "burst", "paced":
			var wg sync.WaitGroup
			for _, h := range heaps {
				wg.Add(1)
				go func(h *heap) {
					defer wg.Done()
					perWorker := p.Param * (1 << 20) / workers // bytes/s, paced only
					t0 := mono()
					var done float64
					for {
						now := mono()
						if now >= end {
							return
						}
						h.replace(1)
						garbage(h, 64<<10)
						b := treeBytes + 64<<10
						done += float64(b)
						allocated.Add(int64(b))
						if p.Kind == "paced" {
							want := t0 + int64(done/perWorker*1e9)
							if want > now+200_000 {
								if want > end {
									want = end
								}
								time.Sleep(time.Duration(want - now))
							}
						}
					}
				}(h)
			}
			wg.Wait()
		}
		p.EndMono = mono()
	}
	churnEnd := mono()
	live := 0
	for _, h := range heaps {
		live += len(h.trees)
	}

	// stop automatic GC (waits for an in-flight cycle), so no cycle follows the counts below
	debug.SetGCPercent(-1)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	exitMono := mono()
	exitReal := clockNs(clockRealtime)
	exitBoot := clockNs(clockBoottime)
	fmt.Printf("GCLENS_MARK end mono_ns=%d num_gc=%d\n", exitMono, m.NumGC)

	pauses := []pause{}
	first := uint32(1)
	if m.NumGC > 256 {
		first = m.NumGC - 255
	}
	for k := first; k <= m.NumGC && m.NumGC > 0; k++ {
		i := (k - 1) % 256
		pauses = append(pauses, pause{GCNum: k, PauseNs: m.PauseNs[i], PauseEndUnixNs: m.PauseEnd[i]})
	}
	t := map[string]any{
		"program":                "perfdemo",
		"truth_point":            "exit",
		"go_version":             runtime.Version(),
		"gomaxprocs":             runtime.GOMAXPROCS(0),
		"num_cpu":                runtime.NumCPU(),
		"num_gc":                 m.NumGC,
		"num_forced_gc":          m.NumForcedGC,
		"gc_cpu_fraction":        m.GCCPUFraction,
		"pause_total_ns":         m.PauseTotalNs,
		"pauses":                 pauses,
		"pid":                    os.Getpid(),
		"ppid":                   os.Getppid(),
		"runtime_init_mono_ns":   runtimeInitTime,
		"main_start_mono_ns":     mainStart,
		"main_start_unix_ns":     mainStartReal,
		"heap_built_mono_ns":     builtMono,
		"churn_end_mono_ns":      churnEnd,
		"exit_mono_ns":           exitMono,
		"exit_unix_ns":           exitReal,
		"exit_boottime_ns":       exitBoot,
		"proc_stat_starttime":    procStatStart(),
		"proc_stat_starttime_hz": 100,
		"fence": map[string]any{
			"t0_mono_ns": fenceT0, "t1_mono_ns": fenceT1, "num_gc_after": fenceGC,
		},
		"fork_marker": map[string]any{
			"t0_mono_ns": forkT0, "t1_mono_ns": forkT1, "child_pid": forkPid,
			"error": forkErr, "enabled": *forkAt > 0,
		},
		"phases":             phases,
		"seed":               *seed,
		"allocated_bytes":    allocated.Load(),
		"live_trees_at_exit": live, "tree_bytes": treeBytes,
		"env": map[string]*string{
			"GODEBUG":    envp("GODEBUG"),
			"GOGC":       envp("GOGC"),
			"GOMEMLIMIT": envp("GOMEMLIMIT"),
			"GOMAXPROCS": envp("GOMAXPROCS"),
		},
	}
	if path := os.Getenv("GCLENS_TRUTH"); path != "" {
		b, err := json.MarshalIndent(t, "", "  ")
		if err == nil {
			_ = os.WriteFile(path, append(b, '\n'), 0o644)
		}
	}
	runtime.KeepAlive(heaps)
	// let the runtime finish printing the last cycle's trace line
	time.Sleep(100 * time.Millisecond)
}
