package sdk_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/sdk"
)

// TestOutsideTheHost checks that, built for anything but wasip1, every call fails with
// ErrNoHost rather than pretending.
func TestOutsideTheHost(t *testing.T) {
	_, errDial := sdk.Dial("example.com", 80)
	_, errTLS := sdk.DialTLS("example.com", 443, true)
	_, errRead := sdk.Storage.Read("x")
	_, errList := sdk.Storage.List()
	_, errGet := sdk.GPIO.Get(1)
	_, _, errNext := sdk.Events.Next()
	for name, err := range map[string]error{
		"Log":         sdk.Log(sdk.LevelInfo, "x"),
		"Dial":        errDial,
		"DialTLS":     errTLS,
		"Write":       sdk.Storage.Write("x", nil),
		"Read":        errRead,
		"Delete":      sdk.Storage.Delete("x"),
		"List":        errList,
		"Set":         sdk.GPIO.Set(1, true),
		"Get":         errGet,
		"Next":        errNext,
		"DeferUpdate": sdk.DeferUpdate(sdk.UpdateRuntime, time.Hour),
	} {
		if !errors.Is(err, sdk.ErrNoHost) {
			t.Errorf("%s: %v, want ErrNoHost", name, err)
		}
	}
}

func TestArgumentsCheckedBeforeTheHost(t *testing.T) {
	_, err := sdk.Dial("example.com", 0)
	if err != sdk.ErrInvalid {
		t.Errorf("port 0: %v", err)
	}
	if err := sdk.DeferUpdate("firmware", time.Hour); err != sdk.ErrInvalid {
		t.Errorf("unknown kind: %v", err)
	}
	if err := sdk.DeferUpdate(sdk.UpdateApplication, 200*time.Hour); err != sdk.ErrInvalid {
		t.Errorf("200 h: %v", err)
	}
	if !sdk.ErrTimeout.Timeout() || sdk.ErrIO.Timeout() {
		t.Error("Timeout")
	}
}
