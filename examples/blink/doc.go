// Blink is a sample Rampart app: it toggles GPIO pin 9, which its manifest grants, once a
// second, and logs each change. It shows the smallest useful app: one capability, the SDK's
// GPIO and log calls, and a loop that the host can stop at any point.
//
// Build and pack it with
//
//	GOOS=wasip1 GOARCH=wasm go build -o app.wasm ./examples/blink
//	rampart image pack --manifest examples/blink/app_manifest.json --payload app.wasm --output blink.rmpkg
package main
