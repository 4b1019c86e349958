//go:build wasip1

package main

import (
	"time"

	"github.com/rampart-iot/rampart/sdk"
)

// pin is the LED's pin, granted by app_manifest.json's Gpio.
const pin = 9

func main() {
	sdk.Logf("blink: toggling pin %d every second", pin)
	on := false
	for {
		on = !on
		if err := sdk.GPIO.Set(pin, on); err != nil {
			// Not granted, or no such pin: nothing else to do; the host records the exit.
			sdk.Log(sdk.LevelError, "blink: set pin: "+err.Error())
			panic(err)
		}
		state := "off"
		if on {
			state = "on"
		}
		sdk.Logf("blink: pin %d %s", pin, state)
		time.Sleep(time.Second)
	}
}
