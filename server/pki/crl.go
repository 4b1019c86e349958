package pki

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// Certificate revocation lists. Each tenant CA signs its own CRL (DER, RFC 5280) of the device
// certificates it issued whose device was revoked or released. The service signs it again in
// the transaction that revokes or releases, and whenever the stored one is older than
// CRLRefresh; it is served from the store at CRLPath without a token.

// CRLValidity is how long a CRL is current (its nextUpdate). It is well below the 24 hours of a
// device certificate, so that a relying party that fetches the CRL when it is due learns of a
// revocation long before the certificate would have expired anyway.
const CRLValidity = 4 * time.Hour

// CRLRefresh is the age at which a served CRL is signed again, so that one fetched at any time
// stays current for at least CRLValidity - CRLRefresh.
const CRLRefresh = time.Hour

// CRLPath is the path, under the service's address, of a tenant CA's CRL.
func CRLPath(tenantID ident.TenantID, caID string) string {
	return "/crl/" + url.PathEscape(string(tenantID)) + "/" + url.PathEscape(caID) + ".crl"
}

// SetPublicURL sets the service's address (https://host:port) that new device certificates
// name in their CRL distribution point. Call it before the Authority issues certificates.
func (a *Authority) SetPublicURL(u string) {
	a.mu.Lock()
	a.publicURL = u
	a.mu.Unlock()
}

// crlDistributionPoint returns the URL of a CA's CRL, or none if no public URL is set.
func (a *Authority) crlDistributionPoint(tenantID ident.TenantID, caID string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.publicURL == "" {
		return nil
	}
	return []string{a.publicURL + CRLPath(tenantID, caID)}
}

// UpdateCRLs signs, inside tx, a new CRL for every CA of the tenant that has not expired. Call
// it in the transaction that revokes or releases a device, after the store marked its
// certificates revoked.
func (a *Authority) UpdateCRLs(ctx context.Context, tx *store.Tx, tenantID ident.TenantID) error {
	records, err := tx.CAs(tenantID)
	if err != nil {
		return err
	}
	now := a.now().UTC()
	for _, r := range records {
		if !now.Before(r.NotAfter) {
			continue
		}
		if _, err := a.signCRL(tx, r, now); err != nil {
			return err
		}
	}
	return nil
}

// signCRL makes and stores the CRL of one CA.
func (a *Authority) signCRL(tx *store.Tx, r store.CARecord, now time.Time) (store.CRL, error) {
	ca, err := x509.ParseCertificate(r.CertDER)
	if err != nil {
		return store.CRL{}, fmt.Errorf("tenant CA %s: %w", r.ID, err)
	}
	key, err := a.openKey(r)
	if err != nil {
		return store.CRL{}, err
	}
	revoked, err := tx.RevokedCerts(r.ID, now)
	if err != nil {
		return store.CRL{}, err
	}
	number := int64(1)
	switch prev, err := tx.CRL(r.TenantID, r.ID); {
	case err == nil:
		number = prev.Number + 1
	case !errors.Is(err, store.ErrNotFound):
		return store.CRL{}, err
	}
	this := now.Truncate(time.Second)
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: this, NextUpdate: this.Add(CRLValidity)}
	for _, c := range revoked {
		serial, ok := new(big.Int).SetString(c.Serial, 16)
		if !ok {
			return store.CRL{}, fmt.Errorf("device certificate serial %q is not hex", c.Serial)
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: serial, RevocationTime: c.RevokedAt.UTC().Truncate(time.Second)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca, key)
	if err != nil {
		return store.CRL{}, fmt.Errorf("sign the CRL of CA %s: %w", r.ID, err)
	}
	crl := store.CRL{CAID: r.ID, TenantID: r.TenantID, Number: number, ThisUpdate: this, NextUpdate: tmpl.NextUpdate, DER: der}
	return crl, tx.PutCRL(crl)
}

// openKey unseals a CA's private key.
func (a *Authority) openKey(r store.CARecord) (crypto.Signer, error) {
	pkcs8, err := a.kek.Open(sealPurpose(r.TenantID, r.ID), r.SealedKey)
	if err != nil {
		return nil, fmt.Errorf("tenant CA %s: %w", r.ID, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("tenant CA %s: %w", r.ID, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("tenant CA %s: key cannot sign", r.ID)
	}
	return signer, nil
}

// CRL returns the DER CRL of a tenant's CA: the stored one, or, when there is none yet or it is
// older than CRLRefresh, a new one. ErrNotFound if the tenant has no such CA, or it expired. An
// unknown CA costs one read: only a CA that exists is ever signed for.
func (a *Authority) CRL(ctx context.Context, tenantID ident.TenantID, caID string) ([]byte, error) {
	now := a.now().UTC()
	var crl store.CRL
	var ca *store.CARecord
	err := a.st.View(ctx, func(tx *store.Tx) error {
		var err error
		if crl, err = tx.CRL(tenantID, caID); err == nil && now.Sub(crl.ThisUpdate) < CRLRefresh && now.Before(crl.NextUpdate) {
			return nil
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		ca, err = currentCA(tx, tenantID, caID, now)
		return err
	})
	if err != nil || ca == nil {
		return crl.DER, err
	}
	err = a.st.Update(ctx, func(tx *store.Tx) error {
		if err := tx.LockTenant(tenantID); err != nil {
			return err
		}
		// Checked again under the tenant's lock: another request may have signed it.
		if crl, err = tx.CRL(tenantID, caID); err == nil && now.Sub(crl.ThisUpdate) < CRLRefresh {
			return nil
		}
		crl, err = a.signCRL(tx, *ca, now)
		return err
	})
	return crl.DER, err
}

// currentCA returns a tenant's CA that has not expired at now. ErrNotFound if there is none.
func currentCA(tx *store.Tx, tenantID ident.TenantID, caID string, now time.Time) (*store.CARecord, error) {
	records, err := tx.CAs(tenantID)
	if err != nil {
		return nil, err
	}
	for _, r := range records {
		if r.ID == caID && now.Before(r.NotAfter) {
			return &r, nil
		}
	}
	return nil, fmt.Errorf("CA %s of tenant %s: %w", caID, tenantID, store.ErrNotFound)
}
