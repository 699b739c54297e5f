// Package truth writes the ground-truth JSON file that accompanies each
// captured stderr trace. It never writes to stdout or stderr.
package truth

import (
	"encoding/json"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// Start is taken by each program as the first statement of main.
type Pause struct {
	GCNum          uint32 `json:"gc_num"`
	PauseNs        uint64 `json:"pause_ns"`
	PauseEndUnixNs uint64 `json:"pause_end_unix_ns"`
}

type Truth struct {
	Program       string             `json:"program"`
	Point         string             `json:"truth_point"`
	GoVersion     string             `json:"go_version"`
	GOMAXPROCS    int                `json:"gomaxprocs"`
	NumCPU        int                `json:"num_cpu"`
	NumGC         uint32             `json:"num_gc"`
	NumForcedGC   uint32             `json:"num_forced_gc"`
	GCCPUFraction float64            `json:"gc_cpu_fraction"`
	PauseTotalNs  uint64             `json:"pause_total_ns"`
	Pauses        []Pause            `json:"pauses"`
	StartUnixNs   int64              `json:"start_unix_ns"`
	ExitUnixNs    int64              `json:"exit_unix_ns"`
	Env           map[string]*string `json:"env"`
	Extra         map[string]any     `json:"extra,omitempty"`
	Heap          *Heap              `json:"heap,omitempty"` // only from WriteSampled
}

func env(k string) *string {
	if v, ok := os.LookupEnv(k); ok {
		return &v
	}
	return nil
}

// Write stops further automatic GC (lifting the memory limit first, then
// SetGCPercent(-1), which waits for an in-flight cycle), reads MemStats and
// writes the JSON to $GCLENS_TRUTH. point is "exit" or e.g. "before_deadlock".
func Write(program, point string, startUnixNs int64, extra map[string]any) {
	WriteSampled(program, point, startUnixNs, extra, nil)
}

// WriteSampled is Write plus, if s is not nil, the "heap" object: s's sampled
// peaks (s is stopped first) and MemStats' heap figures at the truth point.
func WriteSampled(program, point string, startUnixNs int64, extra map[string]any, s *HeapSampler) {
	var peaks *Heap
	if s != nil {
		peaks = s.Stop()
	}
	debug.SetMemoryLimit(math.MaxInt64)
	debug.SetGCPercent(-1)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	t := Truth{
		Program:       program,
		Point:         point,
		GoVersion:     runtime.Version(),
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
		NumCPU:        runtime.NumCPU(),
		NumGC:         m.NumGC,
		NumForcedGC:   m.NumForcedGC,
		GCCPUFraction: m.GCCPUFraction,
		PauseTotalNs:  m.PauseTotalNs,
		Pauses:        []Pause{},
		StartUnixNs:   startUnixNs,
		Env: map[string]*string{
			"GODEBUG":    env("GODEBUG"),
			"GOGC":       env("GOGC"),
			"GOMEMLIMIT": env("GOMEMLIMIT"),
			"GOMAXPROCS": env("GOMAXPROCS"),
		},
		Extra: extra,
	}
	if peaks != nil {
		peaks.ExitHeapAlloc = m.HeapAlloc
		peaks.ExitHeapSys = m.HeapSys
		peaks.ExitHeapInuse = m.HeapInuse
		peaks.ExitHeapReleased = m.HeapReleased
		peaks.TotalAlloc = m.TotalAlloc
		peaks.Mallocs = m.Mallocs
		t.Heap = peaks
	}
	first := uint32(1)
	if m.NumGC > 256 {
		first = m.NumGC - 255
	}
	for k := first; k <= m.NumGC && m.NumGC > 0; k++ {
		i := (k - 1) % 256
		t.Pauses = append(t.Pauses, Pause{GCNum: k, PauseNs: m.PauseNs[i], PauseEndUnixNs: m.PauseEnd[i]})
	}
	t.ExitUnixNs = time.Now().UnixNano()
	path := os.Getenv("GCLENS_TRUTH")
	if path == "" {
		return
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return
	}
	_ = os.WriteFile(path, append(b, '\n'), 0o644)
	// Give the runtime a moment to finish printing the trace line of the
	// last cycle (it is printed after the cycle is counted).
	time.Sleep(100 * time.Millisecond)
}
