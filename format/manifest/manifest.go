// Package manifest provides the app manifest: the JSON an application's author writes to say
// what the app is and which capabilities it needs, with Azure Sphere's field names where they
// fit. A capability the manifest does not grant is a host call that fails.
package manifest

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
)

// MaxSize bounds an app manifest.
const MaxSize = 64 << 10

// Limits of an app manifest's fields, checked by [App.Validate].
const (
	MaxConnections   = 64
	MaxGpio          = 64
	MaxGpioPin       = 1023
	MaxStorageKB     = 65536
	MaxEntryPointLen = 100
)

const (
	schemaVersion    = 1
	entryPointSuffix = ".wasm"
	maxHostLen       = 253 // RFC 1035
	maxHostLabelLen  = 63
)

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
func Parse(b []byte) (*App, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrInvalid, len(b), MaxSize)
	}
	var a App
	if err := strictjson.Decode(b, &a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	// An empty list means what an absent one does; keep one form so that a parsed manifest
	// encodes and parses back to itself.
	if len(a.Capabilities.AllowedConnections) == 0 {
		a.Capabilities.AllowedConnections = nil
	}
	if len(a.Capabilities.Gpio) == 0 {
		a.Capabilities.Gpio = nil
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// Validate checks every field: SchemaVersion 1; ComponentId a lowercase UUID; Name an object
// name (ident.ValidateName); EntryPoint a plain file name ending in ".wasm"; each
// AllowedConnections entry a DNS name or IP with an optional port 1–65535, at most 64 of them;
// SizeKB 1–65536; Gpio pins 0–1023, distinct, at most 64.
//
// Errors name the field: "Capabilities.Gpio[2]: pin 5000 out of range 0–1023".
func (a *App) Validate() error {
	if a == nil {
		return fmt.Errorf("%w: missing", ErrInvalid)
	}
	if a.SchemaVersion != schemaVersion {
		return invalid("SchemaVersion", "%d is not supported: want %d", a.SchemaVersion, schemaVersion)
	}
	if !ident.IsID(a.ComponentId) {
		return invalid("ComponentId", "%s is not a lowercase UUID", safetext.Quote(a.ComponentId, 60))
	}
	if err := ident.ValidateName(a.Name); err != nil {
		return invalid("Name", "%v", err)
	}
	if err := validateEntryPoint(a.EntryPoint); err != nil {
		return invalid("EntryPoint", "%s %v", safetext.Quote(a.EntryPoint, 60), err)
	}
	c := &a.Capabilities
	if n := len(c.AllowedConnections); n > MaxConnections {
		return invalid("Capabilities.AllowedConnections", "%d entries, over the limit of %d", n, MaxConnections)
	}
	for i, conn := range c.AllowedConnections {
		if err := validateConnection(conn); err != nil {
			return invalid(fmt.Sprintf("Capabilities.AllowedConnections[%d]", i), "%s %v", safetext.Quote(conn, 60), err)
		}
	}
	if ms := c.MutableStorage; ms != nil && (ms.SizeKB < 1 || ms.SizeKB > MaxStorageKB) {
		return invalid("Capabilities.MutableStorage.SizeKB", "%d out of range 1–%d", ms.SizeKB, MaxStorageKB)
	}
	if n := len(c.Gpio); n > MaxGpio {
		return invalid("Capabilities.Gpio", "%d pins, over the limit of %d", n, MaxGpio)
	}
	seen := make(map[int]int, len(c.Gpio))
	for i, pin := range c.Gpio {
		field := fmt.Sprintf("Capabilities.Gpio[%d]", i)
		if pin < 0 || pin > MaxGpioPin {
			return invalid(field, "pin %d out of range 0–%d", pin, MaxGpioPin)
		}
		if j, dup := seen[pin]; dup {
			return invalid(field, "pin %d is listed twice (also at [%d])", pin, j)
		}
		seen[pin] = i
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// validateEntryPoint accepts a plain file name: letters, digits, '.', '-' and '_', not
// starting with '.', ending in ".wasm". No path, so it cannot name a file outside the app.
func validateEntryPoint(s string) error {
	if len(s) <= len(entryPointSuffix) || len(s) > MaxEntryPointLen || !strings.HasSuffix(s, entryPointSuffix) {
		return fmt.Errorf("is not a file name ending in %q of at most %d characters", entryPointSuffix, MaxEntryPointLen)
	}
	for _, c := range s {
		if !(isAlnum(c) || c == '.' || c == '-' || c == '_') {
			return errors.New("is not a plain file name: only letters, digits, '.', '-' and '_' are allowed")
		}
	}
	if s[0] == '.' {
		return errors.New("starts with '.'")
	}
	return nil
}

// validateConnection accepts "host" or "host:port", where host is a DNS name, an IPv4 address
// or an IPv6 address (in brackets when a port follows) and port is 1–65535.
func validateConnection(s string) error {
	switch {
	case strings.HasPrefix(s, "["):
		return validateBracketed(s)
	case strings.Count(s, ":") > 1:
		if a, err := netip.ParseAddr(s); err != nil || a.Zone() != "" {
			return errors.New("is not a host name or IP address")
		}
		return nil
	case strings.Contains(s, ":"):
		host, port, _ := strings.Cut(s, ":")
		if err := validateHost(host); err != nil {
			return err
		}
		return validatePort(port)
	}
	return validateHost(s)
}

// validateBracketed accepts "[IPv6]" or "[IPv6]:port".
func validateBracketed(s string) error {
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return errors.New("has no closing ']'")
	}
	host, rest := s[1:end], s[end+1:]
	if rest != "" && rest[0] != ':' {
		return errors.New("has text after ']' that is not a port")
	}
	if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
		return errors.New("has no IPv6 address in brackets")
	}
	if rest == "" {
		return nil
	}
	return validatePort(rest[1:])
}

// validatePort accepts a port number 1–65535 written without leading zeros or signs.
func validatePort(port string) error {
	if port == "" {
		return errors.New("has an empty port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || port[0] < '1' || port[0] > '9' || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return errors.New("has a port outside 1–65535")
	}
	return nil
}

// validateHost accepts an IPv4 address or a DNS host name: labels of 1–63 letters, digits and
// '-' (not at either end), at most 253 characters, the last label not all digits.
func validateHost(s string) error {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return nil
	}
	bad := errors.New("is not a host name or IP address")
	if s == "" || len(s) > maxHostLen {
		return bad
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > maxHostLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
			return bad
		}
		for _, c := range l {
			if !(isAlnum(c) || c == '-') {
				return bad
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return bad // 10.0.0.256 is neither an address nor a name
	}
	return nil
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
