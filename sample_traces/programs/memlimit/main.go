// memlimit: meant to run with GOMEMLIMIT=64MiB and GOGC=off. Each round it
//  1. grows a live heap of 256 KiB chunks to ~40 MiB,
//  2. drops every other chunk (20 MiB of scattered 256 KiB holes),
//  3. allocates 1 MiB chunks, which do not fit in those holes, so the heap
//     grows to about the limit (limit-driven GC, eager scavenging),
//  4. drops nearly everything (background scavenging),
//
// while allocating short-lived garbage throughout. The live heap stays below
// the limit.
package main

import (
	"time"

	"gclens/samples/internal/truth"
)

const (
	runFor    = 4 * time.Second
	small     = 256 << 10
	big       = 1 << 20
	growTo    = 40 << 20
	bigTotal  = 22 << 20
	allocRate = 200 << 20 // bytes per second (live growth + garbage)
)

var sink []byte

func touch(b []byte) []byte {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
}

func main() {
	start := time.Now().UnixNano()
	t0 := time.Now()
	var allocated int64
	rounds := 0
	pace := func(n int) {
		allocated += int64(n)
		for i := 0; i < 2; i++ { // garbage: 2 x 64 KiB per step
			sink = make([]byte, 64<<10)
			allocated += 64 << 10
		}
		want := time.Duration(float64(allocated) / allocRate * float64(time.Second))
		if d := want - time.Since(t0); d > 0 {
			time.Sleep(d)
		}
	}
	done := func() bool { return time.Since(t0) >= runFor }
	for !done() {
		var smalls, bigs [][]byte
		for len(smalls)*small < growTo && !done() {
			smalls = append(smalls, touch(make([]byte, small)))
			pace(small)
		}
		for i := 1; i < len(smalls); i += 2 {
			smalls[i] = nil
		}
		for len(bigs)*big < bigTotal && !done() {
			bigs = append(bigs, touch(make([]byte, big)))
			pace(big)
		}
		// keep ~4 MiB of the small chunks, drop the rest
		for i := 16; i < len(smalls); i++ {
			smalls[i] = nil
		}
		smalls, bigs = nil, nil
		rounds++
	}
	sink = nil
	truth.Write("memlimit", "exit", start, map[string]any{"rounds": rounds})
}
