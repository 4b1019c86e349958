package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
)

// ProductName is the product the simulator puts its devices in; they go in its Field Test
// group, whose devices take every update.
const (
	ProductName = "rampart-sim"
	GroupName   = "Field Test"
)

// RuntimeVersion is the version under which the simulator publishes its runtime release, in
// the RetailEval feed, when no --runtime is given: a version below any real release, so that
// no device takes it for an update.
const RuntimeVersion = "0.0.0-sim"

// fleet is what the simulated devices share: the service, and the objects made for them.
type fleet struct {
	server   string
	caPEM    []byte
	caDigest ident.Digest
	admin    *client.Client
	group    ident.GroupID
	runtime  [64]byte // SHA-512 of the runtime the devices run
	image    api.Image
}

// prepare finds or makes the product, the runtime release, the image and the deployment that
// the simulated devices use. It is idempotent: a second run with the same seed finds them.
func prepare(ctx context.Context, cfg Config, admin *client.Client) (*fleet, error) {
	f := &fleet{server: strings.TrimSuffix(cfg.Server, "/"), caPEM: cfg.CAPEM, caDigest: sha256.Sum256(cfg.CAPEM), admin: admin}
	if _, err := admin.Product(ctx, ProductName); client.IsNotFound(err) {
		_, err = admin.CreateProduct(ctx, api.CreateProductRequest{Name: ProductName, Description: "devices simulated by rampart-sim"})
		if err != nil {
			return nil, fmt.Errorf("create product %s: %w", ProductName, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("find product %s: %w", ProductName, err)
	}
	gs, err := admin.Groups(ctx, ProductName, GroupName)
	if err != nil || len(gs) != 1 {
		return nil, fmt.Errorf("find device group %s/%s: %v", ProductName, GroupName, err)
	}
	f.group = gs[0].ID
	if err := f.prepareRuntime(ctx, cfg.Runtime); err != nil {
		return nil, err
	}
	if cfg.ImageSize > 0 {
		if err := f.prepareImage(ctx, cfg.Seed, cfg.ImageSize); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// prepareRuntime measures the runtime the devices run and publishes it if no release has it.
func (f *fleet) prepareRuntime(ctx context.Context, runtime []byte) error {
	feed, version := api.FeedRetailEval, RuntimeVersion
	if runtime == nil {
		runtime = []byte("rampart-sim: the runtime that simulated devices measure; it does not run\n")
	}
	f.runtime = sha512.Sum512(runtime)
	want := hex.EncodeToString(f.runtime[:])
	for _, fd := range []string{api.FeedRetail, api.FeedRetailEval} {
		rels, err := f.admin.Releases(ctx, fd)
		if err != nil {
			return fmt.Errorf("list the runtime releases: %w", err)
		}
		for _, r := range rels {
			if r.SHA512 == want && r.WithdrawnAt == nil {
				return nil
			}
			if r.Version == version && fd == feed {
				version += "." + want[:8] // another runtime took the version
			}
		}
	}
	_, err := f.admin.PublishRelease(ctx, feed, version, bytes.NewReader(runtime), int64(len(runtime)))
	if err != nil {
		return fmt.Errorf("publish the simulated devices' runtime (as the operator; or give --runtime, a published release): %w", err)
	}
	return nil
}

// prepareImage adds an application image of size payload bytes, its ID and content derived
// from the seed, and deploys it to the group unless the group's newest deployment has it.
func (f *fleet) prepareImage(ctx context.Context, seed []byte, size int64) error {
	id := ident.ImageID(uuidFrom(seed, fmt.Sprintf("image %d", size)))
	im, err := f.admin.Image(ctx, id)
	if client.IsNotFound(err) {
		im, err = f.addImage(ctx, seed, id, size)
	}
	if err != nil {
		return fmt.Errorf("simulated app image: %w", err)
	}
	f.image = im
	ds, err := f.admin.Deployments(ctx, f.group)
	if err != nil {
		return fmt.Errorf("list deployments: %w", err)
	}
	if len(ds) > 0 {
		newest := ds[0]
		for _, d := range ds {
			if d.CreatedAt.After(newest.CreatedAt) {
				newest = d
			}
		}
		if len(newest.ImageIDs) == 1 && newest.ImageIDs[0] == id {
			return nil
		}
	}
	if _, err := f.admin.CreateDeployment(ctx, api.CreateDeploymentRequest{DeviceGroupID: f.group, ImageIDs: []ident.ImageID{id}}); err != nil {
		return fmt.Errorf("deploy the simulated app image: %w", err)
	}
	return nil
}

func (f *fleet) addImage(ctx context.Context, seed []byte, id ident.ImageID, size int64) (api.Image, error) {
	component := uuidFrom(seed, "component")
	app := &manifest.App{SchemaVersion: 1, ComponentId: component, Name: "simapp", EntryPoint: "simapp.wasm"}
	payload := func() io.Reader { return io.LimitReader(&patternReader{}, size) }
	h := sha256.New()
	io.Copy(h, payload())
	m := imagepkg.Manifest{Format: imagepkg.FormatVersion, ImageID: string(id), ComponentID: component, Name: "simapp",
		Version: "1.0.0", Type: imagepkg.TypeApplication, PayloadSize: size, App: app}
	copy(m.PayloadSHA256[:], h.Sum(nil))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return api.Image{}, err
	}
	var pkg bytes.Buffer
	if err := imagepkg.Write(&pkg, m, payload(), key); err != nil {
		return api.Image{}, err
	}
	return f.admin.AddImage(ctx, &pkg, int64(pkg.Len()))
}

// patternReader reads bytes that do not compress, cheaply: the payload of the simulated app.
type patternReader struct{ off int }

func (p *patternReader) Read(b []byte) (int, error) {
	for i := range b {
		n := p.off + i
		b[i] = byte(n*131 + n>>8*17 + n>>16*7)
	}
	p.off += len(b)
	return len(b), nil
}

// uuidFrom returns a version 4 UUID derived from seed and label, the same on every run.
func uuidFrom(seed []byte, label string) string {
	s := sha256.Sum256(append(append([]byte{}, seed...), label...))
	s[6] = s[6]&0x0f | 0x40
	s[8] = s[8]&0x3f | 0x80
	x := hex.EncodeToString(s[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// lookUpMax is the most devices whose groups known asks for one by one; for more it lists the
// tenant's devices, a page of hundreds a request.
const lookUpMax = 1000

// known returns which of devs the caller's tenant has, by ID, with their groups: a second run
// finds the fleet it claimed. A few devices are looked up one by one, with c requests at a
// time, so that a short run in a tenant of a million devices does not list them all.
func (f *fleet) known(ctx context.Context, devs []*Device, c int) (map[ident.DeviceID]ident.GroupID, error) {
	if len(devs) > lookUpMax {
		return f.listAll(ctx)
	}
	out := make(map[ident.DeviceID]ident.GroupID, len(devs))
	var mu sync.Mutex
	var firstErr error
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(c, len(devs))) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(devs); i = int(next.Add(1) - 1) {
				d, err := f.admin.Device(ctx, devs[i].ID().String())
				mu.Lock()
				switch {
				case client.IsNotFound(err):
				case err != nil:
					if firstErr == nil {
						firstErr = fmt.Errorf("look up device %s: %w", devs[i].ID(), err)
					}
				default:
					out[d.ID] = d.GroupID
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out, firstErr
}

// listAll lists the devices of the caller's tenant, by ID, with their groups.
func (f *fleet) listAll(ctx context.Context) (map[ident.DeviceID]ident.GroupID, error) {
	out := map[ident.DeviceID]ident.GroupID{}
	q := client.DeviceQuery{Limit: api.MaxPageSize}
	for {
		l, err := f.admin.Devices(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("list the tenant's devices: %w", err)
		}
		for _, d := range l.Devices {
			out[d.ID] = d.GroupID
		}
		if l.NextPageToken == "" {
			return out, nil
		}
		q.PageToken = l.NextPageToken
	}
}

// claim claims devices with their claim codes into the simulator's group, all or nothing.
func (f *fleet) claim(ctx context.Context, devs []*Device) error {
	req := make([]api.ClaimDevice, len(devs))
	for i, d := range devs {
		req[i] = api.ClaimDevice{DeviceID: d.ID().String(), ClaimCode: d.ClaimCode().String()}
	}
	_, err := f.admin.ClaimDevicesIntoGroup(ctx, f.group, req)
	return adminError("claim", err)
}

// assign puts a device in the simulator's group.
func (f *fleet) assign(ctx context.Context, d *Device) error {
	g := f.group
	_, err := f.admin.UpdateDevice(ctx, d.ID().String(), api.UpdateDeviceRequest{DeviceGroupID: &g})
	return adminError("assign", err)
}

// adminError gives a refusal of the management API its status, for the errors by kind.
func adminError(what string, err error) error {
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status != 0 {
		return fmt.Errorf("%w: %s", &StatusError{Status: ce.Status, What: what}, ce.Message)
	}
	return err
}
