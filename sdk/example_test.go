package sdk_test

import (
	"errors"
	"io"
	"time"

	"github.com/rampart-iot/rampart/sdk"
)

func ExampleLogf() {
	sdk.Logf("started, version %s", "1.2.0")
}

func ExampleDial() {
	// The manifest must allow "example.com:80" (or "example.com").
	c, err := sdk.Dial("example.com", 80)
	if err != nil {
		sdk.Logf("dial: %v", err) // sdk.ErrDenied if the manifest does not allow it
		return
	}
	defer c.Close()
	c.SetReadTimeout(10 * time.Second)
	io.WriteString(c, "GET / HTTP/1.0\r\nHost: example.com\r\n\r\n")
	b, _ := io.ReadAll(c)
	sdk.Logf("got %d bytes", len(b))
}

func ExampleDialTLS() {
	// Mutual TLS with the device certificate: needs DeviceAuthentication, and the manifest must
	// allow the broker. The host does the handshake; the app never sees the key.
	c, err := sdk.DialTLS("mqtt.example.com", 8883, true)
	if errors.Is(err, sdk.ErrUnavailable) {
		sdk.Logf("no device certificate yet: try again later")
		return
	}
	if err != nil {
		sdk.Logf("dial: %v", err)
		return
	}
	defer c.Close()
}

func ExampleStore() {
	// Needs MutableStorage; the write fails with sdk.ErrQuota past its SizeKB.
	if err := sdk.Storage.Write("config.json", []byte(`{"interval_seconds": 60}`)); err != nil {
		sdk.Logf("save: %v", err)
	}
	b, err := sdk.Storage.Read("config.json")
	if errors.Is(err, sdk.ErrNotFound) {
		b = []byte("{}")
	}
	names, _ := sdk.Storage.List()
	sdk.Logf("config %s; files %v", b, names)
}

func ExamplePins() {
	// Needs the pin in the manifest's Gpio.
	for on := true; ; on = !on {
		if err := sdk.GPIO.Set(9, on); err != nil {
			sdk.Logf("set pin 9: %v", err)
			return
		}
		time.Sleep(time.Second)
	}
}

func ExampleEventQueue() {
	// Needs SystemEventNotifications; deferring needs SoftwareUpdateDeferral.
	e, ok, err := sdk.Events.Next()
	if err != nil || !ok {
		return
	}
	if e.Type == sdk.EventUpdatePending && e.Kind == sdk.UpdateApplication {
		// Busy: ask for an hour more.
		sdk.DeferUpdate(sdk.UpdateApplication, time.Hour)
	}
}
