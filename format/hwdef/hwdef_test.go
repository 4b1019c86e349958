package hwdef

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hardwaredefinitions "github.com/rampart-iot/rampart/sdk/c/HardwareDefinitions"
)

const sdkDefs = "../../sdk/c/HardwareDefinitions"

func writeDef(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const sampleDef = `{"Metadata": {"Type": "Azure Sphere Hardware Definition", "Version": 1},
 "Description": {"Name": "sample", "MainCoreHeaderFileTopContent": ["/* top */"]},
 "Imports": [{"Path": "mt3620_rdb.json"}],
 "Peripherals": [
  {"Name": "SAMPLE_LED", "Type": "Gpio", "Mapping": "MT3620_RDB_LED1_RED", "Comment": "LED \\"},
  {"Name": "SAMPLE_BUTTON_1", "Type": "Gpio", "Mapping": "MT3620_RDB_BUTTON_A"},
  {"Name": "SAMPLE_UART", "Type": "Uart", "Mapping": "MT3620_RDB_HEADER2_ISU0_UART"}]}`

func TestImportOfRDBResolvesToPins(t *testing.T) {
	dir := t.TempDir()
	p := writeDef(t, dir, "sample_appliance.json", sampleDef)
	d, err := (&Loader{Builtin: hardwaredefinitions.FS}).Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"SAMPLE_LED": 8, "SAMPLE_BUTTON_1": 12, "MT3620_GPIO45": 45} {
		v, err := d.Resolve(name)
		if err != nil || !v.IsNumber || v.Number != want {
			t.Errorf("Resolve(%s) = %+v, %v; want %d", name, v, err, want)
		}
	}
	if v, err := d.Resolve("SAMPLE_UART"); err != nil || v.IsNumber || v.String != "ISU0" || v.Type != "Uart" {
		t.Errorf("Resolve(SAMPLE_UART) = %+v, %v", v, err)
	}
	if _, err := d.Resolve("NO_SUCH"); err == nil {
		t.Error("an undefined name resolved")
	}
	h := string(d.Header())
	for _, want := range []string{"/* top */\n", "#include \"mt3620_rdb.h\"\n", "// LED /\n#define SAMPLE_LED MT3620_RDB_LED1_RED\n"} {
		if !strings.Contains(h, want) {
			t.Errorf("header lacks %q:\n%s", want, h)
		}
	}
}

func TestImportCycleRefused(t *testing.T) {
	dir := t.TempDir()
	def := func(imp string) string {
		return `{"Metadata": {"Type": "Azure Sphere Hardware Definition", "Version": 1}, "Imports": [{"Path": "` + imp + `"}], "Peripherals": []}`
	}
	writeDef(t, dir, "a.json", def("b.json"))
	p := writeDef(t, dir, "b.json", def("a.json"))
	if _, err := (&Loader{}).Load(p); err == nil || !strings.Contains(err.Error(), "imports itself") {
		t.Fatalf("cycle: %v", err)
	}
}

func TestImportOutsideTheFoldersRefused(t *testing.T) {
	dir := t.TempDir()
	for _, imp := range []string{"../x.json", "/etc/x.json", "a/../../x.json", "x.txt"} {
		p := writeDef(t, dir, "d.json", `{"Metadata": {"Type": "Azure Sphere Hardware Definition", "Version": 1}, "Imports": [{"Path": "`+imp+`"}]}`)
		if _, err := (&Loader{}).Load(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("import %s: %v", imp, err)
		}
	}
}

func TestBadDefinitionsRefused(t *testing.T) {
	for name, body := range map[string]string{
		"type":      `{"Metadata": {"Type": "Something", "Version": 1}}`,
		"ident":     `{"Metadata": {"Type": "Azure Sphere Hardware Definition"}, "Peripherals": [{"Name": "A B", "AppManifestValue": 1}]}`,
		"twice":     `{"Metadata": {"Type": "Azure Sphere Hardware Definition"}, "Peripherals": [{"Name": "A", "AppManifestValue": 1}, {"Name": "A", "AppManifestValue": 2}]}`,
		"both":      `{"Metadata": {"Type": "Azure Sphere Hardware Definition"}, "Peripherals": [{"Name": "A", "Mapping": "B", "AppManifestValue": 1}]}`,
		"negative":  `{"Metadata": {"Type": "Azure Sphere Hardware Definition"}, "Peripherals": [{"Name": "A", "AppManifestValue": -1}]}`,
		"trailing":  `{"Metadata": {"Type": "Azure Sphere Hardware Definition"}} {}`,
		"injection": `{"Metadata": {"Type": "Azure Sphere Hardware Definition"}, "Peripherals": [{"Name": "A", "Mapping": "B\n#include <x>"}]}`,
	} {
		p := writeDef(t, t.TempDir(), "d.json", body)
		if _, err := (&Loader{}).Load(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSDKHeadersUpToDate keeps sdk/c/HardwareDefinitions/inc/hw/*.h what Header writes; run
// with RAMPART_UPDATE_HW_HEADERS=1 to rewrite them.
func TestSDKHeadersUpToDate(t *testing.T) {
	for _, name := range []string{"mt3620.json", "mt3620_rdb.json"} {
		d, err := (&Loader{}).Load(filepath.Join(sdkDefs, name))
		if err != nil {
			t.Fatal(err)
		}
		hp := filepath.Join(sdkDefs, "inc", "hw", d.Name()+".h")
		if os.Getenv("RAMPART_UPDATE_HW_HEADERS") != "" {
			if err := os.WriteFile(hp, d.Header(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(hp)
		if err != nil || !bytes.Equal(got, d.Header()) {
			t.Errorf("%s is not what %s generates (%v): run RAMPART_UPDATE_HW_HEADERS=1 go test ./format/hwdef", hp, name, err)
		}
	}
}
