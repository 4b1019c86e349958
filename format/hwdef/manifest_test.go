package hwdef

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/format/manifest"
	hardwaredefinitions "github.com/rampart-iot/rampart/sdk/c/HardwareDefinitions"
)

func rdb(t *testing.T) *Definition {
	t.Helper()
	p := writeDef(t, t.TempDir(), "sample_appliance.json", sampleDef)
	d, err := (&Loader{Builtin: hardwaredefinitions.FS}).Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const azManifestJSON = `{"SchemaVersion": 1, "Name": "GPIO_HighLevelApp",
 "ComponentId": "dc7f135c-6074-4d49-aa3a-160e4eed884f", "EntryPoint": "/bin/app", "CmdArgs": [],
 "Capabilities": {"Gpio": ["$SAMPLE_BUTTON_1", "$SAMPLE_LED", 30], "MutableStorage": {"SizeKB": 8},
  "DeviceAuthentication": "00000000-0000-0000-0000-000000000000", "SystemEventNotifications": true,
  "Uart": []},
 "ApplicationType": "Default", "MallocVersion": 2}`

func TestAzureSphereManifestConverted(t *testing.T) {
	m, err := ConvertManifest([]byte(azManifestJSON), rdb(t))
	if err != nil {
		t.Fatal(err)
	}
	c := m.Capabilities
	if !slices.Equal(c.Gpio, []int{12, 8, 30}) || c.MutableStorage == nil || c.MutableStorage.SizeKB != 8 ||
		!c.DeviceAuthentication || !c.SystemEventNotifications || m.EntryPoint != EntryPoint || m.Name != "GPIO_HighLevelApp" {
		t.Fatalf("converted: %+v", m)
	}
}

func TestManifestNameWithoutDefinitionRefused(t *testing.T) {
	_, err := ConvertManifest([]byte(azManifestJSON), nil)
	if err == nil || !strings.Contains(err.Error(), "--hardware-definition") {
		t.Fatalf("got %v", err)
	}
}

func TestManifestUnsupportedCapabilityRefused(t *testing.T) {
	for name, caps := range map[string]string{
		"uart":       `"Uart": ["$SAMPLE_UART"]`,
		"unknown":    `"Teleport": true`,
		"uart-as-io": `"Gpio": ["$SAMPLE_UART"]`,
		"undefined":  `"Gpio": ["$NO_SUCH_LED"]`,
	} {
		b := `{"SchemaVersion": 1, "Name": "x", "ComponentId": "dc7f135c-6074-4d49-aa3a-160e4eed884f", "EntryPoint": "/bin/app", "Capabilities": {` + caps + `}}`
		if _, err := ConvertManifest([]byte(b), rdb(t)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestManifestRealTimeAppAndArgsRefused(t *testing.T) {
	for _, extra := range []string{`"ApplicationType": "RealTimeCapable"`, `"CmdArgs": ["--x"]`, `"Bogus": 1`} {
		b := `{"SchemaVersion": 1, "Name": "x", "ComponentId": "dc7f135c-6074-4d49-aa3a-160e4eed884f", "EntryPoint": "/bin/app", "Capabilities": {}, ` + extra + `}`
		if _, err := ConvertManifest([]byte(b), nil); !errors.Is(err, manifest.ErrInvalid) {
			t.Errorf("%s: %v", extra, err)
		}
	}
}
