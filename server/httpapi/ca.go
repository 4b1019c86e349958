package httpapi

import (
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/store"
)

func (a *API) listCAs(w http.ResponseWriter, r *http.Request, c *call) error {
	cas, err := a.ca.CAs(r.Context(), c.user.TenantID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cas)
}

// caBundle serves the PEM of every CA of the tenant still trusted: what a relying party (an MQTT
// broker, a cloud service) needs to accept the tenant's device certificates.
func (a *API) caBundle(w http.ResponseWriter, r *http.Request, c *call) error {
	pem, err := a.ca.Bundle(r.Context(), c.user.TenantID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, err = w.Write(pem)
	return err
}

func (a *API) rotateCA(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := a.ca.CAs(r.Context(), c.user.TenantID); err != nil { // the first CA, if none yet
		return err
	}
	var ca api.CA
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if ca, err = a.ca.Rotate(r.Context(), tx, c.user.TenantID); err != nil {
			return err
		}
		return c.audit(tx, c.user.TenantID, "ca.rotate", "ca/"+ca.ID, ca.Fingerprint)
	})
	if err != nil {
		return err
	}
	a.ca.Forget(c.user.TenantID)
	return writeJSON(w, http.StatusCreated, ca)
}

var versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+-]{0,39}$`)

// publishRelease stores a runtime release sent as the raw request body (at most
// api.MaxRuntimeSize bytes) on the feed and version given in the query.
func (a *API) publishRelease(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	feed, version := q.Get("feed"), q.Get("version")
	if !api.ValidFeed(feed) {
		return errorf(http.StatusBadRequest, "invalid feed %q: want %s or %s", clip(feed), api.FeedRetail, api.FeedRetailEval)
	}
	if !versionPattern.MatchString(version) {
		return errorf(http.StatusBadRequest, "invalid version %q: 1 to 40 letters, digits, '.', '+' or '-'", clip(version))
	}
	info, err := a.blobs.Put(r.Body, api.MaxRuntimeSize)
	if errors.Is(err, blob.ErrTooLarge) {
		return errorf(http.StatusRequestEntityTooLarge, "runtime larger than %d bytes", api.MaxRuntimeSize)
	}
	if err != nil {
		return err
	}
	if info.Size == 0 {
		return errorf(http.StatusBadRequest, "empty runtime")
	}
	rel := api.RuntimeRelease{ID: ident.NewID(), Feed: feed, Version: version, Size: info.Size,
		SHA256: info.SHA256.String(), SHA512: hex.EncodeToString(info.SHA512[:]), PublishedAt: c.now}
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		if err := tx.AddRuntimeRelease(rel); err != nil {
			return err
		}
		return c.audit(tx, "", "os.publish", "release/"+rel.ID, feed+" "+version+" sha512:"+rel.SHA512[:16])
	})
	if errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, "%s already has a release %s; releases are immutable, publish a new version", feed, version)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, rel)
}

func (a *API) listReleases(w http.ResponseWriter, r *http.Request, c *call) error {
	feed := r.URL.Query().Get("feed")
	if feed != "" && !api.ValidFeed(feed) {
		return errorf(http.StatusBadRequest, "invalid feed %q", clip(feed))
	}
	var rels []api.RuntimeRelease
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		rels, err = tx.RuntimeReleases(feed)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(rels))
}
