// Command badimport is a test app that imports a host function the host does not provide.
package main

//go:wasmimport rampart nonexistent
func nonexistent() int32

func main() { nonexistent() }
