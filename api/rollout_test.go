package api_test

import (
	"fmt"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// TestRolloutBinsSpreadEvenly: of 10,000 devices, every bin holds close to its hundredth, and
// another deployment puts a device elsewhere.
func TestRolloutBinsSpreadEvenly(t *testing.T) {
	dep := ident.DeploymentID("3b281487-76e6-4106-b386-a20f6cc0455d")
	other := ident.DeploymentID("7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f")
	counts := make([]int, api.RolloutBins)
	moved := 0
	for i := range 10000 {
		dev := ident.DeviceIDFromPublicKey(fmt.Appendf(nil, "device %d", i))
		b := api.RolloutBin(dep, dev)
		counts[b]++
		if api.RolloutBin(other, dev) != b {
			moved++
		}
	}
	for b, n := range counts {
		if n < 50 || n > 150 {
			t.Errorf("bin %d holds %d of 10000 devices", b, n)
		}
	}
	if moved < 9800 {
		t.Errorf("another deployment moved only %d of 10000 devices to another bin", moved)
	}
}

// FuzzParseBinRole: a name parses as a bin role only if it is exactly the role's name.
func FuzzParseBinRole(f *testing.F) {
	for _, s := range []string{"bin-00", "bin-99", "bin-7", "bin-100", "bin-0a", "BIN-01", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		b, ok := api.ParseBinRole(name)
		if ok && (b < 0 || b >= api.RolloutBins || api.BinRole(b) != name) {
			t.Errorf("ParseBinRole(%q) = %d", name, b)
		}
	})
}
