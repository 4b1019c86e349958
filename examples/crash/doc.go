// Crash is a sample Rampart app that fails: it reads a simulated sensor a few times and then
// panics with an index out of range, as a buggy app in the field would. The app host records
// each crash (with its panic line), restarts the app with backoff, and the device reports the
// crashes to the service, where `rampart report summary` shows them as one line with a count.
//
// Build and pack it with
//
//	GOOS=wasip1 GOARCH=wasm go build -o app.wasm ./examples/crash
//	rampart image pack --manifest examples/crash/app_manifest.json --payload app.wasm --output crash.rmpkg
package main
