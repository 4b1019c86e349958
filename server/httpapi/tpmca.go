package httpapi

import (
	"errors"
	"net/http"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/attest"
	"github.com/rampart-iot/rampart/server/store"
)

// The TPM manufacturer CAs the operator trusts: endorsement-key certificates of devices whose
// root of trust is a TPM must chain to them (see package attest).

// addTPMCAs adds the CA certificates of a PEM file; those trusted already are left as they
// are. 201 with the CAs added; 409 if every one was trusted already.
func (a *API) addTPMCAs(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.AddTPMCAsRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	certs, err := attest.ParseTPMCAs([]byte(req.PEM), c.now)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	added := []api.TPMCA{}
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		for _, ca := range certs {
			rec := store.TPMCARecord{TPMCA: api.TPMCA{ID: ident.NewID(), Subject: ca.Cert.Subject.String(),
				Fingerprint: ca.Fingerprint, Root: ca.Root, NotAfter: ca.Cert.NotAfter.UTC(), AddedAt: c.now,
				AddedBy: c.user.Email}, CertDER: ca.Cert.Raw}
			err := tx.AddTPMCA(rec)
			if errors.Is(err, store.ErrExists) {
				continue
			}
			if err != nil {
				return err
			}
			kind := "intermediate"
			if rec.Root {
				kind = "root"
			}
			if err := c.audit(tx, "", "tpm-ca.add", "tpm-ca/"+rec.ID,
				kind+" "+rec.Fingerprint+" "+clip(rec.Subject)); err != nil {
				return err
			}
			added = append(added, rec.TPMCA)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(added) == 0 {
		return errorf(http.StatusConflict, "every certificate in the file is a trusted TPM CA already; see 'rampart tpm-ca list'")
	}
	return writeJSON(w, http.StatusCreated, added)
}

func (a *API) listTPMCAs(w http.ResponseWriter, r *http.Request, c *call) error {
	var recs []store.TPMCARecord
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		recs, err = tx.TPMCAs()
		return err
	})
	if err != nil {
		return err
	}
	cas := make([]api.TPMCA, len(recs))
	for i, rec := range recs {
		cas[i] = rec.TPMCA
	}
	return writeJSON(w, http.StatusOK, cas)
}

func (a *API) removeTPMCA(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("ca")
	if !ident.IsID(id) {
		return errorf(http.StatusNotFound, "TPM CA %q not found; see 'rampart tpm-ca list'", clip(id))
	}
	var removed store.TPMCARecord
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if removed, err = tx.RemoveTPMCA(id); err != nil {
			return err
		}
		return c.audit(tx, "", "tpm-ca.remove", "tpm-ca/"+id, removed.Fingerprint+" "+clip(removed.Subject))
	})
	if err != nil {
		return notFound(err, "TPM CA %q not found; see 'rampart tpm-ca list'", id)
	}
	return writeJSON(w, http.StatusOK, removed.TPMCA)
}
