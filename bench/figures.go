package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/internal/sim"
)

// cryptoLoop measures, on every core, the crypto of one attestation on the service's side: the
// evidence parsed and its two signatures verified (Alias certificate, token), and a device
// certificate signed by a P-256 CA.
func cryptoLoop(d time.Duration) (float64, error) {
	uds := make([]byte, rot.UDSSize)
	rand.Read(uds)
	dk, err := rot.DeviceIDKey(uds)
	if err != nil {
		return 0, err
	}
	in := rot.Inputs{Code: sha512.Sum512([]byte("runtime")), Mode: rot.ModeNormal}
	l, err := rot.DeriveLayer(uds, in)
	if err != nil {
		return 0, err
	}
	aliasCert, err := rot.AliasCertificate(dk, l.AliasKey, in.Measurements())
	if err != nil {
		return 0, err
	}
	spki, _ := x509.MarshalPKIXPublicKey(&dk.PublicKey)
	nonce := make([]byte, 32)
	token, err := evidence.Sign(evidence.Claims{Nonce: nonce, DeviceKey: spki, IssuedAt: time.Now(), Measurements: in.Measurements()}, l.AliasKey, aliasCert)
	if err != nil {
		return 0, err
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, PublicKey: &caKey.PublicKey,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	r, _, _, errs := load(d, runtime.GOMAXPROCS(0), func() error {
		ev, err := evidence.Parse(token)
		if err != nil {
			return err
		}
		if err := ev.Verify(); err != nil {
			return err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "device"},
			NotBefore: time.Now(), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		_, err = x509.CreateCertificate(rand.Reader, tmpl, ca, ev.SigningKey(), caKey)
		return err
	})
	if r == 0 {
		return 0, fmt.Errorf("the crypto loop failed %d times", errs)
	}
	return r, nil
}

// deviceRSS is not measured by this harness yet: see BENCHMARKS.md.
func deviceRSS() (row, error) { return row{}, errors.New("not measured") }

// fleetFigures starts a service on o.db (or SQLite), claims and attests o.fleet devices, and
// measures check-in p99 with the fleet in the store, and the store's size.
func fleetFigures(ctx context.Context, o options, bin, work string) ([]row, error) {
	logf("fleet of %d devices", o.fleet)
	srv, err := startService(ctx, bin, filepath.Join(work, fmt.Sprintf("fleet-%d", o.fleet)), o.db)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	cfg := srv.simConfig(o.fleet, 32, "claim", 0)
	cfg.Seed = sim.Seed(fmt.Sprintf("fleet-%d", o.fleet))
	start := time.Now()
	if _, err := sim.Run(ctx, cfg); err != nil {
		return nil, err
	}
	claimTime := time.Since(start)
	// Check-ins of 256 of the devices, with the whole fleet in the store.
	cfg.Devices, cfg.Scenario, cfg.Duration = 256, "checkin", 0
	if _, err := sim.Run(ctx, cfg); err != nil {
		return nil, err
	}
	cfg.Duration = o.duration
	sum, err := sim.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r, err := simRow(sum, sim.OpCheckin)
	if err != nil {
		return nil, err
	}
	store := "SQLite"
	size := "—"
	if o.db != "" {
		store = "PostgreSQL"
		if n, err := pgSize(ctx, o.db); err == nil {
			size = fmt.Sprintf("%.1f MB (%.1f kB a device)", float64(n)/1e6, float64(n)/1e3/float64(o.fleet))
		}
	}
	return []row{
		{path: fmt.Sprintf("check-in with %d devices in the store (%s), c=32", o.fleet, store),
			rampart: fmt.Sprintf("%s/s, p50 %s, p99 %s", rate(r.PerSecond), msf(r.P50Ms), msf(r.P99Ms))},
		{path: fmt.Sprintf("%d devices claimed and grouped", o.fleet), rampart: fmt.Sprintf("in %s; store %s", claimTime.Round(time.Second), size)},
	}, nil
}

func pgSize(ctx context.Context, url string) (int64, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int64
	err = c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	return n, err
}
