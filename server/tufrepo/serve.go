package tufrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// maxPath bounds the path a device may ask for.
const maxPath = 512

// ErrNotFound answers every request for a file the device may not read or that does not exist,
// alike, so that a device learns nothing of other repositories. It wraps [store.ErrNotFound].
var ErrNotFound = fmt.Errorf("TUF file: %w", store.ErrNotFound)

// request is what a device asks for: a repository's metadata (role set) or a target.
type request struct {
	kind, name string // "group" and a group ID, or "feed" and a feed
	role       string // metadata role, or "" for a target
	version    int64  // of the metadata; 0 for the newest
	target     string // target name
	sha256     string // the hash prefix of a target's name, lowercase hex, if the device gave one
}

func (q request) repo() string { return q.kind + "/" + q.name }

// parse parses the path after DevicePathTUF: repo + "/" + file, where repo is "group/" + a
// group ID or "feed/" + a feed, and file is "[N.]root.json", "timestamp.json",
// "[N.]snapshot.json", "[N.]targets.json" or "targets/" + a target name, whose last element
// may be prefixed with its SHA-256 and a dot (consistent snapshots, as go-tuf asks for targets).
func parse(path string) (request, bool) {
	var q request
	if len(path) > maxPath {
		return q, false
	}
	q.kind, path, _ = strings.Cut(path, "/")
	q.name, path, _ = strings.Cut(path, "/")
	switch {
	case q.kind == "group" && ident.IsID(q.name):
	case q.kind == "feed" && api.ValidFeed(q.name):
	default:
		return q, false
	}
	if name, ok := strings.CutPrefix(path, "targets/"); ok {
		return q.parseTarget(name)
	}
	return q.parseMetadata(path)
}

// parseTarget sets q's target from name, a target name whose base may be prefixed with its
// SHA-256 and a dot.
func (q request) parseTarget(name string) (request, bool) {
	dir, base := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i+1], name[i+1:]
	}
	if len(base) > 65 && base[64] == '.' && isLowerHex(base[:64]) {
		q.sha256, base = base[:64], base[65:]
	}
	q.target = dir + base
	return q, base != ""
}

// parseMetadata sets q's role and version from file: "timestamp.json", or "[N.]root.json",
// "[N.]snapshot.json" or "[N.]targets.json".
func (q request) parseMetadata(file string) (request, bool) {
	if file == "timestamp.json" {
		q.role = metadata.TIMESTAMP
		return q, true
	}
	version, role, versioned := strings.Cut(strings.TrimSuffix(file, ".json"), ".")
	if !versioned {
		version, role = "", version
	}
	_, bin := api.ParseBinRole(role)
	if !strings.HasSuffix(file, ".json") || role != metadata.ROOT && role != metadata.SNAPSHOT && role != metadata.TARGETS && !bin {
		return q, false
	}
	if bin && q.kind != "group" {
		return q, false
	}
	q.role = role
	if versioned {
		n, err := strconv.ParseInt(version, 10, 64)
		if err != nil || n < 1 || strconv.FormatInt(n, 10) != version {
			return q, false
		}
		q.version = n
	}
	return q, true
}

// allowed reports whether dev may read q's repository: its own group's, or any OS feed's.
func allowed(dev api.Device, q request) bool {
	return q.kind == "feed" || dev.GroupID != "" && q.name == string(dev.GroupID)
}

// File is a file of a device's TUF repository, as [Service.Open] finds it: metadata or a
// target.
type File struct {
	// Metadata is a metadata file's JSON; nil for a target.
	Metadata []byte
	// Newest is true for metadata asked for without a version: the newest, which changes, so a
	// cache must check it again.
	Newest bool
	// Target is a target's content, nil for metadata. The caller closes it.
	Target io.ReadSeekCloser
	// Digest is a target's SHA-256, which names its content.
	Digest ident.Digest
}

// Open finds the file a device asks for with a GET of DevicePathTUF + repo + "/" + file:
// metadata from the store, target packages from the blob store. A device may read only its own
// group's repository and OS feeds' repositories.
//
// A file that does not exist or that dev may not read is [ErrNotFound], the same for both;
// any other error is an internal fault.
func (s *Service) Open(ctx context.Context, dev api.Device, path string) (File, error) {
	q, ok := parse(path)
	if !ok || !allowed(dev, q) {
		return File{}, ErrNotFound
	}
	role := q.role
	if role == "" {
		role = metadata.TARGETS // a target of the newest targets metadata
		if bin, ok := targetBin(q.target); ok {
			role = api.BinRole(bin) // …or of the newest metadata of its bin
		}
	}
	var f store.TUFFile
	err := s.st.View(ctx, func(tx *store.Tx) error {
		if bin, ok := api.ParseBinRole(role); ok {
			if err := binAllowed(tx, q.repo(), dev.ID, bin); err != nil {
				return err
			}
		}
		var err error
		f, err = tx.TUFMetadata(q.repo(), role, q.version)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return File{}, ErrNotFound
	}
	if err != nil {
		return File{}, err
	}
	if q.role == "" {
		return s.openTarget(q, f.Body)
	}
	return File{Metadata: f.Body, Newest: q.version == 0}, nil
}

// targetBin returns the bin of a target named "bins/NN/…", and whether it is one.
func targetBin(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "bins/")
	if !ok || len(rest) < 3 || rest[2] != '/' {
		return 0, false
	}
	return api.ParseBinRole("bin-" + rest[:2])
}

// binAllowed returns nil if device is in bin of the rollout that repo's newest targets name,
// or the targets just before them, else store.ErrNotFound: a device reads its own bin's role
// and targets alone, so a device not reached yet learns nothing of the deployment on its way
// (RATIONALE.md). The targets before the newest count too because a device may be walking them
// when a rollout moves on (a promotion that completes it publishes targets without bins): its
// refresh must not fail, and count as a failed install, for a change it did not see yet.
func binAllowed(tx *store.Tx, repo string, device ident.DeviceID, bin int) error {
	f, err := tx.TUFMetadata(repo, metadata.TARGETS, 0)
	if err != nil {
		return err
	}
	t, err := metadata.Targets().FromBytes(f.Body)
	if err != nil {
		return fmt.Errorf("TUF targets of %s: %w", repo, err)
	}
	if ok, err := inBin(t, device, bin); ok || err != nil {
		return err
	}
	if t.Signed.Version <= 1 {
		return store.ErrNotFound
	}
	f, err = tx.TUFMetadata(repo, metadata.TARGETS, t.Signed.Version-1)
	if errors.Is(err, store.ErrNotFound) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	if t, err = metadata.Targets().FromBytes(f.Body); err != nil {
		return fmt.Errorf("TUF targets of %s: %w", repo, err)
	}
	if ok, err := inBin(t, device, bin); ok || err != nil {
		return err
	}
	return store.ErrNotFound
}

// inBin reports whether device is in bin of the rollout that targets t name.
func inBin(t *metadata.Metadata[metadata.TargetsType], device ident.DeviceID, bin int) (bool, error) {
	r, err := rolloutOf(t)
	if err != nil {
		return false, err
	}
	return r != nil && api.RolloutBin(ident.DeploymentID(r.DeploymentID), device) == bin, nil
}

// openTarget opens the target q asks for, of the targets metadata body.
func (s *Service) openTarget(q request, body []byte) (File, error) {
	targets, err := metadata.Targets().FromBytes(body)
	if err != nil {
		return File{}, fmt.Errorf("TUF targets of %s: %w", q.repo(), err)
	}
	t, ok := targets.Signed.Targets[q.target]
	if !ok {
		return File{}, ErrNotFound
	}
	var d ident.Digest
	if sum := t.Hashes["sha256"]; len(sum) == len(d) {
		copy(d[:], sum)
	} else {
		return File{}, fmt.Errorf("TUF target %s of %s has no SHA-256", q.target, q.repo())
	}
	if q.sha256 != "" && q.sha256 != d.String() {
		return File{}, ErrNotFound
	}
	blob, err := s.blobs.Open(d)
	if err != nil {
		return File{}, fmt.Errorf("TUF target %s of %s: %w", q.target, q.repo(), err)
	}
	info, err := blob.Stat()
	if err == nil && info.Size() != t.Length {
		err = fmt.Errorf("blob %s has %d bytes, not %d", d, info.Size(), t.Length)
	}
	if err != nil {
		blob.Close()
		return File{}, fmt.Errorf("TUF target %s of %s: %w", q.target, q.repo(), err)
	}
	return File{Target: blob, Digest: d}, nil
}

// validVersion reports whether a runtime version can be a target name's last element: 1 to 64
// letters, digits and ".+-_", not starting with a dot. (So no target name's last element is
// as long as a SHA-256 prefix and a dot: parse cannot mistake one for the other.)
func validVersion(v string) bool {
	if len(v) == 0 || len(v) > 64 || v[0] == '.' {
		return false
	}
	for _, c := range []byte(v) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".+-_", c) >= 0) {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
