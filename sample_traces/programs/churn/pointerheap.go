// The -pointer-heap variant of churn: a GC-bound workload meant to be run with
// a low GOGC (e.g. GOGC=10) so that the cumulative GC CPU percentage printed
// in the gc line climbs well above 0%.
//
// Two worker goroutines each own half of a pointer-heavy live heap (a
// circular doubly linked list of small nodes, each with a separately
// allocated payload and a "peer" pointer to a random other node, plus a
// map[int]*node index and a []*node slice). They keep replacing random nodes
// (so the live heap stays pointer-dense while old nodes become garbage) and
// allocate short-lived pointerful garbage, paced to a fixed allocation rate.
// Between batches they busy-wait instead of sleeping, so the Ps are never
// idle: mark work is done by the dedicated/fractional workers and by mutator
// assists (which count towards the gc line's N%), not by idle workers (which
// do not). No forced GC cycles; app log lines on stderr about 4 times a second.
package main

import (
	"flag"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"gclens/samples/internal/truth"
)

var (
	phDuration = flag.Duration("ph-duration", 2500*time.Millisecond, "pointer-heap: run time after the build phase")
	phNodes    = flag.Int("ph-nodes", 500000, "pointer-heap: live nodes in total (about 80 bytes each + index)")
	phRate     = flag.Float64("ph-rate", 18, "pointer-heap: MiB/s allocated by all workers together")
	phWorkers  = flag.Int("ph-workers", 2, "pointer-heap: worker goroutines")
)

type node struct {
	next, prev *node
	peer       *node
	payload    *[4]int64
	key        int
}

type shard struct {
	nodes []*node
	byKey map[int]*node
	rng   uint64
}

func (s *shard) rand() uint64 { // xorshift64
	s.rng ^= s.rng << 13
	s.rng ^= s.rng >> 7
	s.rng ^= s.rng << 17
	return s.rng
}

const nodeBytes = 48 + 32 // size classes of node and payload

func newShard(n int, seed uint64) *shard {
	s := &shard{nodes: make([]*node, n), byKey: make(map[int]*node, n/4), rng: seed}
	for i := range s.nodes {
		nd := &node{key: i, payload: new([4]int64)}
		nd.payload[0] = int64(i)
		s.nodes[i] = nd
		if i > 0 {
			nd.prev = s.nodes[i-1]
			s.nodes[i-1].next = nd
			nd.peer = s.nodes[int(s.rand()%uint64(i))]
		}
		if i%4 == 0 {
			s.byKey[i] = nd
		}
	}
	s.nodes[0].prev = s.nodes[n-1]
	s.nodes[n-1].next = s.nodes[0]
	return s
}

// replace swaps a random node for a fresh one; returns bytes allocated.
func (s *shard) replace() int {
	n := len(s.nodes)
	i := int(s.rand() % uint64(n))
	old := s.nodes[i]
	nd := &node{key: old.key, payload: new([4]int64), peer: s.nodes[int(s.rand()%uint64(n))]}
	nd.payload[0] = old.payload[0] + 1
	nd.prev, nd.next = old.prev, old.next
	nd.prev.next = nd
	nd.next.prev = nd
	old.next, old.prev, old.peer = nil, nil, nil
	s.nodes[i] = nd
	if _, ok := s.byKey[nd.key]; ok {
		s.byKey[nd.key] = nd
	}
	return nodeBytes
}

var garbage []*node

func pointerHeapMain(start int64) {
	workers := *phWorkers
	perShard := *phNodes / workers
	log.Printf("app: pointer-heap building %d nodes in %d shards", perShard*workers, workers)
	shards := make([]*shard, workers)
	for w := range shards {
		shards[w] = newShard(perShard, uint64(w)*0x9E3779B97F4A7C15+1)
	}
	log.Printf("app: pointer-heap built; churning for %s at %.0f MiB/s", *phDuration, *phRate)

	var replaced, spins atomic.Int64
	t0 := time.Now()
	deadline := t0.Add(*phDuration)
	perWorker := *phRate * (1 << 20) / float64(workers) // bytes per second
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(s *shard) {
			defer wg.Done()
			var allocated float64
			x := s.rng
			for {
				now := time.Now()
				if now.After(deadline) {
					return
				}
				// one batch: replace 256 nodes, plus short-lived pointerful garbage
				for i := 0; i < 256; i++ {
					allocated += float64(s.replace())
				}
				for i := 0; i < 16; i++ {
					g := make([]*node, 64) // 512 B of pointers
					g[0] = s.nodes[int(s.rand()%uint64(len(s.nodes)))]
					garbage = g
					allocated += 512
				}
				replaced.Add(256)
				// busy-wait until the allocation pace allows the next batch
				want := t0.Add(time.Duration(allocated / perWorker * float64(time.Second)))
				for time.Now().Before(want) {
					for j := 0; j < 2000; j++ {
						x ^= x << 13
						x ^= x >> 7
						x ^= x << 17
					}
					spins.Add(1)
				}
				s.rng ^= x & 1
			}
		}(shards[w])
	}
	tick := time.NewTicker(250 * time.Millisecond)
	for time.Now().Before(deadline) {
		<-tick.C
		log.Printf("app: pointer-heap replaced=%d spins=%d", replaced.Load(), spins.Load())
	}
	tick.Stop()
	wg.Wait()
	log.Printf("app: pointer-heap done replaced=%d", replaced.Load())
	live := 0
	for _, s := range shards {
		live += len(s.nodes) + len(s.byKey)
	}
	extra := map[string]any{
		"variant":         "pointer-heap",
		"nodes":           perShard * workers,
		"workers":         workers,
		"rate_mib_s":      *phRate,
		"churn_seconds":   phDuration.Seconds(),
		"replaced_nodes":  replaced.Load(),
		"live_references": live,
	}
	garbage = nil
	truth.Write("churn", "exit", start, extra)
}
