// Package manifest provides the app manifest: the JSON an application's author writes to say
// what the app is and which capabilities it needs, with Azure Sphere's field names where they
// fit. A capability the manifest does not grant is a host call that fails.
package manifest

import "errors"

// MaxSize bounds an app manifest.
const MaxSize = 64 << 10

// App is an app manifest.
type App struct {
	SchemaVersion int          `json:"SchemaVersion"`
	ComponentId   string       `json:"ComponentId"`
	Name          string       `json:"Name"`
	EntryPoint    string       `json:"EntryPoint"`
	Capabilities  Capabilities `json:"Capabilities"`
}

// Capabilities are what an app may do beyond computing: deny by default.
type Capabilities struct {
	// AllowedConnections are "host" or "host:port" entries the app may connect to.
	AllowedConnections []string `json:"AllowedConnections,omitempty"`
	// MutableStorage gives the app a private folder of at most SizeKB kilobytes.
	MutableStorage *MutableStorage `json:"MutableStorage,omitempty"`
	// Gpio lists the pin numbers the app may set and read.
	Gpio []int `json:"Gpio,omitempty"`
	// DeviceAuthentication lets the app open mutual-TLS connections with the device certificate.
	DeviceAuthentication bool `json:"DeviceAuthentication,omitempty"`
	// SystemEventNotifications tells the app of pending updates.
	SystemEventNotifications bool `json:"SystemEventNotifications,omitempty"`
	// SoftwareUpdateDeferral lets the app defer a pending update.
	SoftwareUpdateDeferral bool `json:"SoftwareUpdateDeferral,omitempty"`
}

// MutableStorage is the MutableStorage capability.
type MutableStorage struct {
	SizeKB int `json:"SizeKB"`
}

// ErrInvalid is wrapped by every refusal of Parse and Validate.
var ErrInvalid = errors.New("invalid app manifest")

// Parse decodes an app manifest strictly (at most MaxSize bytes; duplicate keys, unknown fields
// and trailing data refused) and validates it.
func Parse(b []byte) (*App, error) { panic("unimplemented") }

// Validate checks every field: SchemaVersion 1; ComponentId a lowercase UUID; Name an object
// name (ident.ValidateName); EntryPoint a plain file name ending in ".wasm"; each
// AllowedConnections entry a DNS name or IP with an optional port 1–65535, at most 64 of them;
// SizeKB 1–65536; Gpio pins 0–1023, distinct, at most 64.
func (a *App) Validate() error { panic("unimplemented") }
