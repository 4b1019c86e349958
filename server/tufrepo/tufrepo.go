// Package tufrepo provides the service's update metadata: one TUF repository (The Update
// Framework, with go-tuf/v2) per device group, whose targets are the group's newest deployment,
// and one per OS feed, whose targets are its runtime releases. It signs the metadata, keeps it in
// the store, re-signs timestamps before they expire, and finds the files devices ask for.
//
// # Serving
//
// [Service.Open] resolves a device's request path to a [File] (metadata bytes, or a target's
// seekable content from the blob store) after checking the device may read the repository;
// anything it may not read, or that does not exist, is [ErrNotFound]. It writes no HTTP:
// server/httpapi's device TUF route sets status, headers and Range.
//
// # Keys and expiry
//
// A group's repository is signed with its tenant's root and targets keys and the online
// snapshot and timestamp keys; a feed's with the operator's. Timestamp metadata expires within
// 24 hours and is re-signed by [Service.Refresh] well before then, so a device that is served
// frozen metadata notices within a day. Every change only increases versions.
//
// Each role has one ECDSA P-256 key (keytype "ecdsa", scheme "ecdsa-sha2-nistp256") and a
// threshold of one. When the keyring's active targets, snapshot or timestamp key changes, the
// next change to the repository signs a new root version naming it (with the same root key), so
// devices walk the root chain to the new key. The root key itself cannot be rotated this way: a
// new root must be signed with the old root key as well, which the keyring does not give out.
//
// # Layout
//
// Repositories use consistent snapshots: devices fetch N.root.json (walking the chain from the
// root they trust until a 404), timestamp.json, N.snapshot.json and N.targets.json, and targets
// as "targets/" + target name, with the target's SHA-256 prefixed to its base name
// ("targets/images/<sha256>.<image ID>", go-tuf's default) or without. The store keeps every
// root, targets and snapshot version and the newest timestamp.
//
// # Rollouts
//
// [Service.PublishRollout] publishes a deployment part-way through its waves: the top-level
// targets delegate each of api.RolloutBins bins to a role "bin-NN" whose targets,
// "bins/NN/<image ID>", are the new or the previous deployment's images (RATIONALE.md,
// "Rollout waves as delegated bin roles"). [Service.Open] serves a bin's role and targets only
// to the devices of that bin. Snapshots name every bin role the repository ever had.
//
// # Transactions and keys
//
// [Service.PublishGroup] and [Service.PublishFeed] run inside the caller's store transaction, so
// a deployment or release and its signed metadata commit together. They use only that
// transaction: the keys must have been loaded before it began, by [Service.PrepareGroup] or
// [Service.PrepareFeed] (which open transactions of their own, and on first use make the keys).
// The types keep that order: the publish functions take the [GroupKeys] or [FeedKeys] value
// that only the prepare functions make, so a call that skips preparing, or that brings the
// operator's keys to a tenant's group, does not compile.
package tufrepo

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
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
func GroupRepo(groupID ident.GroupID) string { return "group/" + string(groupID) }
func FeedRepo(feed string) string            { return "feed/" + feed }

// ErrNotPrepared is returned by PublishGroup and PublishFeed for the zero GroupKeys or
// FeedKeys, which no prepare function returned.
var ErrNotPrepared = errors.New("TUF keys not prepared: call PrepareGroup or PrepareFeed before the transaction")

// GroupKeys are a tenant's TUF signing keys, loaded for [Service.PublishGroup]. Only
// [Service.PrepareGroup] makes them.
type GroupKeys struct{ k *ownerKeys }

// FeedKeys are the operator's TUF signing keys, loaded for [Service.PublishFeed]. Only
// [Service.PrepareFeed] makes them.
type FeedKeys struct{ k *ownerKeys }

// ownerKeys are an owner's four role keys, as loaded at one time.
type ownerKeys struct {
	owner ident.TenantID
	roles roleKeys
}

// roleKey is a role's signing key.
type roleKey struct {
	signer signature.Signer
	key    *metadata.Key
	id     string // TUF key ID
}

// roleKeys are an owner's keys by role name.
type roleKeys map[string]roleKey

// purposes are the keyring purposes of the top-level roles' keys.
var purposes = []struct{ role, purpose string }{
	{metadata.ROOT, keyring.TUFRoot},
	{metadata.TARGETS, keyring.TUFTargets},
	{metadata.SNAPSHOT, keyring.TUFSnapshot},
	{metadata.TIMESTAMP, keyring.TUFTimestamp},
}

// PrepareGroup loads the TUF keys of tenantID's group repositories, making them on first use,
// for the PublishGroup calls that follow. It opens store transactions of its own, so call it
// before the transaction those run in, never inside it: with SQLite, a write inside another
// write transaction would wait for itself. It loads the keys that are active now.
func (s *Service) PrepareGroup(ctx context.Context, tenantID ident.TenantID) (GroupKeys, error) {
	if tenantID == keyring.Operator || !ident.IsID(tenantID) {
		return GroupKeys{}, fmt.Errorf("prepare TUF keys: %q is not a tenant ID", tenantID)
	}
	k, err := s.prepare(ctx, tenantID)
	return GroupKeys{k}, err
}

// PrepareFeed loads the operator's TUF keys, for the PublishFeed calls that follow; as
// PrepareGroup, before the transaction.
func (s *Service) PrepareFeed(ctx context.Context) (FeedKeys, error) {
	k, err := s.prepare(ctx, keyring.Operator)
	return FeedKeys{k}, err
}

// prepare loads owner's four TUF keys (a tenant ID for its groups' repositories,
// [keyring.Operator] for the feeds'), making them on first use.
func (s *Service) prepare(ctx context.Context, owner ident.TenantID) (*ownerKeys, error) {
	keys := make(roleKeys, len(purposes))
	for _, p := range purposes {
		cs, err := s.keys.Signer(ctx, owner, p.purpose)
		if err != nil {
			return nil, fmt.Errorf("TUF %s key: %w", p.role, err)
		}
		priv, ok := cs.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("TUF %s key is a %T, not ECDSA", p.role, cs)
		}
		signer, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("TUF %s key: %w", p.role, err)
		}
		key, err := metadata.KeyFromPublicKey(priv.Public())
		if err != nil {
			return nil, fmt.Errorf("TUF %s key: %w", p.role, err)
		}
		id, err := key.ID()
		if err != nil {
			return nil, fmt.Errorf("TUF %s key: %w", p.role, err)
		}
		keys[p.role] = roleKey{signer: signer, key: key, id: id}
	}
	return &ownerKeys{owner: owner, roles: keys}, nil
}

// PublishGroup makes the targets of a device group's repository the given images (the group's
// deployment, which may be empty), inside tx: new targets, snapshot and timestamp versions.
// Each image's package is the blob with its SHA256. The repository is made on first use. keys,
// from PrepareGroup before tx began, name the tenant.
func (s *Service) PublishGroup(ctx context.Context, tx *store.Tx, keys GroupKeys, groupID ident.GroupID, images []api.Image) error {
	return s.publishGroup(tx, keys, groupID, images, false)
}

// PublishUrgent is PublishGroup for an urgent deployment: the top-level targets say so
// (api.TargetsUrgentField), and devices install it outside their maintenance window too.
func (s *Service) PublishUrgent(ctx context.Context, tx *store.Tx, keys GroupKeys, groupID ident.GroupID, images []api.Image) error {
	return s.publishGroup(tx, keys, groupID, images, true)
}

func (s *Service) publishGroup(tx *store.Tx, keys GroupKeys, groupID ident.GroupID, images []api.Image, urgent bool) error {
	if keys.k == nil {
		return fmt.Errorf("publish group %s: %w", groupID, ErrNotPrepared)
	}
	if !ident.IsID(groupID) {
		return fmt.Errorf("publish group %q: not a group ID", groupID)
	}
	targets, err := imageTargets(keys.k.owner, images, api.TargetImagePrefix)
	if err != nil {
		return fmt.Errorf("publish group %s: %w", groupID, err)
	}
	return s.publish(tx, GroupRepo(groupID), keys.k, &plan{targets: targets, urgent: urgent})
}

// Rollout is a deployment part-way through its waves, as a group's repository publishes it.
type Rollout struct {
	DeploymentID ident.DeploymentID
	Images       []api.Image // the deployment's
	Previous     []api.Image // the previous deployment's, for the devices not reached yet
	Percent      int         // bins 0 to Percent-1 have Images
	Urgent       bool        // the deployment is urgent (api.TargetsUrgentField)
}

// PublishRollout publishes a rollout in a device group's repository, inside tx: the top-level
// targets have no targets of their own and delegate each of the api.RolloutBins bins to its
// role; a bin below r.Percent has the deployment's images, the others the previous
// deployment's, each named "bins/NN/" + image ID. Only the bin roles whose content changes get
// new versions. keys come from PrepareGroup, before tx began.
func (s *Service) PublishRollout(ctx context.Context, tx *store.Tx, keys GroupKeys, groupID ident.GroupID, r Rollout) error {
	if keys.k == nil {
		return fmt.Errorf("publish group %s: %w", groupID, ErrNotPrepared)
	}
	if !ident.IsID(groupID) || !ident.IsID(r.DeploymentID) || r.Percent < 0 || r.Percent > api.RolloutBins {
		return fmt.Errorf("publish group %q: rollout of %q to %d%%: invalid", groupID, r.DeploymentID, r.Percent)
	}
	p := &plan{targets: map[string]*metadata.TargetFiles{},
		rollout: &api.RolloutMeta{DeploymentID: string(r.DeploymentID), Bins: api.RolloutBins},
		bins:    make(map[string]map[string]*metadata.TargetFiles, api.RolloutBins), urgent: r.Urgent}
	for b := range api.RolloutBins {
		images := r.Previous
		if b < r.Percent {
			images = r.Images
		}
		t, err := imageTargets(keys.k.owner, images, api.BinTargetPrefix(b))
		if err != nil {
			return fmt.Errorf("publish group %s: %w", groupID, err)
		}
		p.bins[api.BinRole(b)] = t
	}
	return s.publish(tx, GroupRepo(groupID), keys.k, p)
}

// imageTargets makes the targets of a tenant's images, named prefix + image ID.
func imageTargets(tenantID ident.TenantID, images []api.Image, prefix string) (map[string]*metadata.TargetFiles, error) {
	targets := make(map[string]*metadata.TargetFiles, len(images))
	for _, img := range images {
		if img.TenantID != "" && img.TenantID != tenantID {
			return nil, fmt.Errorf("image %s is another tenant's", img.ID)
		}
		if !ident.IsID(img.ID) {
			return nil, fmt.Errorf("image %q: not an image ID", img.ID)
		}
		custom := api.TargetCustom{ImageID: string(img.ID), ComponentID: string(img.ComponentID), Name: img.Name,
			Version: img.Version, Type: img.Type}
		name := prefix + string(img.ID)
		t, err := target(name, img.Size, img.SHA256, custom)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", img.ID, err)
		}
		targets[name] = t
	}
	return targets, nil
}

// PublishFeed makes the targets of an OS feed's repository its runtime releases, inside tx.
// Releases without an image package (no PackageSHA256) cannot be installed, and withdrawn
// releases must not be: both are left out. The repository is made on first use. keys come from
// PrepareFeed, before tx began.
func (s *Service) PublishFeed(ctx context.Context, tx *store.Tx, keys FeedKeys, feed string, releases []api.RuntimeRelease) error {
	if keys.k == nil {
		return fmt.Errorf("publish feed %s: %w", feed, ErrNotPrepared)
	}
	if !api.ValidFeed(feed) {
		return fmt.Errorf("publish feed %q: no such feed", feed)
	}
	targets := make(map[string]*metadata.TargetFiles, len(releases))
	for _, rel := range releases {
		if rel.PackageSHA256 == "" || rel.WithdrawnAt != nil {
			continue // a withdrawn release leaves the feed: no device is offered it again
		}
		if rel.Feed != "" && rel.Feed != feed {
			return fmt.Errorf("publish feed %s: release %q is of feed %s", feed, rel.Version, rel.Feed)
		}
		if !validVersion(rel.Version) {
			return fmt.Errorf("publish feed %s: release %q: version not usable as a target name", feed, rel.Version)
		}
		// Every runtime release is a package of the one runtime component.
		custom := api.TargetCustom{ImageID: string(rel.ImageID), ComponentID: api.RuntimeComponentID, Name: api.RuntimeImageName,
			Version: rel.Version, Type: api.ImageRuntime}
		name := api.TargetRuntimePrefix + rel.Version
		t, err := target(name, rel.PackageSize, rel.PackageSHA256, custom)
		if err != nil {
			return fmt.Errorf("publish feed %s: release %s: %w", feed, rel.Version, err)
		}
		if _, dup := targets[name]; dup {
			return fmt.Errorf("publish feed %s: release %q twice", feed, rel.Version)
		}
		targets[name] = t
	}
	return s.publish(tx, FeedRepo(feed), keys.k, &plan{targets: targets})
}

// target makes a target: a package of size bytes whose SHA-256 is sha256Hex.
func target(name string, size int64, sha256Hex string, custom api.TargetCustom) (*metadata.TargetFiles, error) {
	d, err := ident.ParseDigest(sha256Hex)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, fmt.Errorf("size %d", size)
	}
	raw, err := json.Marshal(custom)
	if err != nil {
		return nil, err
	}
	msg := json.RawMessage(raw)
	return &metadata.TargetFiles{Length: size, Hashes: metadata.Hashes{"sha256": d[:]}, Custom: &msg, Path: name}, nil
}

// publish gives repo, owned by keys' owner, the content p, inside tx.
func (s *Service) publish(tx *store.Tx, repo string, keys *ownerKeys, p *plan) error {
	if err := s.change(tx, repo, keys.owner, keys.roles, p); err != nil {
		return fmt.Errorf("publish %s: %w", repo, err)
	}
	return nil
}

// change locks repo (making it if needed) and writes the versions that bring it up to date:
// p's content if not nil, and renewals of whatever nears expiry or was signed with another key.
func (s *Service) change(tx *store.Tx, repo string, owner ident.TenantID, keys roleKeys, p *plan) error {
	now := s.now()
	r, _, err := tx.LockTUFRepo(repo, owner, now)
	if err != nil {
		return err
	}
	if r.Owner != owner {
		return fmt.Errorf("repository belongs to %q, not %q", r.Owner, owner)
	}
	cur, err := load(tx, repo)
	if err != nil {
		return err
	}
	files, err := advance(cur, keys, now, p)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := tx.PutTUFMetadata(repo, f.role, f.version, f.body, f.expires); err != nil {
			return err
		}
		if f.role == metadata.TIMESTAMP {
			// Devices only ever fetch the newest timestamp.
			if _, err := tx.PruneTUFMetadata(repo, f.role, f.version); err != nil {
				return err
			}
		}
	}
	return nil
}

// Refresh re-signs every repository's timestamp (and snapshot, and any other role) that expires
// within its renewal margin. The service runs it periodically.
func (s *Service) Refresh(ctx context.Context) error {
	var repos []store.TUFRepo
	err := s.st.View(ctx, func(tx *store.Tx) error {
		var err error
		repos, err = tx.TUFRepos()
		return err
	})
	if err != nil {
		return fmt.Errorf("refresh TUF repositories: %w", err)
	}
	var errs []error
	type loaded struct {
		keys *ownerKeys
		err  error
	}
	byOwner := map[ident.TenantID]loaded{}
	for _, r := range repos {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l, ok := byOwner[r.Owner]
		if !ok {
			l.keys, l.err = s.prepare(ctx, r.Owner)
			byOwner[r.Owner] = l
		}
		err := l.err
		if err == nil {
			err = s.refresh(ctx, r, l.keys.roles)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("refresh %s: %w", r.Repo, err))
		}
	}
	return errors.Join(errs...)
}

// refresh renews what in one repository is due, if anything: decided first in a read-only
// transaction, so that repositories with nothing due take no lock.
func (s *Service) refresh(ctx context.Context, r store.TUFRepo, keys roleKeys) error {
	var due bool
	err := s.st.View(ctx, func(tx *store.Tx) error {
		cur, err := load(tx, r.Repo)
		if err != nil {
			return err
		}
		files, err := advance(cur, keys, s.now(), nil)
		due = len(files) > 0
		return err
	})
	if err != nil || !due {
		return err
	}
	return s.st.Update(ctx, func(tx *store.Tx) error { return s.change(tx, r.Repo, r.Owner, keys, nil) })
}
