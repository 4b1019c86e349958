package pki

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/netlimit"
	"github.com/rampart-iot/rampart/server/store"
)

// Lifetimes of tenant CAs and device certificates.
const (
	CALifetime     = 2 * 365 * 24 * time.Hour
	DeviceCertLife = 24 * time.Hour
	// caCacheTTL bounds how long a replica trusts its cached view of a tenant's CAs. A rotation
	// keeps the old CA trusted, so a stale view only delays the new CA's first use here.
	caCacheTTL = 30 * time.Second
)

// DeviceURI is the URI SAN of a device certificate: it names the tenant and the device, so a
// relying party can authorise on it.
func DeviceURI(tenantID ident.TenantID, device ident.DeviceID) string {
	return "urn:rampart:tenant:" + string(tenantID) + ":device:" + string(device)
}

// ParseDeviceURI reverses [DeviceURI].
func ParseDeviceURI(u *url.URL) (tenantID ident.TenantID, device ident.DeviceID, err error) {
	rest, ok := strings.CutPrefix(u.String(), "urn:rampart:tenant:")
	t, d, ok2 := strings.Cut(rest, ":device:")
	if !ok || !ok2 || !ident.IsID(t) {
		return "", "", fmt.Errorf("not a Rampart device URI: %q", u.String())
	}
	if device, err = ident.ParseDeviceID(d); err != nil {
		return "", "", err
	}
	return ident.TenantID(t), device, nil
}

// Authority holds every tenant's device CAs: it makes a tenant's first CA on first use, rotates,
// issues device certificates and verifies them. It is safe for concurrent use, and several
// replicas may share one store.
type Authority struct {
	st  *store.Store
	kek *KEK
	now func() time.Time

	mu        sync.Mutex
	cache     map[ident.TenantID]*caSet
	publicURL string // the service's address, for CRL distribution points

	// lookups bounds the store reads that certificates can cause before they verify (see
	// [Authority.VerifyDevice]); known is the set of tenants with a CA as last read.
	lookups *netlimit.Limiter
	knownMu sync.Mutex
	known   map[ident.TenantID]bool
	reads   atomic.Int64 // store reads made to verify certificates, for tests
}

// How many store reads certificates that have not verified may cause, per second and in a
// burst, in this replica, whatever they name and however many arrive.
const (
	lookupRate  = 5
	lookupBurst = 20
)

type caSet struct {
	loaded  time.Time
	records []store.CARecord
	certs   []*x509.Certificate // parallel to records
	pool    *x509.CertPool      // every CA still valid
}

// NewAuthority returns an Authority over st whose CA keys are sealed with kek.
func NewAuthority(st *store.Store, kek *KEK, now func() time.Time) *Authority {
	if now == nil {
		now = time.Now
	}
	return &Authority{st: st, kek: kek, now: now, cache: map[ident.TenantID]*caSet{},
		lookups: netlimit.NewLimiter(lookupRate, lookupBurst)}
}

// DeriveKey returns a key for purpose derived from the key-encryption key (see [KEK.Derive]).
func (a *Authority) DeriveKey(purpose string) []byte { return a.kek.Derive(purpose) }

func sealPurpose(tenantID ident.TenantID, caID string) string {
	return "tenant-ca:" + string(tenantID) + ":" + caID
}

// newCA makes a CA record for a tenant, its key sealed.
func (a *Authority) newCA(tenantID ident.TenantID, tenantName string) (store.CARecord, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return store.CARecord{}, err
	}
	now := a.now().UTC().Truncate(time.Second)
	spki, _ := x509.MarshalPKIXPublicKey(key.Public())
	skid := sha256.Sum256(spki)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Rampart device CA " + tenantName + " " + now.Format("2006-01-02"), Organization: []string{tenantName}, OrganizationalUnit: []string{string(tenantID)}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid[:20],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return store.CARecord{}, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return store.CARecord{}, err
	}
	fp := sha256.Sum256(der)
	id := ident.NewID()
	return store.CARecord{
		CA: api.CA{ID: id, TenantID: tenantID, Subject: tmpl.Subject.CommonName, Fingerprint: hex.EncodeToString(fp[:]),
			NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, Active: true},
		CertDER:   der,
		SealedKey: a.kek.Seal(sealPurpose(tenantID, id), pkcs8),
	}, nil
}

// set returns the tenant's CAs, making the first one if the tenant has none.
func (a *Authority) set(ctx context.Context, tenantID ident.TenantID, fresh bool) (*caSet, error) {
	a.mu.Lock()
	cs := a.cache[tenantID]
	a.mu.Unlock()
	if cs != nil && !fresh && a.now().Sub(cs.loaded) < caCacheTTL {
		return cs, nil
	}
	var records []store.CARecord
	err := a.st.View(ctx, func(tx *store.Tx) error {
		var err error
		records, err = tx.CAs(tenantID)
		return err
	})
	if err == nil && a.needNewCA(records) {
		err = a.st.Update(ctx, func(tx *store.Tx) error {
			// Checked again under the tenant's lock: another request or replica may have made it.
			if err := tx.LockTenant(tenantID); err != nil {
				return err
			}
			if records, err = tx.CAs(tenantID); err != nil || !a.needNewCA(records) {
				return err
			}
			t, err := tx.Tenant(tenantID)
			if err != nil {
				return err
			}
			r, err := a.newCA(tenantID, t.Name)
			if err != nil {
				return err
			}
			if err := tx.AddCA(r); err != nil {
				return err
			}
			action := "ca.create"
			if len(records) > 0 {
				action = "ca.rotate" // the active CA was about to expire
			}
			records = append([]store.CARecord{r}, records...)
			for i := range records[1:] {
				records[i+1].Active = false
			}
			_, err = tx.AppendAudit(api.AuditEntry{TenantID: tenantID, Time: a.now().UTC(), Actor: "rampart server",
				Action: action, Target: "ca/" + r.ID, Source: "local", Detail: r.Fingerprint})
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	return a.cacheSet(tenantID, records)
}

// cacheSet parses a tenant's CA records and caches them.
func (a *Authority) cacheSet(tenantID ident.TenantID, records []store.CARecord) (*caSet, error) {
	cs := &caSet{loaded: a.now(), records: records, pool: x509.NewCertPool()}
	for _, r := range records {
		c, err := x509.ParseCertificate(r.CertDER)
		if err != nil {
			return nil, fmt.Errorf("tenant CA %s: %w", r.ID, err)
		}
		cs.certs = append(cs.certs, c)
		if a.now().Before(c.NotAfter) {
			cs.pool.AddCert(c)
		}
	}
	a.mu.Lock()
	a.cache[tenantID] = cs
	a.mu.Unlock()
	if len(records) > 0 {
		a.knownMu.Lock()
		if a.known != nil {
			a.known[tenantID] = true
		}
		a.knownMu.Unlock()
	}
	return cs, nil
}

// RenewBefore is how long before its active CA expires a tenant gets a new one, so that device
// certificates (which never outlive their CA) keep their full 24 hours and relying parties have
// time to take the new CA into their bundles.
const RenewBefore = 30 * 24 * time.Hour

// needNewCA reports whether a tenant with these CAs needs a new active one: it has none, or its
// active CA expires within RenewBefore.
func (a *Authority) needNewCA(records []store.CARecord) bool {
	for _, r := range records {
		if r.Active {
			return r.NotAfter.Sub(a.now()) < RenewBefore
		}
	}
	return true
}

// CAs lists a tenant's CAs, newest first, making the first one if there is none.
func (a *Authority) CAs(ctx context.Context, tenantID ident.TenantID) ([]api.CA, error) {
	cs, err := a.set(ctx, tenantID, true)
	if err != nil {
		return nil, err
	}
	out := make([]api.CA, len(cs.records))
	for i, r := range cs.records {
		out[i] = r.CA
	}
	return out, nil
}

// Bundle returns the PEM of every CA of the tenant still trusted (not expired), newest first:
// what a relying party such as an MQTT broker should trust for the tenant's devices.
func (a *Authority) Bundle(ctx context.Context, tenantID ident.TenantID) ([]byte, error) {
	cs, err := a.set(ctx, tenantID, true)
	if err != nil {
		return nil, err
	}
	var b []byte
	for _, c := range cs.certs {
		if a.now().Before(c.NotAfter) {
			b = append(b, pemBlock("CERTIFICATE", c.Raw)...)
		}
	}
	return b, nil
}

// Rotate makes a new active CA for the tenant inside tx; the old ones stay trusted until they
// expire. Call Forget after tx commits.
func (a *Authority) Rotate(ctx context.Context, tx *store.Tx, tenantID ident.TenantID) (api.CA, error) {
	if err := tx.LockTenant(tenantID); err != nil {
		return api.CA{}, err
	}
	t, err := tx.Tenant(tenantID)
	if err != nil {
		return api.CA{}, err
	}
	r, err := a.newCA(tenantID, t.Name)
	if err != nil {
		return api.CA{}, err
	}
	if err := tx.AddCA(r); err != nil {
		return api.CA{}, err
	}
	return r.CA, nil
}

// Forget drops this replica's cached view of a tenant's CAs, after a rotation committed. Other
// replicas pick the change up within caCacheTTL, or at once when they meet a certificate of
// the new CA.
func (a *Authority) Forget(tenantID ident.TenantID) {
	a.mu.Lock()
	delete(a.cache, tenantID)
	a.mu.Unlock()
}

// active returns the tenant's active CA certificate, its ID and its key.
func (a *Authority) active(ctx context.Context, tenantID ident.TenantID) (*x509.Certificate, string, crypto.Signer, error) {
	cs, err := a.set(ctx, tenantID, false)
	if err != nil {
		return nil, "", nil, err
	}
	for i, r := range cs.records {
		if !r.Active {
			continue
		}
		key, err := a.openKey(r)
		if err != nil {
			return nil, "", nil, err
		}
		return cs.certs[i], r.ID, key, nil
	}
	return nil, "", nil, errors.New("tenant has no active CA")
}

// IssueDevice signs a 24-hour client certificate for a device's public key ([Authority.SignDevice])
// and records it for the CRLs in a transaction of its own. It returns the certificate and the
// PEM of the CA chain.
func (a *Authority) IssueDevice(ctx context.Context, tenantID ident.TenantID, device ident.DeviceID, pub crypto.PublicKey) (*x509.Certificate, []byte, error) {
	cert, chain, rec, err := a.SignDevice(ctx, tenantID, device, pub)
	if err != nil {
		return nil, nil, err
	}
	err = a.st.Update(ctx, func(tx *store.Tx) error { return tx.AddDeviceCert(rec, a.now().UTC()) })
	if err != nil {
		return nil, nil, err
	}
	return cert, chain, nil
}

// SignDevice signs a 24-hour client certificate for a device's public key: subject CN the
// device ID, a URI SAN naming tenant and device, clientAuth only, and the CA's CRL as its
// distribution point. It writes nothing: the caller records the certificate for the CRLs
// (store.Tx.AddDeviceCert with the record) in the transaction
// that hands it out, before the device can use it. It returns the certificate, the PEM of the CA
// chain and the record.
func (a *Authority) SignDevice(ctx context.Context, tenantID ident.TenantID, device ident.DeviceID, pub crypto.PublicKey) (*x509.Certificate, []byte, store.DeviceCert, error) {
	ca, caID, key, err := a.active(ctx, tenantID)
	if err != nil {
		return nil, nil, store.DeviceCert{}, err
	}
	now := a.now().UTC().Truncate(time.Second)
	uri, _ := url.Parse(DeviceURI(tenantID, device))
	notAfter := now.Add(DeviceCertLife)
	if ca.NotAfter.Before(notAfter) {
		notAfter = ca.NotAfter // a device certificate never outlives its CA
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: string(device)},
		URIs:         []*url.URL{uri},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},

		CRLDistributionPoints: a.crlDistributionPoint(tenantID, caID),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, key)
	if err != nil {
		return nil, nil, store.DeviceCert{}, fmt.Errorf("sign device certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, store.DeviceCert{}, err
	}
	rec := store.DeviceCert{Serial: cert.SerialNumber.Text(16), TenantID: tenantID, CAID: caID, DeviceID: device,
		NotAfter: cert.NotAfter}
	return cert, pemBlock("CERTIFICATE", ca.Raw), rec, nil
}

// trusted returns the tenant's CAs for verifying, reading them only: verifying a certificate
// never writes, so a certificate naming a tenant without a CA (or no tenant at all) costs no
// write transaction and makes no CA. ErrNotDeviceCert if the tenant has no CA.
func (a *Authority) trusted(ctx context.Context, tenantID ident.TenantID, fresh bool) (*caSet, error) {
	a.mu.Lock()
	cs := a.cache[tenantID]
	a.mu.Unlock()
	switch {
	case cs != nil && !fresh && a.now().Sub(cs.loaded) < caCacheTTL:
		return cs, nil
	case cs != nil && fresh && !a.lookup():
		return cs, nil // no read to spare: the certificate is refused against the cached CAs
	case cs == nil:
		ok, err := a.hasCA(ctx, tenantID)
		if err != nil || !ok {
			return nil, cmp.Or(err, ErrNotDeviceCert)
		}
	}
	var records []store.CARecord
	a.reads.Add(1)
	err := a.st.View(ctx, func(tx *store.Tx) error {
		var err error
		records, err = tx.CAs(tenantID)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && len(records) == 0:
		return nil, ErrNotDeviceCert
	case err != nil:
		return nil, err
	}
	return a.cacheSet(tenantID, records)
}

// lookup reports whether a certificate that has not verified yet may cost a store read now.
func (a *Authority) lookup() bool {
	ok, _ := a.lookups.Allow("", time.Now())
	return ok
}

// hasCA reports whether the tenant has a CA, from the set of tenants with one. A tenant not in
// the set makes it read again, within the lookup budget: a certificate naming a tenant that does
// not exist, or has no CA, costs no store read past that budget.
func (a *Authority) hasCA(ctx context.Context, tenantID ident.TenantID) (bool, error) {
	a.knownMu.Lock()
	defer a.knownMu.Unlock()
	if a.known[tenantID] {
		return true, nil
	}
	if !a.lookup() {
		return false, nil
	}
	a.reads.Add(1)
	var ids []ident.TenantID
	err := a.st.View(ctx, func(tx *store.Tx) error {
		var err error
		ids, err = tx.TenantsWithCA()
		return err
	})
	if err != nil {
		return false, err
	}
	a.known = make(map[ident.TenantID]bool, len(ids))
	for _, id := range ids {
		a.known[id] = true
	}
	return a.known[tenantID], nil
}

// ErrNotDeviceCert is returned by VerifyDevice for a certificate that is not a valid device
// certificate of any tenant.
var ErrNotDeviceCert = errors.New("not a valid device certificate")

// VerifyDevice checks that chain[0] is a current device certificate issued by a trusted CA of
// the tenant it names, and returns that tenant and device.
func (a *Authority) VerifyDevice(ctx context.Context, chain []*x509.Certificate) (ident.TenantID, ident.DeviceID, error) {
	if len(chain) == 0 || len(chain[0].URIs) != 1 {
		return "", "", ErrNotDeviceCert
	}
	leaf := chain[0]
	tenantID, device, err := ParseDeviceURI(leaf.URIs[0])
	if err != nil || leaf.Subject.CommonName != string(device) {
		return "", "", ErrNotDeviceCert
	}
	verify := func(cs *caSet) error {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: cs.pool, CurrentTime: a.now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err
	}
	cs, err := a.trusted(ctx, tenantID, false)
	if err != nil {
		return "", "", err
	}
	if err := verify(cs); err != nil {
		// Another replica may have rotated the CA since this one cached it.
		if cs, err = a.trusted(ctx, tenantID, true); err != nil {
			return "", "", err
		}
		if verify(cs) != nil {
			return "", "", ErrNotDeviceCert
		}
	}
	return tenantID, device, nil
}
