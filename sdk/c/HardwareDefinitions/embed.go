// Package hardwaredefinitions holds Rampart's own hardware definitions of the MT3620 and its
// reference development board, for Azure Sphere apps that import mt3620.json or
// mt3620_rdb.json. The same files are what sdk/c's CMake functions search, and what
// `rampart image pack --hardware-definition` falls back to.
package hardwaredefinitions

import "embed"

// FS holds the definition files (*.json) and their C headers (inc/hw/*.h).
//
//go:embed *.json inc/hw/*.h
var FS embed.FS
