package update

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
)

// MaxRootSize bounds a root metadata file (go-tuf's default).
const MaxRootSize = 512000

// checkRepo accepts the repository names of api.UpdateInfo: "group/" and a lowercase UUID, or
// "feed/" and a feed's name. They become folder names under tuf/.
func checkRepo(repo string) error {
	kind, name, _ := strings.Cut(repo, "/")
	switch {
	case kind == "group" && ident.IsID(name), kind == "feed" && api.ValidFeed(name):
		return nil
	}
	return fmt.Errorf("invalid repository %.80q", repo)
}

// repo is a refreshed TUF repository: its targets are trusted.
type repo struct {
	name    string
	targets map[string]*metadata.TargetFiles
	// prefix is what the names of its image targets start with: api.TargetImagePrefix, or
	// during a rollout the prefix of the device's bin.
	prefix string
	urgent bool // the signed top-level targets say the deployment is urgent
}

// refresh runs the TUF client workflow on the repository name (DESIGN section 5 step 5; TUF
// specification section 5.3 to 5.6, by go-tuf's updater) and returns its trusted targets.
//
// The trusted root is tuf/<name>/root.json. On the first use of a repository there is none: it
// is fetched as "1.root.json" over the mutually authenticated channel (the service's TLS
// certificate chains to the CA pinned at init), which is the trust on first use that the TUF
// specification leaves to the client. After that go-tuf walks the chain of newer roots from
// the one kept, each signed by the previous, and keeps the newest in root.json. A device that
// changes group follows a new repository, with a new first root.
func (c *Client) refresh(ctx context.Context, name string) (*repo, error) {
	if err := checkRepo(name); err != nil {
		return nil, err
	}
	dir := c.Dir.Path(state.DirTUF, filepath.FromSlash(name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f := &fetcher{ctx: ctx, c: c.HTTP}
	base := c.ServiceURL + api.DevicePathTUF + name
	root, err := state.ReadFile(filepath.Join(dir, "root.json"), MaxRootSize)
	if errors.Is(err, fs.ErrNotExist) {
		if root, err = f.DownloadFile(base+"/1.root.json", MaxRootSize, 0); err != nil {
			return nil, fmt.Errorf("fetch the first root of %s: %w", name, err)
		}
		c.logf("trusting the first root of TUF repository %s, fetched over mutual TLS", name)
	} else if err != nil {
		return nil, fmt.Errorf("trusted root of %s: %w", name, err)
	}
	cfg, err := config.New(base, root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = dir
	cfg.LocalTargetsDir = dir // unused: targets are downloaded by [Client.download]
	cfg.Fetcher = f
	up, err := updater.New(cfg)
	if err == nil {
		err = up.Refresh()
	}
	syncDir(dir) // go-tuf renames its files into place without syncing them
	if err != nil {
		if errors.Is(err, &metadata.ErrRepository{}) || errors.Is(err, &metadata.ErrLengthOrHashMismatch{}) ||
			errors.Is(err, &metadata.ErrDownloadLengthMismatch{}) || errors.Is(err, &metadata.ErrValue{}) ||
			errors.Is(err, &metadata.ErrType{}) {
			err = fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return nil, fmt.Errorf("TUF refresh of %s: %w", name, err)
	}
	if ts := up.GetTrustedMetadataSet().Timestamp; ts != nil {
		if exp := ts.Signed.Expires; c.expires.IsZero() || exp.Before(c.expires) {
			c.expires = exp
		}
	}
	if kind, _, _ := strings.Cut(name, "/"); kind == "group" {
		dev, err := c.Dir.ReadDevice()
		if err != nil {
			return nil, err
		}
		targets, prefix, err := RolloutTargets(up, dev.DeviceID)
		if err != nil {
			return nil, fmt.Errorf("TUF refresh of %s: %w", name, err)
		}
		urgent := up.GetTrustedMetadataSet().Targets[metadata.TARGETS].Signed.UnrecognizedFields[api.TargetsUrgentField] == true
		return &repo{name: name, targets: targets, prefix: prefix, urgent: urgent}, nil
	}
	return &repo{name: name, targets: up.GetTopLevelTargets(), prefix: api.TargetImagePrefix}, nil
}

// RolloutTargets returns the targets the device follows in its group's refreshed repository,
// and the prefix of their names. Without a rollout they are the top-level targets. During one
// (the top-level targets name its deployment in api.TargetsRolloutField, signed), they are
// those of the delegated role of the device's own bin, api.RolloutBin of the deployment and
// the device ID: go-tuf loads that role, and only it, while it looks for a path of the bin,
// checking it against the snapshot (version, length, hashes) and the delegation's key. Every
// target of the role must be named in the bin's own paths, "bins/NN/…": a role's metadata
// served as another bin's, or a delegation that would have the device follow another bin,
// is refused.
func RolloutTargets(up *updater.Updater, device ident.DeviceID) (map[string]*metadata.TargetFiles, string, error) {
	top := up.GetTrustedMetadataSet().Targets[metadata.TARGETS]
	raw, ok := top.Signed.UnrecognizedFields[api.TargetsRolloutField]
	if !ok {
		return top.Signed.Targets, api.TargetImagePrefix, nil
	}
	var meta api.RolloutMeta
	b, err := json.Marshal(raw)
	if err == nil {
		err = strictjson.DecodeAnswer(b, &meta)
	}
	if err != nil || !ident.IsID(meta.DeploymentID) || meta.Bins != api.RolloutBins {
		return nil, "", fmt.Errorf("%w: the targets metadata names an invalid rollout", ErrRefused)
	}
	bin := api.RolloutBin(ident.DeploymentID(meta.DeploymentID), device)
	prefix, role := api.BinTargetPrefix(bin), api.BinRole(bin)
	_, lookErr := up.GetTargetInfo(prefix + "index") // not a target: only loads the role
	bt := up.GetTrustedMetadataSet().Targets[role]
	if bt == nil {
		if lookErr == nil || !isTUFRefusal(lookErr) {
			return nil, "", fmt.Errorf("%w: no trusted metadata for rollout role %s: %v", ErrRefused, role, lookErr)
		}
		return nil, "", fmt.Errorf("%w: rollout role %s: %w", ErrRefused, role, lookErr)
	}
	for name := range bt.Signed.Targets {
		if !strings.HasPrefix(name, prefix) || strings.Count(name, "/") != 2 {
			return nil, "", fmt.Errorf("%w: rollout role %s names target %.120q, outside its bin's paths %s*", ErrRefused, role, name, prefix)
		}
	}
	return bt.Signed.Targets, prefix, nil
}

// isTUFRefusal reports whether err says that metadata is not what it should be.
func isTUFRefusal(err error) bool {
	return errors.Is(err, &metadata.ErrRepository{}) || errors.Is(err, &metadata.ErrLengthOrHashMismatch{}) ||
		errors.Is(err, &metadata.ErrDownloadLengthMismatch{}) || errors.Is(err, &metadata.ErrValue{}) ||
		errors.Is(err, &metadata.ErrType{}) || errors.Is(err, &metadata.ErrUnsignedMetadata{}) ||
		errors.Is(err, &metadata.ErrBadVersionNumber{}) || errors.Is(err, &metadata.ErrExpiredMetadata{})
}

// syncDir makes the files of dir and its entries durable, best effort.
func syncDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type().IsRegular() {
			if f, err := os.Open(filepath.Join(dir, e.Name())); err == nil {
				f.Sync()
				f.Close()
			}
		}
	}
	state.SyncDir(dir)
}

// forgetOtherGroups removes the trusted metadata of group repositories other than current: a
// device that changes group trusts its new group's first root afresh.
func (c *Client) forgetOtherGroups(current string) {
	groups := c.Dir.Path(state.DirTUF, "group")
	entries, err := os.ReadDir(groups)
	if err != nil {
		return
	}
	for _, e := range entries {
		if "group/"+e.Name() != current {
			os.RemoveAll(filepath.Join(groups, e.Name()))
		}
	}
}

// fetcher is go-tuf's [fetcher.Fetcher] over the client's mutual-TLS connection.
type fetcher struct {
	ctx context.Context
	c   *http.Client
}

// DownloadFile implements go-tuf's Fetcher: it reads at most maxLength bytes.
func (f *fetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.c.Do(req)
	if err != nil {
		return nil, &metadata.ErrDownload{Msg: err.Error()}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: url}
	}
	if resp.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is %d bytes, more than %d", url, resp.ContentLength, maxLength)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	if err != nil {
		return nil, &metadata.ErrDownload{Msg: err.Error()}
	}
	if int64(len(b)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is more than %d bytes", url, maxLength)}
	}
	return b, nil
}

// target is a TUF target of a Rampart repository, checked.
type target struct {
	name   string
	info   *metadata.TargetFiles
	custom api.TargetCustom
	sha256 ident.Digest
}

// listTargets returns the targets of r whose names start with prefix, with their custom
// metadata checked: the name is prefix + the image ID for images, prefix + the version for
// runtimes (so a name is safe in a URL path), the type is want, and the length and SHA-256 are
// given.
func (r *repo) listTargets(prefix, want string) ([]target, error) {
	var out []target
	for name, tf := range r.targets {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		t := target{name: name, info: tf}
		if tf.Custom == nil {
			return nil, fmt.Errorf("%w: target %.120s of %s has no custom metadata", ErrRefused, name, r.name)
		}
		if err := strictjson.DecodeAnswer(*tf.Custom, &t.custom); err != nil {
			return nil, fmt.Errorf("%w: target %.120s of %s: custom metadata: %v", ErrRefused, name, r.name, err)
		}
		cu := t.custom
		switch {
		case !ident.IsID(cu.ImageID) || !ident.IsID(cu.ComponentID):
			return nil, fmt.Errorf("%w: target %.120s of %s: invalid image or component ID", ErrRefused, name, r.name)
		case cu.Type != want:
			return nil, fmt.Errorf("%w: target %.120s of %s is of type %.20q, want %s", ErrRefused, name, r.name, cu.Type, want)
		case imagepkg.ValidateVersion(cu.Version) != nil:
			return nil, fmt.Errorf("%w: target %.120s of %s has an invalid version", ErrRefused, name, r.name)
		case want == api.ImageRuntime && cu.ComponentID != api.RuntimeComponentID:
			return nil, fmt.Errorf("%w: target %.120s of %s is not of the runtime's component", ErrRefused, name, r.name)
		case want == api.ImageApplication && name != prefix+cu.ImageID,
			prefix == api.TargetRuntimePrefix && name != prefix+cu.Version:
			return nil, fmt.Errorf("%w: target %.120s of %s names image %s version %s", ErrRefused, name, r.name, cu.ImageID, cu.Version)
		case tf.Length <= 0 || tf.Length > api.MaxImageSize:
			return nil, fmt.Errorf("%w: target %.120s of %s has length %d", ErrRefused, name, r.name, tf.Length)
		}
		sum := tf.Hashes["sha256"]
		if len(sum) != len(t.sha256) {
			return nil, fmt.Errorf("%w: target %.120s of %s has no SHA-256", ErrRefused, name, r.name)
		}
		copy(t.sha256[:], sum)
		out = append(out, t)
	}
	return out, nil
}

// newest returns the target of the highest version ([compareVersions]); ties go to the
// greater image ID, so that every device chooses the same.
func newest(ts []target) (target, bool) {
	var best target
	for i, t := range ts {
		if c := compareVersions(t.custom.Version, best.custom.Version); i == 0 || c > 0 || c == 0 && t.custom.ImageID > best.custom.ImageID {
			best = t
		}
	}
	return best, len(ts) > 0
}

// compareVersions compares two versions field by field, fields separated by '.', '-' or '+':
// numerically when both fields are numbers, else as text; a version that runs out of fields
// first is the lower.
func compareVersions(a, b string) int {
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' || r == '+' })
	}
	fa, fb := split(a), split(b)
	for i := 0; i < len(fa) && i < len(fb); i++ {
		na, ea := strconv.ParseUint(fa[i], 10, 64)
		nb, eb := strconv.ParseUint(fb[i], 10, 64)
		switch {
		case ea == nil && eb == nil && na != nb:
			if na < nb {
				return -1
			}
			return 1
		case (ea != nil || eb != nil) && fa[i] != fb[i]:
			return strings.Compare(fa[i], fb[i])
		}
	}
	return len(fa) - len(fb)
}

// parseKeys parses PEM public keys (ECDSA P-256) and indexes them by image-package key ID.
func parseKeys(pems []string) (map[string]*ecdsa.PublicKey, error) {
	if len(pems) > state.MaxRuntimeKeys {
		return nil, fmt.Errorf("%d keys, want at most %d", len(pems), state.MaxRuntimeKeys)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(pems))
	for _, p := range pems {
		blk, rest := pem.Decode([]byte(p))
		if blk == nil || blk.Type != "PUBLIC KEY" || len(strings.TrimSpace(string(rest))) != 0 {
			return nil, errors.New("want one PEM PUBLIC KEY block each")
		}
		pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return nil, errors.New("want ECDSA P-256 keys")
		}
		keys[keyID(k)] = k
	}
	return keys, nil
}
