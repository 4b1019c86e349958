// Telemetry is a sample Rampart app: it publishes a reading every interval to an MQTT 3.1.1
// broker over TLS, authenticating the device with its certificate. The app never holds the
// certificate's key: the host does the TLS ([sdk.DialTLS] with deviceAuth), and the app speaks
// MQTT (package sdk/mqtt) over the connection it gets.
//
// The broker is mqtt.example.com:8883, which app_manifest.json's AllowedConnections names;
// a config.json in the app's storage may name another, which the manifest must also allow:
//
//	{"broker": "mqtt.example.com", "port": 8883, "topic": "rampart/telemetry", "interval_seconds": 60}
//
// Build and pack it with
//
//	GOOS=wasip1 GOARCH=wasm go build -o app.wasm ./examples/telemetry
//	rampart image pack --manifest examples/telemetry/app_manifest.json --payload app.wasm --output telemetry.rmpkg
//
// [sdk.DialTLS]: github.com/rampart-iot/rampart/sdk.DialTLS
package main
