//go:build wasip1

package main

import (
	"time"

	"github.com/rampart-iot/rampart/sdk"
)

func main() {
	readings := []int{21, 22, 23}
	for i := 0; ; i++ {
		// The bug: i runs past the end of readings on the fourth pass.
		sdk.Logf("crash: reading %d is %d", i, readings[i])
		time.Sleep(500 * time.Millisecond)
	}
}
