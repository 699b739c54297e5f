// growheap: a live heap that grows steadily, for what-if validation.
//
// Worker goroutines allocate a paced stream of small pointerful records (a
// 48-byte entry with three pointers plus a 32-byte payload) and short-lived
// pointer slices, at -rate MiB/s in total. A fixed fraction (-retain) of the
// bytes allocated is kept in a backlog that is never trimmed: each worker's
// retained entries form a linked list, are indexed by a chunked []*entry, and
// each points at a random earlier retained entry (pointer chasing for the
// marker). The live heap therefore grows linearly with time from the -start
// MiB seed built before the clock starts, at -rate x -retain MiB/s (plus the
// index, 8 bytes per retained record).
//
// Pacing is by allocation volume against the wall clock: a worker that is
// ahead busy-waits (the Ps stay busy, so mark work falls to the fractional
// worker and assists, which count in the gc line's N%, not to idle workers).
// A worker that falls behind catches up without waiting; the truth file's
// extra records the achieved rate and the largest lag, so a run whose rate
// was capped by the GC can be told apart. A heap sampler (runtime/metrics,
// every 5 ms) records the peaks the program saw. A log line every second.
package main

import (
	"flag"
	"log"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"gclens/samples/internal/truth"
)

var (
	duration = flag.Duration("duration", 20*time.Second, "run time after the seed is built")
	rate     = flag.Float64("rate", 100, "MiB/s allocated by all workers together")
	retain   = flag.Float64("retain", 0.045, "fraction of the allocated bytes kept forever")
	startMiB = flag.Float64("start", 10, "MiB of retained records built before the clock starts")
	workers  = flag.Int("workers", 2, "worker goroutines")
	sampleMs = flag.Duration("sample", 5*time.Millisecond, "heap sampling interval")
)

type entry struct {
	next, peer *entry
	payload    *[16]int64
	key        int64
	seq        int64
}

const (
	recordBytes = 48 + 128 // size classes of entry and payload
	sliceBytes  = 64 * 8   // one short-lived []*entry of 64
	chunkLen    = 1024     // index chunk: 8 KiB of pointers
	chunkBytes  = chunkLen * 8
)

type backlog struct {
	chunks [][]*entry
	n      int
	tail   *entry
	rng    uint64
}

func (b *backlog) rand() uint64 { // xorshift64
	b.rng ^= b.rng << 13
	b.rng ^= b.rng >> 7
	b.rng ^= b.rng << 17
	return b.rng
}

func (b *backlog) at(i int) *entry { return b.chunks[i/chunkLen][i%chunkLen] }

// keep appends e; returns bytes allocated for the index (a new chunk).
func (b *backlog) keep(e *entry) int {
	alloc := 0
	if b.n%chunkLen == 0 {
		b.chunks = append(b.chunks, make([]*entry, chunkLen))
		alloc = chunkBytes
	}
	if b.n > 0 {
		e.peer = b.at(int(b.rand() % uint64(b.n)))
		b.tail.next = e
	}
	b.chunks[b.n/chunkLen][b.n%chunkLen] = e
	b.n++
	b.tail = e
	return alloc
}

func (b *backlog) record(seq int64) *entry {
	e := &entry{key: int64(b.rand() & 0xffff), seq: seq, payload: new([16]int64)}
	e.payload[0] = seq
	return e
}

var sink []*entry

func main() {
	start := time.Now().UnixNano()
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetOutput(os.Stderr)
	sampler := truth.StartHeapSampler(*sampleMs)
	w := *workers
	log.Printf("app: growheap seeding %.0f MiB in %d backlogs", *startMiB, w)
	logs := make([]*backlog, w)
	seedPer := int(*startMiB * (1 << 20) / recordBytes / float64(w))
	for i := range logs {
		b := &backlog{rng: uint64(i)*0x9E3779B97F4A7C15 + 1}
		for k := 0; k < seedPer; k++ {
			b.keep(b.record(int64(k)))
		}
		logs[i] = b
	}
	log.Printf("app: growheap seeded; growing for %s at %.0f MiB/s, retaining %.3f", *duration, *rate, *retain)

	var allocated, retainedRecs atomic.Int64
	var maxLagNs atomic.Int64
	t0 := time.Now()
	deadline := t0.Add(*duration)
	perWorker := *rate * (1 << 20) / float64(w) // bytes per second
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		wg.Add(1)
		go func(b *backlog) {
			defer wg.Done()
			var done, kept float64 // bytes allocated by this worker, bytes of it kept
			var seq int64
			x := b.rng
			for {
				now := time.Now()
				if now.After(deadline) {
					return
				}
				want := t0.Add(time.Duration(done / perWorker * float64(time.Second)))
				if lag := now.Sub(want); lag > 0 {
					if int64(lag) > maxLagNs.Load() {
						maxLagNs.Store(int64(lag)) // racy max across workers: good enough
					}
				}
				// busy-wait until the pace allows the next batch
				for time.Now().Before(want) {
					for j := 0; j < 2000; j++ {
						x ^= x << 13
						x ^= x >> 7
						x ^= x << 17
					}
				}
				// one batch: 128 records (a fraction kept), 8 short-lived pointer slices
				var batch float64
				for k := 0; k < 128; k++ {
					seq++
					e := b.record(seq)
					batch += recordBytes
					if kept < *retain*(done+batch) {
						batch += float64(b.keep(e))
						kept += recordBytes
						retainedRecs.Add(1)
					} else if b.n > 0 {
						e.peer = b.at(int(b.rand() % uint64(b.n)))
					}
				}
				for k := 0; k < 8; k++ {
					g := make([]*entry, 64)
					g[0] = b.tail
					sink = g
					batch += sliceBytes
				}
				done += batch
				allocated.Add(int64(batch))
				b.rng ^= x & 1
			}
		}(logs[i])
	}
	tick := time.NewTicker(time.Second)
	for time.Now().Before(deadline) {
		<-tick.C
		log.Printf("app: growheap allocated=%dMiB retained=%d", allocated.Load()>>20, retainedRecs.Load())
	}
	tick.Stop()
	wg.Wait()
	elapsed := time.Since(t0).Seconds()
	log.Printf("app: growheap done allocated=%dMiB retained=%d", allocated.Load()>>20, retainedRecs.Load())
	records := 0
	for _, b := range logs {
		records += b.n
	}
	extra := map[string]any{
		"grow_start_unix_ns":  t0.UnixNano(),
		"rate_mib_s":          *rate,
		"retain_fraction":     *retain,
		"start_mib":           *startMiB,
		"workers":             w,
		"duration_s":          duration.Seconds(),
		"elapsed_s":           elapsed,
		"allocated_mib":       float64(allocated.Load()) / (1 << 20),
		"achieved_rate_mib_s": float64(allocated.Load()) / (1 << 20) / elapsed,
		"max_lag_ms":          float64(maxLagNs.Load()) / 1e6,
		"seed_records":        seedPer * w,
		"retained_records":    records,
		"retained_mib":        float64(records) * (recordBytes + 8) / (1 << 20),
	}
	sink = nil
	truth.WriteSampled("growheap", "exit", start, extra, sampler)
	runtime.KeepAlive(logs)
}
