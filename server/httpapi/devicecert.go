package httpapi

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// # Device certificates, verified once
//
// A device presents the same certificate on every request for a day, on connections it keeps
// alive and on the ones it opens again. deviceAuth verifies a certificate's chain once and keeps
// the answer ([certCache]), keyed by the SHA-256 of the certificate's bytes (the TLS handshake has
// proved the client holds its key), until the certificate expires or anything that could
// change the answer happens in this replica: a device revoked or released, a CA rotated. The
// device's state is read from the store on every request, so a revoked or released device is
// refused at once on every replica.
//
// Whether the certificate itself was revoked (by a release, even if the device was claimed
// again since) is looked up with the device's state when the cached answer is older than
// revocationRecheck, and at once after a revocation in this replica: another replica may
// accept a certificate revoked elsewhere for that long.

// revocationRecheck bounds how long a replica trusts that a certificate it checked is not
// revoked, when the revocation happened in another replica.
const revocationRecheck = 5 * time.Second

// maxCachedCerts bounds the certificates a replica keeps verified: a few hundred bytes each.
const maxCachedCerts = 1 << 18

// certCache holds the device certificates verified in this replica. It is safe for concurrent
// use.
type certCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]certEntry
	epoch   uint64 // advanced by every change that could revoke a cached answer
}

type certEntry struct {
	tenantID  ident.TenantID
	device    ident.DeviceID
	notBefore time.Time
	notAfter  time.Time
	epoch     uint64    // the cache's epoch when the certificate was verified
	checked   time.Time // when it was last found not revoked in the store
}

func newCertCache() *certCache {
	return &certCache{entries: map[[sha256.Size]byte]certEntry{}}
}

func certKey(leaf *x509.Certificate) [sha256.Size]byte { return sha256.Sum256(leaf.Raw) }

// get returns the cached answer for a certificate, if it is valid at now and nothing changed
// since it was verified.
func (c *certCache) get(key [sha256.Size]byte, now time.Time) (certEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.epoch != c.epoch || now.Before(e.notBefore) || !now.Before(e.notAfter) {
		return certEntry{}, false
	}
	return e, true
}

// current returns the epoch that a certificate verified from now on is verified at.
func (c *certCache) current() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// put keeps a verified certificate, unless something changed since the epoch it was verified
// at. When full, it forgets the expired certificates, or all of them if none has expired.
func (c *certCache) put(key [sha256.Size]byte, e certEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.epoch != c.epoch {
		return
	}
	if len(c.entries) >= maxCachedCerts {
		for k, old := range c.entries {
			if !now.Before(old.notAfter) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedCerts {
			clear(c.entries)
		}
	}
	c.entries[key] = e
}

// invalidate forgets every certificate verified so far: called after a device is revoked or
// released, or a CA rotated, in this replica.
func (c *certCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.entries)
}
