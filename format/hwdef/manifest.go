package hwdef

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/rampart-iot/rampart/format/manifest"
)

// EntryPoint is the EntryPoint of a converted manifest: Azure Sphere's is a path in the image
// ("/bin/app"), Rampart's the module's file name.
const EntryPoint = "app.wasm"

// azManifest is an Azure Sphere app manifest's top level.
type azManifest struct {
	SchemaVersion                   int                        `json:"SchemaVersion"`
	Name                            string                     `json:"Name"`
	ComponentId                     string                     `json:"ComponentId"`
	EntryPoint                      string                     `json:"EntryPoint"`
	CmdArgs                         []string                   `json:"CmdArgs"`
	Capabilities                    map[string]json.RawMessage `json:"Capabilities"`
	ApplicationType                 string                     `json:"ApplicationType"`
	MallocVersion                   int                        `json:"MallocVersion"`
	TargetBetaApis                  bool                       `json:"TargetBetaApis"`
	TargetApplicationRuntimeVersion int                        `json:"TargetApplicationRuntimeVersion"`
}

// unsupported are Azure Sphere capabilities a Rampart app cannot have; a manifest that asks for
// one (with a non-empty value) is refused rather than silently narrowed.
var unsupported = []string{"Adc", "AllowedApplicationConnections", "AllowedTcpServerPorts",
	"AllowedUdpServerPorts", "CertStore", "EnterpriseWifiConfig", "ExternalInterrupt",
	"HardwareAddressConfig", "I2cMaster", "I2sSubordinate", "NetworkConfig",
	"PowerControls", "Pwm", "ReadNetworkProxyConfig", "SntpService", "SpiMaster", "SystemTime",
	"TimeSyncConfig", "Uart", "WifiConfig"}

// ConvertManifest turns an Azure Sphere app manifest into Rampart's: "$NAME" values are
// resolved with d (which may be nil when the manifest names none), EntryPoint becomes
// [EntryPoint], DeviceAuthentication (a tenant ID on Azure Sphere) becomes true, and
// ApplicationType, MallocVersion and the like are dropped. What Rampart cannot give the app
// (CmdArgs, a real-time app, a capability in the unsupported list) is refused, naming it. The
// result is checked as `rampart image pack` checks any manifest.
func ConvertManifest(b []byte, d *Definition) (*manifest.App, error) {
	if len(b) > manifest.MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", manifest.ErrInvalid, len(b), manifest.MaxSize)
	}
	var az azManifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&az); err != nil {
		return nil, fmt.Errorf("%w: %v", manifest.ErrInvalid, err)
	}
	if az.ApplicationType != "" && az.ApplicationType != "Default" {
		return nil, fmt.Errorf("%w: ApplicationType %q: Rampart runs high-level (Default) apps only", manifest.ErrInvalid, clip(az.ApplicationType))
	}
	if len(az.CmdArgs) > 0 {
		return nil, fmt.Errorf("%w: CmdArgs: a Rampart app gets no command-line arguments; read settings from mutable storage instead", manifest.ErrInvalid)
	}
	app := &manifest.App{SchemaVersion: az.SchemaVersion, ComponentId: az.ComponentId, Name: az.Name, EntryPoint: EntryPoint}
	if err := convertCapabilities(az.Capabilities, d, &app.Capabilities); err != nil {
		return nil, err
	}
	out, err := json.Marshal(app)
	if err != nil {
		return nil, err
	}
	return manifest.Parse(out) // the same checks as a manifest written for Rampart
}

func convertCapabilities(caps map[string]json.RawMessage, d *Definition, c *manifest.Capabilities) error {
	for _, k := range sortedKeys(caps) {
		v := caps[k]
		var err error
		switch k {
		case "Gpio":
			c.Gpio, err = gpioNumbers(v, d)
		case "AllowedConnections":
			err = json.Unmarshal(v, &c.AllowedConnections)
		case "MutableStorage":
			c.MutableStorage = new(manifest.MutableStorage)
			err = json.Unmarshal(v, c.MutableStorage)
		case "DeviceAuthentication":
			c.DeviceAuthentication, err = deviceAuth(v)
		case "SystemEventNotifications":
			err = json.Unmarshal(v, &c.SystemEventNotifications)
		case "SoftwareUpdateDeferral":
			err = json.Unmarshal(v, &c.SoftwareUpdateDeferral)
		default:
			if isEmpty(v) {
				continue
			}
			if slices.Contains(unsupported, k) {
				return fmt.Errorf("%w: Capabilities.%s: Rampart apps have no such capability (see docs/c-apps.md)", manifest.ErrInvalid, k)
			}
			return fmt.Errorf("%w: Capabilities.%s: unknown capability", manifest.ErrInvalid, clip(k))
		}
		if err != nil {
			return fmt.Errorf("%w: Capabilities.%s: %v", manifest.ErrInvalid, k, err)
		}
	}
	return nil
}

// gpioNumbers resolves a Gpio list of numbers and "$NAME"s.
func gpioNumbers(v json.RawMessage, d *Definition) ([]int, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, err
	}
	if len(items) > manifest.MaxGpio {
		return nil, fmt.Errorf("%d pins, over the limit of %d", len(items), manifest.MaxGpio)
	}
	var pins []int
	for _, it := range items {
		var n int
		if json.Unmarshal(it, &n) == nil {
			pins = append(pins, n)
			continue
		}
		var s string
		if err := json.Unmarshal(it, &s); err != nil || !strings.HasPrefix(s, "$") {
			return nil, fmt.Errorf("%s: want a pin number or \"$NAME\" from the hardware definition", clip(string(it)))
		}
		if d == nil {
			return nil, fmt.Errorf("%s needs a hardware definition: give --hardware-definition", s)
		}
		val, err := d.Resolve(s[1:])
		if err != nil {
			return nil, err
		}
		if !val.IsNumber || (val.Type != "" && val.Type != "Gpio") {
			return nil, fmt.Errorf("%s is a %s, not a GPIO", s, val.Type)
		}
		pins = append(pins, int(val.Number))
	}
	return pins, nil
}

// deviceAuth: Azure Sphere's DeviceAuthentication is the tenant's ID; Rampart's a flag (the
// device's tenant is the one it belongs to).
func deviceAuth(v json.RawMessage) (bool, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s != "", nil
	}
	var b bool
	err := json.Unmarshal(v, &b)
	return b, err
}

func isEmpty(v json.RawMessage) bool {
	s := strings.TrimSpace(string(v))
	return s == "[]" || s == "null" || s == "false" || s == "{}" || s == `""`
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
