package tufrepo

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/server/store"
)

// lifetimes are how long each role's metadata is valid when signed, and how long before it
// expires it is signed again.
var lifetimes = map[string]struct{ valid, renew time.Duration }{
	metadata.ROOT:      {365 * 24 * time.Hour, 90 * 24 * time.Hour},
	metadata.TARGETS:   {90 * 24 * time.Hour, 30 * 24 * time.Hour},
	metadata.SNAPSHOT:  {7 * 24 * time.Hour, 3 * 24 * time.Hour},
	metadata.TIMESTAMP: {24 * time.Hour, 12 * time.Hour},
}

// errRootKeyChanged is returned when the owner's active root key is not the one the
// repository's root names: a new root would have to be signed with the old key too.
var errRootKeyChanged = errors.New("the root key changed: the new root cannot be signed with the old one")

// state is a repository's newest metadata of each role; nil where there is none yet.
type state struct {
	root      *metadata.Metadata[metadata.RootType]
	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]

	targetsBody, snapshotBody []byte // as stored, for the lengths and hashes that name them

	// bins are the newest metadata of each rollout bin role, by role name: every bin role the
	// repository ever had, since a snapshot must go on naming each (go-tuf refuses a snapshot
	// that drops a role its predecessor named).
	bins map[string]binFile
}

// binFile is a bin role's newest metadata and its body.
type binFile struct {
	md   *metadata.Metadata[metadata.TargetsType]
	body []byte
}

// load reads repo's newest metadata.
func load(tx *store.Tx, repo string) (state, error) {
	var cur state
	read := func(role string) ([]byte, error) {
		f, err := tx.TUFMetadata(repo, role, 0)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return f.Body, err
	}
	var err error
	body, err := read(metadata.ROOT)
	if err == nil && body != nil {
		cur.root, err = metadata.Root().FromBytes(body)
	}
	if err == nil {
		cur.targetsBody, err = read(metadata.TARGETS)
	}
	if err == nil && cur.targetsBody != nil {
		cur.targets, err = metadata.Targets().FromBytes(cur.targetsBody)
	}
	if err == nil {
		cur.snapshotBody, err = read(metadata.SNAPSHOT)
	}
	if err == nil && cur.snapshotBody != nil {
		cur.snapshot, err = metadata.Snapshot().FromBytes(cur.snapshotBody)
	}
	if err == nil {
		body, err = read(metadata.TIMESTAMP)
	}
	if err == nil && body != nil {
		cur.timestamp, err = metadata.Timestamp().FromBytes(body)
	}
	if err == nil {
		cur.bins, err = loadBins(tx, repo)
	}
	if err != nil {
		return state{}, fmt.Errorf("load TUF metadata of %s: %w", repo, err)
	}
	return cur, nil
}

// loadBins reads the newest metadata of each of repo's bin roles.
func loadBins(tx *store.Tx, repo string) (map[string]binFile, error) {
	fs, err := tx.TUFRolesNewest(repo, "bin-")
	if err != nil {
		return nil, err
	}
	bins := make(map[string]binFile, len(fs))
	for _, f := range fs {
		if _, ok := api.ParseBinRole(f.Role); !ok {
			continue
		}
		md, err := metadata.Targets().FromBytes(f.Body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Role, err)
		}
		bins[f.Role] = binFile{md: md, body: f.Body}
	}
	return bins, nil
}

// plan is the content a change gives a group's repository: the top-level targets and, for a
// rollout, the deployment it names and the targets of every bin role.
type plan struct {
	targets map[string]*metadata.TargetFiles
	rollout *api.RolloutMeta
	bins    map[string]map[string]*metadata.TargetFiles // by role name; with rollout only
	urgent  bool                                        // api.TargetsUrgentField
}

// file is a signed metadata file to store.
type file struct {
	role    string
	version int64
	body    []byte
	expires time.Time
}

// advance returns the metadata that brings cur up to date at now, in the order to store it:
// for each role, a new version if there is none yet, if it expires within its renewal margin,
// or if it was signed with another key than keys holds; new targets (and so a new snapshot and
// timestamp) if p is not nil, and new versions of the bin roles whose targets p changes; and a
// new snapshot or timestamp whenever what it names changed. Nothing if nothing is due.
// Versions only increase.
func advance(cur state, keys roleKeys, now time.Time, p *plan) ([]file, error) {
	a := advancer{now: now.UTC(), keys: keys}
	// The root names every role's key.
	if cur.root != nil && !names(cur.root, metadata.ROOT, keys) {
		return nil, errRootKeyChanged
	}
	one := func(step func(*state) (*file, error)) func(*state) ([]file, error) {
		return func(cur *state) ([]file, error) {
			f, err := step(cur)
			if f == nil {
				return nil, err
			}
			return []file{*f}, err
		}
	}
	steps := []func(*state) ([]file, error){
		one(a.root),
		one(func(cur *state) (*file, error) { return a.targets(cur, p) }),
		func(cur *state) ([]file, error) { return a.bins(cur, p) },
		one(a.snapshot),
		one(a.timestamp),
	}
	var out []file
	for _, step := range steps {
		fs, err := step(&cur)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

// advancer makes the new versions of [advance], each role's from the state the previous role
// left: a new targets version makes a new snapshot, which makes a new timestamp.
type advancer struct {
	now     time.Time
	keys    roleKeys
	changed bool // a role that the next one names has a new version
}

func (a *advancer) expires(role string) time.Time {
	return a.now.Add(lifetimes[role].valid).Truncate(time.Second)
}

// due reports whether metadata of role that expires at exp, with sigs, must be signed again.
func (a *advancer) due(role string, exp time.Time, sigs []metadata.Signature) bool {
	return exp.Sub(a.now) < lifetimes[role].renew || len(sigs) != 1 || sigs[0].KeyID != a.keys[role].id
}

// root signs a new root if there is none, it is due, or it does not name every key.
func (a *advancer) root(cur *state) (*file, error) {
	r := cur.root
	if r != nil && !a.due(metadata.ROOT, r.Signed.Expires, r.Signatures) && namesAll(r, a.keys) {
		return nil, nil
	}
	root := metadata.Root(a.expires(metadata.ROOT))
	if r != nil {
		root.Signed.Version = r.Signed.Version + 1
	}
	root.Signed.ConsistentSnapshot = true
	for _, p := range purposes {
		if err := root.Signed.AddKey(a.keys[p.role].key, p.role); err != nil {
			return nil, err
		}
	}
	f, _, err := sign(root, metadata.ROOT, root.Signed.Version, root.Signed.Expires, a.keys)
	return &f, err
}

// targets signs new targets if there are none, p is not nil, or they are due; they are p's, or
// the current ones. Targets of a rollout delegate every bin to its role ([delegations]) and
// name the deployment in api.TargetsRolloutField.
func (a *advancer) targets(cur *state, p *plan) (*file, error) {
	t := cur.targets
	if t != nil && p == nil && !a.due(metadata.TARGETS, t.Signed.Expires, t.Signatures) {
		return nil, nil
	}
	next := metadata.Targets(a.expires(metadata.TARGETS))
	var targets map[string]*metadata.TargetFiles
	var rollout *api.RolloutMeta
	var urgent bool
	if p != nil {
		targets, rollout, urgent = p.targets, p.rollout, p.urgent
	}
	if t != nil {
		next.Signed.Version = t.Signed.Version + 1
		if p == nil {
			targets = t.Signed.Targets
			urgent = t.Signed.UnrecognizedFields[api.TargetsUrgentField] == true
			var err error
			if rollout, err = rolloutOf(t); err != nil {
				return nil, err
			}
		}
	}
	next.Signed.Targets = maps.Clone(targets)
	if next.Signed.Targets == nil {
		next.Signed.Targets = map[string]*metadata.TargetFiles{}
	}
	if rollout != nil {
		next.Signed.Delegations = a.delegations()
		next.Signed.UnrecognizedFields = map[string]any{api.TargetsRolloutField: *rollout}
	}
	if urgent {
		if next.Signed.UnrecognizedFields == nil {
			next.Signed.UnrecognizedFields = map[string]any{}
		}
		next.Signed.UnrecognizedFields[api.TargetsUrgentField] = true
	}
	f, body, err := sign(next, metadata.TARGETS, next.Signed.Version, next.Signed.Expires, a.keys)
	if err != nil {
		return nil, err
	}
	cur.targets, cur.targetsBody, a.changed = next, body, true
	return &f, nil
}

// snapshot signs a new snapshot, naming the targets version, if there is none, the targets
// changed, or it is due.
func (a *advancer) snapshot(cur *state) (*file, error) {
	s := cur.snapshot
	if s != nil && !a.changed && !a.due(metadata.SNAPSHOT, s.Signed.Expires, s.Signatures) {
		return nil, nil
	}
	next := metadata.Snapshot(a.expires(metadata.SNAPSHOT))
	if s != nil {
		next.Signed.Version = s.Signed.Version + 1
	}
	next.Signed.Meta = map[string]*metadata.MetaFiles{"targets.json": metaFile(cur.targets.Signed.Version, cur.targetsBody)}
	for name, b := range cur.bins {
		next.Signed.Meta[name+".json"] = metaFile(b.md.Signed.Version, b.body)
	}
	f, body, err := sign(next, metadata.SNAPSHOT, next.Signed.Version, next.Signed.Expires, a.keys)
	if err != nil {
		return nil, err
	}
	cur.snapshot, cur.snapshotBody, a.changed = next, body, true
	return &f, nil
}

// timestamp signs a new timestamp, naming the snapshot version, if there is none, the
// snapshot changed, or it is due.
func (a *advancer) timestamp(cur *state) (*file, error) {
	ts := cur.timestamp
	if ts != nil && !a.changed && !a.due(metadata.TIMESTAMP, ts.Signed.Expires, ts.Signatures) {
		return nil, nil
	}
	next := metadata.Timestamp(a.expires(metadata.TIMESTAMP))
	if ts != nil {
		next.Signed.Version = ts.Signed.Version + 1
	}
	next.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": metaFile(cur.snapshot.Signed.Version, cur.snapshotBody)}
	f, _, err := sign(next, metadata.TIMESTAMP, next.Signed.Version, next.Signed.Expires, a.keys)
	return &f, err
}

// delegations delegates each rollout bin's target paths, "bins/NN/*", to its own role, signed
// with the targets key. Each is terminating: a device of bin NN asks for a path of its own bin,
// which only bin NN's role may answer.
func (a *advancer) delegations() *metadata.Delegations {
	k := a.keys[metadata.TARGETS]
	d := &metadata.Delegations{Keys: map[string]*metadata.Key{k.id: k.key}}
	for b := range api.RolloutBins {
		d.Roles = append(d.Roles, metadata.DelegatedRole{Name: api.BinRole(b), KeyIDs: []string{k.id}, Threshold: 1,
			Terminating: true, Paths: []string{api.BinTargetPrefix(b) + "*"}})
	}
	return d
}

// bins signs a new version of each bin role whose targets p changes, and of each that is due.
func (a *advancer) bins(cur *state, p *plan) ([]file, error) {
	var want map[string]map[string]*metadata.TargetFiles
	if p != nil {
		want = p.bins
	}
	names := slices.Sorted(maps.Keys(cur.bins))
	for name := range want {
		if _, ok := cur.bins[name]; !ok {
			names = append(names, name)
		}
	}
	var out []file
	for _, name := range names {
		old, had := cur.bins[name]
		targets, set := want[name]
		due := had && a.due(metadata.TARGETS, old.md.Signed.Expires, old.md.Signatures)
		switch {
		case !set && !due:
			continue
		case !set:
			targets = old.md.Signed.Targets
		case had && !due && sameTargets(old.md.Signed.Targets, targets):
			continue
		}
		next := metadata.Targets(a.expires(metadata.TARGETS))
		if had {
			next.Signed.Version = old.md.Signed.Version + 1
		}
		next.Signed.Targets = maps.Clone(targets)
		if next.Signed.Targets == nil {
			next.Signed.Targets = map[string]*metadata.TargetFiles{}
		}
		f, body, err := sign(next, metadata.TARGETS, next.Signed.Version, next.Signed.Expires, a.keys)
		if err != nil {
			return nil, err
		}
		f.role = name
		if cur.bins == nil {
			cur.bins = map[string]binFile{}
		}
		cur.bins[name] = binFile{md: next, body: body}
		a.changed = true
		out = append(out, f)
	}
	return out, nil
}

// sameTargets reports whether two targets maps say the same.
func sameTargets(a, b map[string]*metadata.TargetFiles) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && string(ja) == string(jb)
}

// rolloutOf returns the rollout that targets metadata names, nil if none.
func rolloutOf(t *metadata.Metadata[metadata.TargetsType]) (*api.RolloutMeta, error) {
	v, ok := t.Signed.UnrecognizedFields[api.TargetsRolloutField]
	if !ok {
		return nil, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var r api.RolloutMeta
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("targets metadata: %s: %w", api.TargetsRolloutField, err)
	}
	return &r, nil
}

// names reports whether root names exactly keys' key for role.
func names(root *metadata.Metadata[metadata.RootType], role string, keys roleKeys) bool {
	r, ok := root.Signed.Roles[role]
	return ok && len(r.KeyIDs) == 1 && r.KeyIDs[0] == keys[role].id && r.Threshold == 1
}

// namesAll reports whether root names exactly keys, one for each role.
func namesAll(root *metadata.Metadata[metadata.RootType], keys roleKeys) bool {
	for _, p := range purposes {
		if !names(root, p.role, keys) {
			return false
		}
	}
	return true
}

// metaFile describes a metadata file in snapshot or timestamp metadata: its version, length
// and SHA-256.
func metaFile(version int64, body []byte) *metadata.MetaFiles {
	h := sha256.Sum256(body)
	return &metadata.MetaFiles{Version: version, Length: int64(len(body)), Hashes: metadata.Hashes{"sha256": h[:]}}
}

// signer is the metadata of any role.
type signer interface {
	Sign(signature.Signer) (*metadata.Signature, error)
	ToBytes(pretty bool) ([]byte, error)
}

// sign signs md with role's key and returns it as a file to store, and its body.
func sign(md signer, role string, version int64, expires time.Time, keys roleKeys) (file, []byte, error) {
	if _, err := md.Sign(keys[role].signer); err != nil {
		return file{}, nil, fmt.Errorf("sign %s: %w", role, err)
	}
	body, err := md.ToBytes(false)
	if err != nil {
		return file{}, nil, fmt.Errorf("encode %s: %w", role, err)
	}
	return file{role: role, version: version, body: body, expires: expires}, body, nil
}
