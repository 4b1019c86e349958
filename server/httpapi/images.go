package httpapi

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/store"
)

// Image routes: upload (re-signed with the tenant's image-signing key), list, show, download.

// resignSlack is how much larger than the upload a re-signed package may be: the service's
// signature may be longer than the developer's.
const resignSlack = 64 << 10

// checkUploadManifest refuses a tenant's upload whose manifest is not an application's or whose
// IDs are not lowercase UUIDs.
func checkUploadManifest(m imagepkg.Manifest) error {
	switch {
	case m.Type == imagepkg.TypeRuntime:
		return errorf(http.StatusBadRequest, "image %s is a device runtime; runtimes are published by the operator with 'rampart os publish', a tenant uploads applications", m.ImageID)
	case m.Type != imagepkg.TypeApplication:
		return errorf(http.StatusBadRequest, "image %s has type %q; want %s", m.ImageID, clip(m.Type), imagepkg.TypeApplication)
	case !ident.IsID(m.ImageID) || !ident.IsID(m.ComponentID):
		return errorf(http.StatusBadRequest, "invalid image package: image and component IDs must be lowercase UUIDs")
	}
	return nil
}

// addImage stores an image package sent as the raw body (at most api.MaxImageSize bytes). The
// package may be signed by any key (the developer's): the service reads its header, streams its
// payload while checking size and hash against the manifest, and keeps the package re-signed
// with the tenant's image-signing key only — so devices trust what this service accepted, and
// nothing else. A package refused at any point leaves nothing behind.
//
// Images are immutable: the same image ID with the same manifest is the same image (200, the
// stored one); with another manifest it is refused (409).
func (a *API) addImage(w http.ResponseWriter, r *http.Request, c *call) error {
	limit := a.maxImage
	if r.ContentLength > limit {
		return errorf(http.StatusRequestEntityTooLarge, "image package larger than %d bytes", limit)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	h, appManifest, err := readApplicationHeader(body, limit)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(h.ManifestBytes)
	manifestSHA256 := hex.EncodeToString(sum[:])
	tenantID := c.user.TenantID

	var existing store.ImageRecord
	err = a.store.View(r.Context(), func(tx *store.Tx) error {
		existing, err = tx.Image(tenantID, ident.ImageID(h.Manifest.ImageID))
		return err
	})
	switch {
	case err == nil:
		if existing.ManifestSHA256 != manifestSHA256 {
			return errImageConflict(ident.ImageID(h.Manifest.ImageID))
		}
		// The same image again. Its payload is still checked, so that a tampered retry is
		// refused like any other tampered upload.
		if _, err := io.Copy(io.Discard, h.Payload(body)); err != nil {
			return packageError(err, limit)
		}
		return writeJSON(w, http.StatusOK, existing.Image)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if err := a.checkQuota(r, tenantID, h.Manifest.PayloadSize); err != nil {
		return err
	}
	signer, err := a.keys.Signer(r.Context(), tenantID, keyring.Image)
	if err != nil {
		return err
	}
	info, err := a.storeResigned(body, h, signer, limit+resignSlack)
	if err != nil {
		return packageError(err, limit)
	}
	m := h.Manifest
	im := store.ImageRecord{
		Image: api.Image{ID: ident.ImageID(m.ImageID), TenantID: tenantID, ComponentID: ident.ComponentID(m.ComponentID), Name: m.Name,
			Version: m.Version, Type: m.Type, Size: info.Size, SHA256: info.SHA256.String(),
			PayloadSize: m.PayloadSize, PayloadSHA256: m.PayloadSHA256.String(), AppManifest: appManifest,
			UploadedAt: c.now, UploadedBy: c.user.Email},
		ManifestSHA256: manifestSHA256,
	}
	im, status, err := a.recordImage(r, c, im)
	if err != nil {
		return quotaError(err)
	}
	return writeJSON(w, status, im.Image)
}

// readApplicationHeader reads an uploaded package's header, which must be an application's
// with well-formed IDs, and returns it with its app manifest as it was signed.
func readApplicationHeader(body io.Reader, limit int64) (*imagepkg.Header, json.RawMessage, error) {
	h, err := imagepkg.ReadHeader(body)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil, errorf(http.StatusBadRequest, "image package refused: it ends within its header; is it an image package ('rampart image pack')?")
	}
	if err != nil {
		return nil, nil, packageError(err, limit)
	}
	if err := checkUploadManifest(h.Manifest); err != nil {
		return nil, nil, err
	}
	appManifest, err := rawAppManifest(h.ManifestBytes)
	if err != nil {
		return nil, nil, err
	}
	return h, appManifest, nil
}

// recordImage records a stored image with its audit entry: 201 with it, or 200 with the same
// image uploaded meanwhile, or a conflict if the image uploaded meanwhile differs.
func (a *API) recordImage(r *http.Request, c *call, im store.ImageRecord) (store.ImageRecord, int, error) {
	status := http.StatusCreated
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		err := tx.AddImage(im)
		if errors.Is(err, store.ErrExists) { // uploaded meanwhile
			prev, err := tx.Image(im.TenantID, im.ID)
			if err != nil {
				return err
			}
			if prev.ManifestSHA256 != im.ManifestSHA256 {
				return errImageConflict(im.ID)
			}
			im, status = prev, http.StatusOK
			return nil
		}
		if err != nil {
			return err
		}
		return c.audit(tx, im.TenantID, "image.add", "image/"+string(im.ID),
			fmt.Sprintf("%s %s, component %s, sha256:%s", im.Name, im.Version, im.ComponentID, im.SHA256[:16]))
	})
	return im, status, err
}

// checkQuota refuses, before its payload is read and stored, an image whose declared payload
// alone would take the tenant over its image quota. [store.Tx.AddImage] checks again, atomically,
// with the stored size.
func (a *API) checkQuota(r *http.Request, tenantID ident.TenantID, payloadSize int64) error {
	var t api.Tenant
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		t, err = tx.Tenant(tenantID)
		return err
	})
	if err != nil {
		return err
	}
	if t.ImageQuota > 0 && t.ImageBytes+payloadSize > t.ImageQuota {
		return quotaError(&store.QuotaError{Size: payloadSize, Used: t.ImageBytes, Quota: t.ImageQuota})
	}
	return nil
}

// quotaError turns a [store.QuotaError] into an answer that says what to do.
func quotaError(err error) error {
	var q *store.QuotaError
	if !errors.As(err, &q) {
		return err
	}
	return errorf(http.StatusRequestEntityTooLarge,
		"image refused: it needs %s, and your tenant uses %s of its image quota of %s; images are immutable and cannot be deleted, so ask the operator to raise the quota ('rampart tenant update TENANT --image-quota SIZE')",
		api.FormatSize(q.Size), api.FormatSize(q.Used), api.FormatSize(q.Quota))
}

func errImageConflict(id ident.ImageID) error {
	return errorf(http.StatusConflict, "image ID %s already exists with other content; an image can only be replaced by another image (give the new package a new image ID)", id)
}

// errAborted stops a re-signing writer whose reader gave up.
var errAborted = errors.New("upload aborted")

// storeResigned re-signs the package whose header h was read from body with signer, streaming
// its payload from body, and stores the result as a blob of at most limit bytes. If the payload
// does not match the manifest — tampered, short, or followed by more bytes — nothing is stored.
func (a *API) storeResigned(body io.Reader, h *imagepkg.Header, signer crypto.Signer, limit int64) (blob.Info, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		payload := h.Payload(body)
		err := imagepkg.Resign(pw, h, payload, signer)
		if err == nil {
			// Resign may stop at the declared size: read on, so that the payload reader sees
			// the end of the body and refuses anything past the declared size.
			_, err = io.Copy(io.Discard, payload)
		}
		pw.CloseWithError(err) // nil: the blob store sees the end and keeps the blob
		done <- err
	}()
	info, err := a.blobs.Put(pr, limit)
	pr.CloseWithError(errAborted) // unblocks the writer if Put stopped early
	if werr := <-done; werr != nil && !errors.Is(werr, errAborted) {
		return blob.Info{}, werr
	}
	return info, err
}

// packageError maps an error from reading an uploaded package to an answer.
func packageError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig), errors.Is(err, blob.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "image package larger than %d bytes", limit)
	case errors.Is(err, imagepkg.ErrPayloadMismatch), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "image package refused: its payload does not match its manifest (tampered, truncated, or followed by extra bytes); nothing was stored")
	case errors.Is(err, imagepkg.ErrMalformed), errors.Is(err, imagepkg.ErrTooLarge):
		// imagepkg's messages describe the package's structure, never secrets.
		return errorf(http.StatusBadRequest, "image package refused: %v", err)
	}
	return err
}

// rawAppManifest returns the app manifest exactly as the package's manifest carries it, if it
// carries one.
func rawAppManifest(manifestBytes []byte) (json.RawMessage, error) {
	var m struct {
		App json.RawMessage `json:"app_manifest"`
	}
	if err := strictjson.DecodeAnswer(manifestBytes, &m); err != nil {
		return nil, errorf(http.StatusBadRequest, "image package refused: its manifest is not JSON")
	}
	if len(m.App) == 0 || string(m.App) == "null" {
		return nil, nil
	}
	return m.App, nil
}

func (a *API) listImages(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	f := store.ImageFilter{ComponentID: ident.ComponentID(q.Get("component")), Type: q.Get("type"), Limit: api.MaxPageSize}
	if f.ComponentID != "" && !ident.IsID(f.ComponentID) {
		return errorf(http.StatusBadRequest, "invalid component %q: want a component ID (a lowercase UUID)", clip(f.ComponentID))
	}
	if f.Type != "" && f.Type != api.ImageApplication && f.Type != api.ImageRuntime {
		return errorf(http.StatusBadRequest, "invalid type %q: want %s or %s", clip(f.Type), api.ImageApplication, api.ImageRuntime)
	}
	if q.Get("limit") != "" { // without one, all the images a page can hold
		n, err := pageLimit(r)
		if err != nil {
			return err
		}
		f.Limit = n
	}
	var images []api.Image
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		images, err = tx.Images(c.user.TenantID, f)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(images))
}

// image reads the {image} of the request's path from the caller's tenant.
func (a *API) image(r *http.Request, c *call) (store.ImageRecord, error) {
	id := ident.ImageID(r.PathValue("image"))
	if !ident.IsID(id) {
		return store.ImageRecord{}, errorf(http.StatusNotFound, "image %q not found", clip(id))
	}
	var im store.ImageRecord
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		im, err = tx.Image(c.user.TenantID, id)
		return err
	})
	if err != nil {
		return im, notFound(err, "image %s not found", id)
	}
	return im, nil
}

func (a *API) showImage(w http.ResponseWriter, r *http.Request, c *call) error {
	im, err := a.image(r, c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, im.Image)
}

// downloadImage serves the package as the service stored it (re-signed), with Range support.
func (a *API) downloadImage(w http.ResponseWriter, r *http.Request, c *call) error {
	im, err := a.image(r, c)
	if err != nil {
		return err
	}
	d, err := ident.ParseDigest(im.SHA256)
	if err != nil {
		return fmt.Errorf("image %s: stored digest: %w", im.ID, err)
	}
	f, err := a.blobs.Open(d)
	if err != nil {
		return fmt.Errorf("image %s: open package: %w", im.ID, err)
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"sha256:`+im.SHA256+`"`)
	http.ServeContent(w, r, "", im.UploadedAt, f)
	return nil
}
