package apphost_test

import (
	"testing"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/sdk"
)

// TestSDKAgreesOnTheABI keeps the SDK's copy of the error codes and limits the same as the
// host's.
func TestSDKAgreesOnTheABI(t *testing.T) {
	codes := []struct {
		host int
		sdk  sdk.Error
	}{
		{apphost.ErrDenied, sdk.ErrDenied},
		{apphost.ErrInvalid, sdk.ErrInvalid},
		{apphost.ErrQuota, sdk.ErrQuota},
		{apphost.ErrIO, sdk.ErrIO},
		{apphost.ErrTimeout, sdk.ErrTimeout},
		{apphost.ErrNotFound, sdk.ErrNotFound},
		{apphost.ErrTooSmall, sdk.ErrTooSmall},
		{apphost.ErrTLS, sdk.ErrTLS},
		{apphost.ErrLimit, sdk.ErrLimit},
		{apphost.ErrUnavailable, sdk.ErrUnavailable},
	}
	for _, c := range codes {
		if int(c.sdk) != c.host {
			t.Errorf("%v: SDK %d, host %d", c.sdk, c.sdk, c.host)
		}
	}
	if sdk.MaxIO != apphost.MaxIO || sdk.MaxFiles != apphost.MaxFiles || sdk.MaxLogMessage != apphost.MaxLogMessage ||
		sdk.MaxDeferApplication != apphost.MaxDeferApplication || sdk.MaxDeferRuntime != apphost.MaxDeferRuntime {
		t.Error("the SDK's limits differ from the host's")
	}
	if sdk.UpdateApplication != apphost.UpdateApplication || sdk.UpdateRuntime != apphost.UpdateRuntime {
		t.Error("the SDK's update kinds differ from the host's")
	}
}

func TestValidStorageName(t *testing.T) {
	for name, want := range map[string]bool{
		"config.json": true, "a": true, "A-Z_0.9": true, "x..y": true,
		"": false, ".": false, "..": false, ".hidden": false, "../x": false, "a/b": false, "/etc": false,
		`a\b`: false, "a b": false, "é": false, "a\x00": false,
		"0123456789012345678901234567890123456789012345678901234567890123":  true,
		"01234567890123456789012345678901234567890123456789012345678901234": false,
	} {
		if got := apphost.ValidStorageName(name); got != want {
			t.Errorf("ValidStorageName(%q) = %v, want %v", name, got, want)
		}
	}
}
