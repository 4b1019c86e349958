// Package tufrepo provides the service's update metadata: one TUF repository (The Update
// Framework, with go-tuf/v2) per device group, whose targets are the group's newest deployment,
// and one per OS feed, whose targets are its runtime releases. It signs the metadata, keeps it in
// the store, re-signs timestamps before they expire, and serves repositories to devices.
//
// # Keys and expiry
//
// A group's repository is signed with its tenant's root and targets keys and the online
// snapshot and timestamp keys; a feed's with the operator's. Timestamp metadata expires within
// 24 hours and is re-signed by [Service.Refresh] well before then, so a device that is served
// frozen metadata notices within a day. Every change only increases versions.
package tufrepo

import (
	"context"
	"net/http"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/store"
)

// Service keeps and serves the TUF repositories.
type Service struct {
	st    *store.Store
	keys  *keyring.Keyring
	blobs *blob.Store
	now   func() time.Time
}

// New returns the TUF service.
func New(st *store.Store, keys *keyring.Keyring, blobs *blob.Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, keys: keys, blobs: blobs, now: now}
}

// GroupRepo and FeedRepo name repositories as devices address them.
func GroupRepo(groupID string) string { return "group/" + groupID }
func FeedRepo(feed string) string     { return "feed/" + feed }

// PublishGroup makes the targets of a device group's repository the given images (the group's
// newest deployment, which may be empty), inside tx: new targets, snapshot and timestamp
// versions. Each image's package is the blob with its SHA256.
func (s *Service) PublishGroup(ctx context.Context, tx *store.Tx, tenantID, groupID string, images []api.Image) error {
	panic("unimplemented")
}

// PublishFeed makes the targets of an OS feed's repository its runtime releases, inside tx.
func (s *Service) PublishFeed(ctx context.Context, tx *store.Tx, feed string, releases []api.RuntimeRelease) error {
	panic("unimplemented")
}

// Refresh re-signs every repository's timestamp (and snapshot, and any other role) that expires
// within its renewal margin. The service runs it periodically.
func (s *Service) Refresh(ctx context.Context) error { panic("unimplemented") }

// Serve answers a device's GET of DevicePathTUF + repo + "/" + file: metadata from the store,
// target packages from the blob store (with Range). A device may read only its own group's
// repository and OS feeds' repositories; anything else is 404.
func (s *Service) Serve(w http.ResponseWriter, r *http.Request, dev api.Device, path string) error {
	panic("unimplemented")
}
