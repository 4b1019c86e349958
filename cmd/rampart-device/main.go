// Command rampart-device is the Rampart device runtime; see package
// [github.com/rampart-iot/rampart/device/cli].
package main

import (
	"os"

	devicecli "github.com/rampart-iot/rampart/device/cli"
)

func main() { os.Exit(devicecli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
