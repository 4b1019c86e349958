package sim_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/devserver"
	"github.com/rampart-iot/rampart/internal/sim"
)

// devServer starts a --dev service in a temporary folder and returns the simulator's settings
// for it.
func devServer(t *testing.T) sim.Config {
	t.Helper()
	s := devserver.Start(t)
	return sim.Config{Server: s.URL, Token: s.Token, CAPEM: s.CA, Devices: 4, Concurrency: 2,
		Scenario: "all", Seed: sim.Seed(t.Name()), ImageSize: 4096}
}

func rows(s sim.Summary) map[string]sim.Row {
	m := map[string]sim.Row{}
	for _, r := range s.Operations {
		m[r.Operation] = r
	}
	return m
}

// TestFleetRunsEveryScenarioAndIsReused: a small fleet claims (straight into the group: no
// device is moved after), attests, checks in, reports an event, downloads its image and storms
// the service without an error; a second run with the same seed finds the fleet claimed and
// claims nothing.
func TestFleetRunsEveryScenarioAndIsReused(t *testing.T) {
	cfg := devServer(t)
	sum, err := sim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := rows(sum)
	if r, ok := got[sim.OpAssign]; ok {
		t.Errorf("devices claimed into the group were moved after: %+v", r)
	}
	for _, op := range []string{sim.OpDeriveID, sim.OpClaim, sim.OpAttest, sim.OpCheckin, sim.OpEvents, sim.OpDownload, sim.OpStorm} {
		r, ok := got[op]
		switch {
		case !ok:
			t.Errorf("no %s in the summary: %+v", op, sum.Operations)
		case r.Errors != 0:
			t.Errorf("%s: %d errors: %v", op, r.Errors, r.ErrorsByKind)
		case op == sim.OpClaim && r.Devices != int64(cfg.Devices):
			t.Errorf("claimed %d devices, want %d", r.Devices, cfg.Devices)
		case op != sim.OpClaim && r.OK != int64(cfg.Devices):
			t.Errorf("%s: %d done, want %d", op, r.OK, cfg.Devices)
		}
	}
	if d := got[sim.OpDownload]; d.Bytes < 4096*int64(cfg.Devices) {
		t.Errorf("downloaded %d bytes, want at least %d", d.Bytes, 4096*cfg.Devices)
	}
	if s := got[sim.OpStorm]; s.Connections != int64(cfg.Devices) {
		t.Errorf("storm made %d connections, want one a device (%d)", s.Connections, cfg.Devices)
	}

	cfg.Scenario = "checkin"
	sum, err = sim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got = rows(sum)
	if _, ok := got[sim.OpClaim]; ok {
		t.Errorf("the second run claimed devices again: %+v", got[sim.OpClaim])
	}
	if r := got[sim.OpCheckin]; r.OK != int64(cfg.Devices) || r.Errors != 0 {
		t.Errorf("second run's check-ins: %+v", r)
	}
}

// claimedFleet runs the claim scenario against a dev service of the test's own, and returns its
// configuration (for more runs) and an administrator's client of the service.
func claimedFleet(t *testing.T) (sim.Config, *client.Client) {
	t.Helper()
	cfg := devServer(t)
	cfg.Scenario, cfg.ImageSize = "claim", 0
	if _, err := sim.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(cfg.Server, cfg.Token, cfg.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, admin
}

// TestDeviceInAnotherGroupIsMoved: a device of the fleet taken out of the group between two
// runs is put back in it, and nothing is claimed again.
func TestDeviceInAnotherGroupIsMoved(t *testing.T) {
	cfg, admin := claimedFleet(t)
	id := sim.DeviceOf(cfg.Seed, 1).ID()
	none := ident.GroupID("")
	if _, err := admin.UpdateDevice(context.Background(), id.String(), api.UpdateDeviceRequest{DeviceGroupID: &none}); err != nil {
		t.Fatal(err)
	}
	sum, err := sim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := rows(sum)
	if r, ok := got[sim.OpClaim]; ok {
		t.Errorf("the second run claimed devices again: %+v", r)
	}
	if r := got[sim.OpAssign]; r.OK != 1 || r.Errors != 0 {
		t.Errorf("assign: %+v; want the one device moved", r)
	}
	d, err := admin.Device(context.Background(), id.String())
	if err != nil {
		t.Fatal(err)
	}
	if d.GroupName != sim.GroupName {
		t.Errorf("device %s is in group %q, want %q", id, d.GroupName, sim.GroupName)
	}
}

// TestRevokedDeviceCountedByKind: a device revoked between two runs fails its attestation, and
// the summary counts the failure under its reason.
func TestRevokedDeviceCountedByKind(t *testing.T) {
	cfg, admin := claimedFleet(t)
	if _, err := admin.RevokeDevice(context.Background(), sim.DeviceOf(cfg.Seed, 2).ID().String()); err != nil {
		t.Fatal(err)
	}
	cfg.Scenario = "attest"
	sum, err := sim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rows(sum)[sim.OpAttest]
	if r.OK != 3 || r.Errors != 1 || r.ErrorsByKind["attest:revoked"] != 1 {
		t.Errorf("attest: %d ok, %d errors %v; want 3 ok and one attest:revoked", r.OK, r.Errors, r.ErrorsByKind)
	}
}

func TestIdentityIsDeterministic(t *testing.T) {
	a, b := sim.DeviceOf(sim.Seed("x"), 7), sim.DeviceOf(sim.Seed("x"), 7)
	if a.ID() != b.ID() || a.ClaimCode() != b.ClaimCode() {
		t.Error("the same seed and index gave two identities")
	}
	if sim.DeviceOf(sim.Seed("y"), 7).ID() == a.ID() || sim.DeviceOf(sim.Seed("x"), 8).ID() == a.ID() {
		t.Error("another seed or index gave the same device")
	}
}

func TestErrorKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&sim.AttestFailure{Reason: "unknown_runtime"}, "attest:unknown_runtime"},
		{fmt.Errorf("checkin: %w", &sim.StatusError{Status: 429}), "http_429"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "connection_refused"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "connection_reset"},
		{context.DeadlineExceeded, "timeout"},
		{errors.New("something else"), "other"},
	} {
		if got := sim.ErrorKind(c.err); got != c.want {
			t.Errorf("ErrorKind(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}
