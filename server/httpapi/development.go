package httpapi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/capability"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/store"
)

// Development routes: an Administrator enables development on a device, naming the developer
// keys whose images it will accept; the service signs a development capability
// (format/capability) with the tenant's image-signing key and serves it to that device alone.

// maxDeveloperKeyPEM bounds one developer key's PEM: a P-256 public key is under 200 bytes.
const maxDeveloperKeyPEM = 1 << 10

// enableDevelopment sets a device's development flag and stores its signed capability.
func (a *API) enableDevelopment(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := deviceRef(r)
	if err != nil {
		return err
	}
	var req api.EnableDevelopmentRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := validateDeveloperKeys(req.DeveloperKeys); err != nil {
		return err
	}
	tenantID := c.user.TenantID
	var d api.Device
	err = a.store.View(r.Context(), func(tx *store.Tx) error {
		d, err = tx.Device(tenantID, id)
		return err
	})
	if err != nil {
		return notFound(err, "device %s not found", id)
	}
	if d.State == api.DeviceRevoked {
		return errorf(http.StatusConflict, "device %s is revoked; development cannot be enabled on it", id)
	}
	// The keyring runs transactions of its own, so the signer is fetched before the store
	// transaction opens (SQLite has one writer).
	signer, err := a.keys.Signer(r.Context(), tenantID, keyring.Image)
	if err != nil {
		return err
	}
	body, err := capability.Sign(capability.Development{Format: 1, TenantID: string(tenantID), DeviceID: id,
		DeveloperKeys: req.DeveloperKeys, IssuedAt: c.now}, signer)
	if err != nil {
		return fmt.Errorf("sign development capability: %w", err)
	}
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		if d, err = tx.Device(tenantID, id); err != nil {
			return notFound(err, "device %s not found", id)
		}
		if d.State == api.DeviceRevoked { // revoked meanwhile
			return errorf(http.StatusConflict, "device %s is revoked; development cannot be enabled on it", id)
		}
		if err := tx.EnableDevelopment(tenantID, id, body, c.now); err != nil {
			return err
		}
		if d, err = tx.Device(tenantID, id); err != nil {
			return err
		}
		return c.audit(tx, tenantID, "device.enable-development", "device/"+id.String(),
			fmt.Sprintf("%d developer key(s)", len(req.DeveloperKeys)))
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// validateDeveloperKeys accepts 1 to capability.MaxDeveloperKeys PEM blocks, each one ECDSA
// P-256 SubjectPublicKeyInfo and nothing else.
func validateDeveloperKeys(keys []string) error {
	if len(keys) == 0 || len(keys) > capability.MaxDeveloperKeys {
		return errorf(http.StatusBadRequest, "developer_keys: want 1 to %d PEM public keys, got %d; 'rampart image pack --print-key' prints yours",
			capability.MaxDeveloperKeys, len(keys))
	}
	for i, s := range keys {
		bad := errorf(http.StatusBadRequest, "developer_keys[%d] is not one PEM ECDSA P-256 public key; 'rampart image pack --print-key' prints yours", i)
		if len(s) > maxDeveloperKeyPEM {
			return bad
		}
		block, rest := pem.Decode([]byte(s))
		if block == nil || block.Type != "PUBLIC KEY" || len(block.Headers) > 0 || len(bytes.TrimSpace(rest)) > 0 {
			return bad
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return bad
		}
		if ec, ok := pub.(*ecdsa.PublicKey); !ok || ec.Curve != elliptic.P256() {
			return bad
		}
	}
	return nil
}

// disableDevelopment clears a device's development flag and deletes its capability: the device
// drops it at its next check-in and accepts only images its tenant signed.
func (a *API) disableDevelopment(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := deviceRef(r)
	if err != nil {
		return err
	}
	tenantID := c.user.TenantID
	var d api.Device
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		if err := tx.DisableDevelopment(tenantID, id); err != nil {
			return notFound(err, "device %s not found", id)
		}
		if d, err = tx.Device(tenantID, id); err != nil {
			return err
		}
		return c.audit(tx, tenantID, "device.disable-development", "device/"+id.String(), "")
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// deviceCapability serves a device its own development capability, as stored.
func (a *API) deviceCapability(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	var body []byte
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		body, err = tx.DevelopmentCapability(d.TenantID, d.ID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "no development capability")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}
