package httpapi

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/keyring"
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

// caCRL serves the tenant's CRLs: with ?ca=ID that CA's CRL in DER (what its distribution point
// serves), else the CRL of every CA still trusted, in PEM (what a broker's crlfile takes).
func (a *API) caCRL(w http.ResponseWriter, r *http.Request, c *call) error {
	if id := r.URL.Query().Get("ca"); id != "" {
		if !ident.IsID(id) {
			return errorf(http.StatusNotFound, "CA %q not found", clip(id))
		}
		der, err := a.ca.CRL(r.Context(), c.user.TenantID, id)
		if err != nil {
			return notFound(err, "CA %s not found (or expired); see 'rampart ca list'", id)
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, err = w.Write(der)
		return err
	}
	cas, err := a.ca.CAs(r.Context(), c.user.TenantID)
	if err != nil {
		return err
	}
	var out []byte
	for _, ca := range cas {
		if !c.now.Before(ca.NotAfter) {
			continue
		}
		der, err := a.ca.CRL(r.Context(), c.user.TenantID, ca.ID)
		if err != nil {
			return err
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})...)
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, err = w.Write(out)
	return err
}

// crlFile serves a tenant CA's CRL without a token, at the URL each device certificate names
// as its CRL distribution point (pki.CRLPath). It reads one row; relying parties may cache the
// answer for a minute.
func (a *API) crlFile(w http.ResponseWriter, r *http.Request) error {
	tenantID, file := ident.TenantID(r.PathValue("tenant")), r.PathValue("file")
	caID, ok := strings.CutSuffix(file, ".crl")
	if !ident.IsID(tenantID) || !ok || !ident.IsID(caID) {
		return errorf(http.StatusNotFound, "no such CRL")
	}
	der, err := a.ca.CRL(r.Context(), tenantID, caID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "no such CRL")
	} else if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, err = w.Write(der)
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
	a.certs.invalidate()
	return writeJSON(w, http.StatusCreated, ca)
}

var versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+-]{0,39}$`)

// publishRelease stores a runtime release sent as the raw request body (at most
// api.MaxRuntimeSize bytes) on the feed and version given in the query. The raw runtime is kept
// for its SHA-512 (the measurement a device running it reports); what devices download is an
// image package of type runtime around it, signed with the operator's runtime-signing key. The
// feed's TUF repository is re-published with the release in the same transaction.
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
	pkg, err := a.packRuntime(r.Context(), &rel, info)
	if err != nil {
		return err
	}
	rel.ImageID, rel.PackageSize, rel.PackageSHA256 = pkg.id, pkg.info.Size, pkg.info.SHA256.String()
	// The feed's TUF keys are loaded (made on first use) outside the transaction that signs.
	keys, err := a.tuf.PrepareFeed(r.Context())
	if err != nil {
		return err
	}
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		if err := tx.AddRuntimeRelease(rel); err != nil {
			return err
		}
		rels, err := tx.RuntimeReleases(feed)
		if err != nil {
			return err
		}
		if err := a.tuf.PublishFeed(r.Context(), tx, keys, feed, rels); err != nil {
			return fmt.Errorf("publish feed %s: %w", feed, err)
		}
		return c.audit(tx, "", "os.publish", "release/"+rel.ID, feed+" "+version+" sha512:"+rel.SHA512[:16])
	})
	if errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, "%s already has a release %s (published or withdrawn); releases are immutable, publish a new version", feed, version)
	}
	if errors.Is(err, store.ErrWithdrawn) {
		return errorf(http.StatusConflict, "this runtime was withdrawn (under another version) and cannot be published again; publish a fixed runtime")
	}
	if err != nil {
		return err
	}
	a.notifyFeed(r, "", feed)
	return writeJSON(w, http.StatusCreated, rel)
}

// withdrawRelease withdraws a runtime release: it leaves its feed's TUF targets (in the same
// transaction), devices running it fail attestation with withdrawn_runtime, and its version and
// its runtime are never published again.
func (a *API) withdrawRelease(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.WithdrawReleaseRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if !api.ValidFeed(req.Feed) {
		return errorf(http.StatusBadRequest, "invalid feed %q: want %s or %s", clip(req.Feed), api.FeedRetail, api.FeedRetailEval)
	}
	if !versionPattern.MatchString(req.Version) {
		return errorf(http.StatusBadRequest, "invalid version %q", clip(req.Version))
	}
	keys, err := a.tuf.PrepareFeed(r.Context())
	if err != nil {
		return err
	}
	var rel api.RuntimeRelease
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if rel, err = tx.WithdrawRuntimeRelease(req.Feed, req.Version, c.now); err != nil {
			return err
		}
		rels, err := tx.RuntimeReleases(req.Feed)
		if err != nil {
			return err
		}
		if err := a.tuf.PublishFeed(r.Context(), tx, keys, req.Feed, rels); err != nil {
			return fmt.Errorf("publish feed %s: %w", req.Feed, err)
		}
		return c.audit(tx, "", "os.withdraw", "release/"+rel.ID, req.Feed+" "+req.Version)
	})
	if err != nil {
		return notFound(err, "%s has no release %s; see 'rampart os list'", req.Feed, clip(req.Version))
	}
	a.notifyFeed(r, "", req.Feed)
	return writeJSON(w, http.StatusOK, rel)
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

// runtimePackage is a runtime release's image package as stored.
type runtimePackage struct {
	id   ident.ImageID
	info blob.Info
}

// packRuntime wraps the stored runtime info describes in an image package of type runtime for
// rel, signed with the operator's runtime-signing key, and stores the package as a blob.
func (a *API) packRuntime(ctx context.Context, rel *api.RuntimeRelease, info blob.Info) (runtimePackage, error) {
	signer, err := a.keys.Signer(ctx, keyring.Operator, keyring.Runtime)
	if err != nil {
		return runtimePackage{}, err
	}
	payload, err := a.blobs.Open(info.SHA256)
	if err != nil {
		return runtimePackage{}, fmt.Errorf("open runtime %s: %w", rel.Version, err)
	}
	defer payload.Close()
	m := imagepkg.Manifest{Format: 1, ImageID: ident.NewID(), ComponentID: api.RuntimeComponentID,
		Name: api.RuntimeImageName, Version: rel.Version, Type: imagepkg.TypeRuntime,
		PayloadSize: info.Size, PayloadSHA256: info.SHA256}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(imagepkg.Write(pw, m, payload, signer)) }()
	pkg, err := a.blobs.Put(pr, api.MaxRuntimeSize+resignSlack+imagepkg.MaxManifestSize)
	pr.CloseWithError(errAborted) // unblocks the writer if Put stopped early
	if err != nil {
		return runtimePackage{}, fmt.Errorf("package runtime %s: %w", rel.Version, err)
	}
	return runtimePackage{id: ident.ImageID(m.ImageID), info: pkg}, nil
}
