package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

// Device update routes (DESIGN.md section 5, step 5): which TUF repositories a device follows
// and with which keys it checks image packages; what it reports after an update; and the
// operator's runtime-signing keys, which stage 0 learns at init.

// Bounds of an update report.
const (
	maxUpdateReport   = 64 << 10
	maxReportMessage  = 1024
	maxReportField    = 100 // names and versions of installed images
	maxReportClockRun = 5 * time.Minute
)

// How many failed update reports one device may send: failedReportRate an hour, in bursts of up
// to failedReportBurst. Each writes an audit entry, so a device must not flood the audit log
// with them; a device updates a few times a day, and one whose reports are refused sends them
// again at its next check-in.
const (
	failedReportRate  = 60
	failedReportBurst = 20
)

// deviceUpdates tells the calling device which repositories it follows: its group's (if it is
// in one) and its group's OS feed (Retail when in no group, so that a device can always get
// runtime updates), the group's update policy, its tenant's image-signing keys, and who the
// device is (as whoami says: the answer is the device's whole check-in).
//
// The answer's ETag is a digest of the answer and of the newest timestamp metadata of both
// repositories, so it moves whenever anything the device would fetch or keep moves (a
// deployment, a release, a re-signed timestamp, a new key, another group, another development
// capability). A device that sends it back in If-None-Match is answered 304 when nothing moved,
// and fetches no TUF metadata: an up-to-date check-in is this one request (see device/update,
// which bounds how long it trusts a 304).
func (a *API) deviceUpdates(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	info := api.UpdateInfo{FeedRepo: tufrepo.FeedRepo(api.FeedRetail), UpdatePolicy: api.PolicyNone}
	var missing []string // repositories not published yet
	var keys []string    // the tenant's image keys, as PEM
	tag := sha256.New()
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		who, err := whoami(tx, d)
		if err != nil {
			return err
		}
		info.Device = &who
		if d.GroupID != "" {
			g, err := tx.Group(d.TenantID, d.GroupID)
			if err != nil {
				return err
			}
			info.GroupRepo = tufrepo.GroupRepo(g.ID)
			info.FeedRepo = tufrepo.FeedRepo(g.OSFeed)
			info.UpdatePolicy = g.UpdatePolicy
			info.MaintenanceWindow = g.MaintenanceWindow
		}
		for _, repo := range []string{info.GroupRepo, info.FeedRepo} {
			ts, ok, err := timestamp(tx, repo)
			if err != nil {
				return err
			}
			if !ok {
				missing = append(missing, repo)
			}
			fmt.Fprintf(tag, "%s\x00%d\x00", repo, len(ts))
			tag.Write(ts)
		}
		sks, err := tx.SigningKeys(d.TenantID, keyring.Image)
		for _, k := range sks {
			keys = append(keys, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.Public})))
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		if err := a.publishRepos(r.Context(), d.TenantID, d.GroupID, missing); err != nil {
			return err
		}
		tag = nil // what was just published is not in the digest: no ETag this time
	}
	if len(keys) == 0 { // the tenant's first key is made on first use
		if keys, err = a.keys.PublicPEM(r.Context(), d.TenantID, keyring.Image); err != nil {
			return err
		}
	}
	info.ImageKeys = keys
	a.metrics.checkins.Inc()
	if tag != nil {
		body, err := json.Marshal(info)
		if err != nil {
			return err
		}
		tag.Write(body)
		etag := `"` + hex.EncodeToString(tag.Sum(nil)) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	return writeJSON(w, http.StatusOK, info)
}

// timestamp returns the newest timestamp metadata of a TUF repository, and whether it has any
// ("" has none and needs none).
func timestamp(tx *store.Tx, repo string) ([]byte, bool, error) {
	if repo == "" {
		return nil, true, nil
	}
	f, err := tx.TUFMetadata(repo, "timestamp", 0)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return f.Body, true, nil
}

// published reports whether a TUF repository has metadata to serve.
func published(tx *store.Tx, repo string) (bool, error) {
	_, ok, err := timestamp(tx, repo)
	return ok, err
}

// publishRepos publishes, once, the repositories a device is about to be told to follow that
// have no metadata yet — a group without a deployment, a feed without a release — so that the
// device finds a repository (with no targets) rather than none. A group's repository is
// otherwise published with each deployment, a feed's with each release.
func (a *API) publishRepos(ctx context.Context, tenantID ident.TenantID, groupID ident.GroupID, repos []string) error {
	var groupKeys tufrepo.GroupKeys
	var feedKeys tufrepo.FeedKeys
	for _, repo := range repos {
		var err error
		if repo == tufrepo.GroupRepo(groupID) {
			groupKeys, err = a.tuf.PrepareGroup(ctx, tenantID)
		} else {
			feedKeys, err = a.tuf.PrepareFeed(ctx)
		}
		if err != nil {
			return err
		}
	}
	return a.store.Update(ctx, func(tx *store.Tx) error {
		for _, repo := range repos {
			if ok, err := published(tx, repo); err != nil || ok { // published meanwhile
				if err != nil {
					return err
				}
				continue
			}
			if repo == tufrepo.GroupRepo(groupID) {
				if err := a.deploy.PublishGroup(ctx, tx, groupKeys, tenantID, groupID); err != nil {
					return fmt.Errorf("publish %s: %w", repo, err)
				}
				continue
			}
			feed := strings.TrimPrefix(repo, tufrepo.FeedRepo(""))
			rels, err := tx.RuntimeReleases(feed)
			if err != nil {
				return err
			}
			if err := a.tuf.PublishFeed(ctx, tx, feedKeys, feed, rels); err != nil {
				return fmt.Errorf("publish %s: %w", repo, err)
			}
		}
		return nil
	})
}

// deviceUpdateReport records what the calling device has installed and how its last update
// went. The device is the one its certificate names: a report cannot speak for another.
// Failures and rollbacks are audited; successes are not, so that a fleet's routine reports do
// not flood the log.
func (a *API) deviceUpdateReport(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpdateReport)
	var rep api.UpdateReport
	if err := decode(w, r, &rep); err != nil {
		return err
	}
	if err := validateReport(&rep); err != nil {
		return err
	}
	received := a.now().UTC().Truncate(time.Microsecond)
	if rep.Result != api.UpdateOK {
		if ok, wait := a.reports.Allow(d.ID, 1, received); !ok {
			return tooMany(w, wait, "too many failed update reports from this device")
		}
	}
	if rep.At.After(received.Add(maxReportClockRun)) {
		rep.At = received // a device clock running ahead must not put its report in the future
	}
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		if err := tx.RecordUpdateReport(d.TenantID, d.ID, rep, received); err != nil {
			return err
		}
		if rep.Result == api.UpdateOK {
			return nil
		}
		detail := rep.Result
		if rep.Message != "" {
			detail += ": " + rep.Message
		}
		_, err := tx.AppendAudit(api.AuditEntry{TenantID: d.TenantID, Time: received, Actor: "device/" + d.ID.String(),
			Action: "device.update.fail", Target: "device/" + d.ID.String(), Source: d.Source, Detail: detail})
		return err
	})
	if err != nil {
		return err
	}
	a.metrics.updates.WithLabelValues(rep.Result).Inc() // validateReport allowed only known results
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// validateReport checks every field of an update report and bounds every length.
func validateReport(rep *api.UpdateReport) error {
	switch rep.Result {
	case api.UpdateOK, api.UpdateFailed, api.UpdateRolledBack:
	default:
		return errorf(http.StatusBadRequest, "result: want %s, %s or %s, got %q", api.UpdateOK, api.UpdateFailed, api.UpdateRolledBack, clip(rep.Result))
	}
	if len(rep.Message) > maxReportMessage {
		return errorf(http.StatusBadRequest, "message: want at most %d bytes", maxReportMessage)
	}
	rep.Message = reportMessage(rep.Message)
	if len(rep.Installed) > api.MaxInstalledImages {
		return errorf(http.StatusBadRequest, "installed: at most %d images, got %d", api.MaxInstalledImages, len(rep.Installed))
	}
	seen := make(map[string]bool, len(rep.Installed))
	for i, im := range rep.Installed {
		where := fmt.Sprintf("installed[%d]", i)
		if err := checkInstalled(im, where); err != nil {
			return err
		}
		if seen[im.ImageID] {
			return errorf(http.StatusBadRequest, "%s: image %s is listed twice", where, im.ImageID)
		}
		seen[im.ImageID] = true
	}
	return nil
}

// reportMessage makes a report's message safe to show. A message may quote a program's output:
// its line breaks become spaces and its other unsafe characters (terminal escapes, bidirectional
// controls) are escaped, so that it reads on one line in the audit log and the command line, as
// the device sent it.
func reportMessage(msg string) string {
	return safetext.Line(strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, msg), maxReportMessage)
}

// checkInstalled checks one installed image of an update report, at where in it.
func checkInstalled(im api.InstalledImage, where string) error {
	switch {
	case !ident.IsID(im.ImageID):
		return errorf(http.StatusBadRequest, "%s.image_id: want an image ID (a lowercase UUID)", where)
	case !ident.IsID(im.ComponentID):
		return errorf(http.StatusBadRequest, "%s.component_id: want a component ID (a lowercase UUID)", where)
	case im.Name == "" || len(im.Name) > maxReportField || safetext.Check(im.Name) != nil:
		return errorf(http.StatusBadRequest, "%s.name: want 1 to %d bytes of printable UTF-8", where, maxReportField)
	case len(im.Version) > maxReportField || safetext.Check(im.Version) != nil:
		return errorf(http.StatusBadRequest, "%s.version: want at most %d bytes of printable UTF-8", where, maxReportField)
	case im.Type != api.ImageApplication && im.Type != api.ImageRuntime:
		return errorf(http.StatusBadRequest, "%s.type: want %s or %s", where, api.ImageApplication, api.ImageRuntime)
	case im.Slot != "" && im.Slot != "a" && im.Slot != "b":
		return errorf(http.StatusBadRequest, "%s.slot: want a, b or nothing", where)
	}
	return nil
}

// runtimeKeys serves the operator's runtime-signing public keys. It is open to any TLS client:
// a device reads them at init, before it has a certificate, over the TLS channel it pinned with
// the service CA it was given.
func (a *API) runtimeKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := a.keys.PublicPEM(r.Context(), keyring.Operator, keyring.Runtime)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.RuntimeKeys{Keys: keys})
}

// withUpdates fills in each device's Updates: what its group's newest deployment targets and
// what it last reported.
func withUpdates(tx *store.Tx, tenantID ident.TenantID, ds []api.Device) error {
	ids := make([]ident.DeviceID, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	updates, err := tx.DeviceUpdates(tenantID, ids...)
	if err != nil {
		return err
	}
	for i := range ds {
		if u, ok := updates[ds[i].ID]; ok {
			ds[i].Updates = &u
		}
	}
	return nil
}
