//go:build !wasip1

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "crash is a Rampart app: build with GOOS=wasip1 GOARCH=wasm")
	os.Exit(2)
}
