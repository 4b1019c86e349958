package cli

import (
	"os"
	"slices"
	"strings"
	"testing"
)

const azManifest = `{"SchemaVersion": 1, "Name": "GPIO_HighLevelApp",
 "ComponentId": "dc7f135c-6074-4d49-aa3a-160e4eed884f", "EntryPoint": "/bin/app", "CmdArgs": [],
 "Capabilities": {"Gpio": ["$SAMPLE_BUTTON_1", "$SAMPLE_LED"]}, "ApplicationType": "Default", "MallocVersion": 2}`

const azDefinition = `{"Metadata": {"Type": "Azure Sphere Hardware Definition", "Version": 1},
 "Imports": [{"Path": "mt3620_rdb.json"}],
 "Peripherals": [{"Name": "SAMPLE_BUTTON_1", "Type": "Gpio", "Mapping": "MT3620_RDB_BUTTON_A"},
  {"Name": "SAMPLE_LED", "Type": "Gpio", "Mapping": "MT3620_RDB_LED1_RED"}]}`

// TestPackAzureSphereManifestHoldsNumbers: an Azure Sphere manifest packed with a hardware
// definition that imports Rampart's mt3620_rdb.json is signed with its $NAMEs resolved to pins.
func TestPackAzureSphereManifestHoldsNumbers(t *testing.T) {
	packHome(t)
	os.WriteFile("az_manifest.json", []byte(azManifest), 0o644)
	os.WriteFile("sample_appliance.json", []byte(azDefinition), 0o644)
	_, stderr, code := rampart("image", "pack", "--manifest", "az_manifest.json", "--hardware-definition", "sample_appliance.json",
		"--payload", "blinky.wasm", "--output", "gpio.rmpkg")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	h, _ := readPackage(t, "gpio.rmpkg")
	if app := h.Manifest.App; app == nil || !slices.Equal(app.Capabilities.Gpio, []int{12, 8}) || app.EntryPoint != "app.wasm" {
		t.Fatalf("app manifest %+v", h.Manifest.App)
	}
}

func TestPackAzureSphereManifestRefusals(t *testing.T) {
	packHome(t)
	os.WriteFile("az_manifest.json", []byte(azManifest), 0o644)
	os.WriteFile("uart_manifest.json", []byte(strings.Replace(azManifest, `"Gpio"`, `"Uart": ["$X"], "Gpio"`, 1)), 0o644)
	os.WriteFile("sample_appliance.json", []byte(azDefinition), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--manifest", "az_manifest.json"}, "invalid app manifest"},
		{[]string{"--manifest", "az_manifest.json", "--azure-sphere"}, "$SAMPLE_BUTTON_1 needs a hardware definition: give --hardware-definition"},
		{[]string{"--manifest", "uart_manifest.json", "--hardware-definition", "sample_appliance.json"}, "Capabilities.Uart: Rampart apps have no such capability"},
		{[]string{"--manifest", "az_manifest.json", "--hardware-definition", "nosuch.json"}, "read hardware definition"},
		{[]string{"--manifest", "app_manifest.json", "--hardware-definition-dir", "."}, "--hardware-definition-dir needs --hardware-definition"},
	} {
		args := append([]string{"image", "pack", "--payload", "blinky.wasm", "--output", "x.rmpkg"}, c.args...)
		_, stderr, code := rampart(args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat("x.rmpkg"); err == nil {
		t.Error("a refused pack wrote a package")
	}
}
