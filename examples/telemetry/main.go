//go:build wasip1

package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rampart-iot/rampart/sdk"
	"github.com/rampart-iot/rampart/sdk/mqtt"
)

// config is config.json in the app's storage; every field has a default.
type config struct {
	Broker          string `json:"broker"`
	Port            int    `json:"port"`
	Topic           string `json:"topic"`
	IntervalSeconds int    `json:"interval_seconds"`
}

func loadConfig() config {
	c := config{Broker: "mqtt.example.com", Port: 8883, Topic: "rampart/telemetry", IntervalSeconds: 60}
	b, err := sdk.Storage.Read("config.json")
	switch {
	case errors.Is(err, sdk.ErrNotFound):
	case err != nil:
		sdk.Log(sdk.LevelWarn, "telemetry: config.json: "+err.Error()+"; using defaults")
	default:
		if err := json.Unmarshal(b, &c); err != nil {
			sdk.Log(sdk.LevelWarn, "telemetry: config.json: "+err.Error()+"; using defaults")
		}
	}
	c.IntervalSeconds = max(c.IntervalSeconds, 1)
	return c
}

// reading is one published message: a simulated temperature sensor.
type reading struct {
	Seq          int       `json:"seq"`
	Time         time.Time `json:"time"`
	TemperatureC float64   `json:"temperature_c"`
}

func main() {
	cfg := loadConfig()
	id := make([]byte, 6)
	rand.Read(id)
	clientID := "rampart-telemetry-" + hex.EncodeToString(id)
	interval := time.Duration(cfg.IntervalSeconds) * time.Second
	sdk.Logf("telemetry: publishing to %s:%d topic %s every %s as %s", cfg.Broker, cfg.Port, cfg.Topic, interval, clientID)

	seq, wait := 0, time.Second
	for {
		err := session(cfg, clientID, interval, &seq)
		sdk.Log(sdk.LevelWarn, "telemetry: "+err.Error()+fmt.Sprintf("; reconnecting in %s", wait))
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Minute)
	}
}

// session connects and publishes until something fails.
func session(cfg config, clientID string, interval time.Duration, seq *int) error {
	conn, err := sdk.DialTLS(cfg.Broker, cfg.Port, true)
	if err != nil {
		return fmt.Errorf("connect to %s:%d: %w", cfg.Broker, cfg.Port, err)
	}
	defer conn.Close()
	conn.SetReadTimeout(30 * time.Second)
	c, err := mqtt.Connect(conn, mqtt.Options{ClientID: clientID, KeepAlive: 2 * interval})
	if err != nil {
		return err
	}
	sdk.Logf("telemetry: connected")
	for {
		*seq++
		r := reading{Seq: *seq, Time: time.Now().UTC(), TemperatureC: 21 + 3*math.Sin(float64(*seq)/10)}
		b, _ := json.Marshal(r)
		if err := c.Publish(cfg.Topic, b, 1, false); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		sdk.Logf("telemetry: published %s", b)
		time.Sleep(interval)
	}
}
