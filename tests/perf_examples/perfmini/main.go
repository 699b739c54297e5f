// perfmini: a tiny pointer-heavy allocator for about one second, so that perf sees GC work.
package main

import (
	"fmt"
	"os"
	"time"
)

type node struct {
	next  *node
	left  *node
	right *node
	pad   [4]uintptr
}

var keep []*node

func churn(n int) *node {
	var head *node
	for i := 0; i < n; i++ {
		head = &node{next: head, left: head}
	}
	return head
}

func main() {
	deadline := time.Now().Add(time.Second)
	rounds := 0
	for time.Now().Before(deadline) {
		keep = append(keep, churn(2000))
		if len(keep) > 400 {
			keep = keep[200:]
		}
		rounds++
	}
	fmt.Fprintln(os.Stderr, "perfmini rounds:", rounds)
}
