package truth

import (
	"runtime/metrics"
	"time"
)

// Heap is the optional "heap" object of a truth file: peaks of the heap as the
// program saw it, sampled with runtime/metrics (which does not stop the world,
// unlike ReadMemStats), and MemStats' heap figures at the truth point. A
// sampled peak is a lower bound of the true one: the heap can rise and fall
// between two samples (by at most what is allocated in one interval).
type Heap struct {
	SampleIntervalNs int64  `json:"sample_interval_ns"`
	Samples          int    `json:"samples"`
	PeakHeapAlloc    uint64 `json:"peak_heap_alloc_bytes"`   // MemStats.HeapAlloc equivalent
	PeakHeapAllocNs  int64  `json:"peak_heap_alloc_unix_ns"` // when it was sampled
	PeakHeapInuse    uint64 `json:"peak_heap_inuse_bytes"`   // MemStats.HeapInuse equivalent
	PeakHeapSys      uint64 `json:"peak_heap_sys_bytes"`     // MemStats.HeapSys equivalent
	PeakHeapGoal     uint64 `json:"peak_heap_goal_bytes"`    // /gc/heap/goal:bytes
	ExitHeapAlloc    uint64 `json:"exit_heap_alloc_bytes"`
	ExitHeapSys      uint64 `json:"exit_heap_sys_bytes"`
	ExitHeapInuse    uint64 `json:"exit_heap_inuse_bytes"`
	ExitHeapReleased uint64 `json:"exit_heap_released_bytes"`
	TotalAlloc       uint64 `json:"total_alloc_bytes"`
	Mallocs          uint64 `json:"mallocs"`
}

// HeapSampler reads the heap metrics every interval until Stop.
type HeapSampler struct {
	interval time.Duration
	stop     chan struct{}
	done     chan *Heap
}

var heapMetrics = []string{
	"/memory/classes/heap/objects:bytes", // 0: HeapAlloc
	"/memory/classes/heap/unused:bytes",  // 1: HeapInuse = objects + unused
	"/memory/classes/heap/free:bytes",    // 2: HeapSys = in use + free + released
	"/memory/classes/heap/released:bytes",
	"/gc/heap/goal:bytes",
}

// StartHeapSampler starts the sampling goroutine (it never writes anything).
func StartHeapSampler(interval time.Duration) *HeapSampler {
	s := &HeapSampler{interval: interval, stop: make(chan struct{}), done: make(chan *Heap, 1)}
	go s.run()
	return s
}

func (s *HeapSampler) run() {
	samples := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		samples[i].Name = name
	}
	h := &Heap{SampleIntervalNs: int64(s.interval)}
	val := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		metrics.Read(samples)
		h.Samples++
		alloc := val(0)
		inuse := alloc + val(1)
		sys := inuse + val(2) + val(3)
		if alloc > h.PeakHeapAlloc {
			h.PeakHeapAlloc, h.PeakHeapAllocNs = alloc, time.Now().UnixNano()
		}
		if inuse > h.PeakHeapInuse {
			h.PeakHeapInuse = inuse
		}
		if sys > h.PeakHeapSys {
			h.PeakHeapSys = sys
		}
		if g := val(4); g > h.PeakHeapGoal {
			h.PeakHeapGoal = g
		}
		select {
		case <-s.stop:
			s.done <- h
			return
		case <-tick.C:
		}
	}
}

// Stop takes one last sample and returns the peaks.
func (s *HeapSampler) Stop() *Heap {
	close(s.stop)
	return <-s.done
}
