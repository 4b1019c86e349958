// Command rampart is the Rampart security service and its administration tool; see package
// [github.com/rampart-iot/rampart/cli].
package main

import (
	"os"

	"github.com/rampart-iot/rampart/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
