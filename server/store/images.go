package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// ImageRecord is an image as stored: the API's view and the SHA-256 of the manifest bytes the
// developer signed, by which a second upload of the same image ID is told to be the same image
// or another.
type ImageRecord struct {
	api.Image
	ManifestSHA256 string
}

const imageColumns = `tenant_id, id, component_id, name, version, type, size, sha256, payload_size,
	payload_sha256, manifest_sha256, app_manifest, uploaded_at, uploaded_by`

func scanImage(r scanner) (ImageRecord, error) {
	var im ImageRecord
	var manifest string
	var uploaded int64
	err := r.Scan(&im.TenantID, &im.ID, &im.ComponentID, &im.Name, &im.Version, &im.Type, &im.Size,
		&im.SHA256, &im.PayloadSize, &im.PayloadSHA256, &im.ManifestSHA256, &manifest, &uploaded, &im.UploadedBy)
	if manifest != "" {
		im.AppManifest = json.RawMessage(manifest)
	}
	im.UploadedAt = fromMicros(uploaded)
	return im, err
}

// AddImage stores an image of its tenant, digests in lowercase hex, and counts its size against
// the tenant's image quota. ErrExists if the tenant has an image of that ID already, whatever its
// content: the caller tells the same image from another by ManifestSHA256. A [*QuotaError] if the
// image would take the tenant over its quota. ErrNotFound if the tenant does not exist. On any
// error nothing is changed.
//
// The quota is checked and the bytes counted in one conditional UPDATE of the tenant's row, so
// two concurrent uploads cannot both pass: in PostgreSQL the second waits for the first's row
// lock and then re-evaluates the condition on the updated row; in SQLite writers run one at a
// time.
func (tx *Tx) AddImage(im ImageRecord) error {
	return tx.atomic(func() error {
		n, err := tx.exec(`UPDATE tenants SET image_bytes = image_bytes + $2
			WHERE id = $1 AND (image_quota = 0 OR image_bytes + $2 <= image_quota)`, im.TenantID, im.Size)
		if err != nil {
			return fmt.Errorf("add image %s: %w", im.ID, err)
		}
		if n == 0 {
			return tx.quotaError(im)
		}
		n, err = tx.exec(`INSERT INTO images (`+imageColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`,
			im.TenantID, im.ID, im.ComponentID, im.Name, im.Version, im.Type, im.Size, strings.ToLower(im.SHA256),
			im.PayloadSize, strings.ToLower(im.PayloadSHA256), strings.ToLower(im.ManifestSHA256),
			string(im.AppManifest), micros(im.UploadedAt), im.UploadedBy)
		if err != nil {
			return fmt.Errorf("add image %s: %w", im.ID, err)
		}
		if n == 0 {
			return fmt.Errorf("image %s: %w", im.ID, ErrExists)
		}
		return nil
	})
}

// QuotaError says that an image does not fit in its tenant's quota. It is [ErrQuota].
type QuotaError struct {
	Size, Used, Quota int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("image of %d bytes over the tenant's image quota: %d of %d bytes used", e.Size, e.Used, e.Quota)
}

// Is makes a QuotaError [ErrQuota].
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }

// quotaError explains why im did not fit: its tenant is missing, or over quota.
func (tx *Tx) quotaError(im ImageRecord) error {
	t, err := tx.Tenant(im.TenantID)
	if err != nil {
		return err
	}
	return &QuotaError{Size: im.Size, Used: t.ImageBytes, Quota: t.ImageQuota}
}

// Image returns a tenant's image.
func (tx *Tx) Image(tenantID ident.TenantID, id ident.ImageID) (ImageRecord, error) {
	return queryOne(tx, scanImage, fmt.Sprintf("image %s", id),
		"SELECT "+imageColumns+" FROM images WHERE tenant_id = $1 AND id = $2", tenantID, id)
}

// ImageFilter selects images. Empty fields do not filter; Limit 0 means [api.DefaultPageSize].
type ImageFilter struct {
	ComponentID ident.ComponentID
	Type        string
	Limit       int
}

// Images lists a tenant's images by f, newest (by upload) first.
func (tx *Tx) Images(tenantID ident.TenantID, f ImageFilter) ([]api.Image, error) {
	rs, err := queryAll(tx, scanImage, "SELECT "+imageColumns+` FROM images
		WHERE tenant_id = $1 AND ($2 = '' OR component_id = $2) AND ($3 = '' OR type = $3)
		ORDER BY uploaded_at DESC, id LIMIT $4`, tenantID, f.ComponentID, f.Type, pageSize(f.Limit))
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	images := make([]api.Image, len(rs))
	for i, r := range rs {
		images[i] = r.Image
	}
	return images, nil
}

// deploymentSelect reads deployments with their group's `Product/Group` name; image IDs are read
// apart.
const deploymentSelect = `SELECT d.id, d.tenant_id, d.group_id, p.name || '/' || g.name, d.created_at, d.created_by,
	d.state, d.waves, d.wave, d.wave_started_at, d.wave_wait, d.max_failure, d.min_devices, d.rollback_on_halt,
	d.previous_id, d.reason, d.changed_at, d.revision, d.urgent
	FROM deployments d
	JOIN device_groups g ON g.id = d.group_id
	JOIN products p ON p.id = g.product_id`

func scanDeployment(r scanner) (api.Deployment, error) {
	var d api.Deployment
	var ro api.Rollout
	var created, started, changed int64
	var waves string
	var maxFailure int
	err := r.Scan(&d.ID, &d.TenantID, &d.GroupID, &d.GroupName, &created, &d.CreatedBy,
		&ro.State, &waves, &ro.Wave, &started, &ro.WaveWaitSeconds, &maxFailure, &ro.MinDevices, &ro.RollbackOnHalt,
		&ro.PreviousID, &ro.Reason, &changed, &ro.Revision, &d.Urgent)
	if err != nil {
		return d, err
	}
	d.CreatedAt = fromMicros(created)
	ro.WaveStartedAt, ro.ChangedAt = fromMicros(started), fromMicros(changed)
	ro.MaxFailure = float64(maxFailure) / 100
	if ro.Waves, err = parseWaves(waves); err != nil {
		return d, fmt.Errorf("deployment %s: %w", d.ID, err)
	}
	d.Rollout = &ro
	return d, nil
}

// AddDeployment stores a deployment of its tenant's images (in their order) to one of its
// device groups. ErrNotFound, naming the object, if the group or an image is not the tenant's;
// ErrExists if a deployment has its ID. Whether the images make a valid deployment is the
// caller's to check.
func (tx *Tx) AddDeployment(d api.Deployment) error {
	return tx.atomic(func() error {
		ok, err := tx.exists("SELECT 1 FROM device_groups WHERE tenant_id = $1 AND id = $2", d.TenantID, d.GroupID)
		if err != nil {
			return fmt.Errorf("add deployment: %w", err)
		}
		if !ok {
			return fmt.Errorf("device group %q: %w", d.GroupID, ErrNotFound)
		}
		for _, id := range d.ImageIDs {
			ok, err := tx.exists("SELECT 1 FROM images WHERE tenant_id = $1 AND id = $2", d.TenantID, id)
			if err != nil {
				return fmt.Errorf("add deployment: %w", err)
			}
			if !ok {
				return fmt.Errorf("image %s: %w", id, ErrNotFound)
			}
		}
		ro := d.Rollout
		if ro == nil {
			ro = &api.Rollout{State: api.RolloutComplete, WaveStartedAt: d.CreatedAt, ChangedAt: d.CreatedAt}
		}
		n, err := tx.exec(`INSERT INTO deployments (id, tenant_id, group_id, created_at, created_by,
				state, waves, wave, wave_started_at, wave_wait, max_failure, min_devices, rollback_on_halt,
				previous_id, reason, changed_at, revision, urgent)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 1, $17) ON CONFLICT DO NOTHING`,
			d.ID, d.TenantID, d.GroupID, micros(d.CreatedAt), d.CreatedBy,
			ro.State, formatWaves(ro.Waves), ro.Wave, micros(ro.WaveStartedAt), ro.WaveWaitSeconds,
			int(math.Round(ro.MaxFailure*100)), ro.MinDevices, ro.RollbackOnHalt, ro.PreviousID, ro.Reason, micros(ro.ChangedAt), d.Urgent)
		if err != nil {
			return fmt.Errorf("add deployment: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("deployment %s: %w", d.ID, ErrExists)
		}
		for i, id := range d.ImageIDs {
			if _, err := tx.exec(`INSERT INTO deployment_images (deployment_id, position, tenant_id, image_id)
				VALUES ($1, $2, $3, $4)`, d.ID, i, d.TenantID, id); err != nil {
				return fmt.Errorf("add deployment: %w", err)
			}
		}
		return nil
	})
}

// withImages fills in the image IDs of deployments.
func (tx *Tx) withImages(ds []api.Deployment) ([]api.Deployment, error) {
	if len(ds) == 0 {
		return ds, nil
	}
	args := make([]any, len(ds))
	marks := make([]string, len(ds))
	index := make(map[ident.DeploymentID]int, len(ds))
	for i, d := range ds {
		args[i] = d.ID
		marks[i] = fmt.Sprintf("$%d", i+1)
		index[d.ID] = i
		ds[i].ImageIDs = []ident.ImageID{}
	}
	type row struct {
		deployment ident.DeploymentID
		image      ident.ImageID
	}
	rows, err := queryAll(tx, func(r scanner) (v row, err error) { return v, r.Scan(&v.deployment, &v.image) },
		`SELECT deployment_id, image_id FROM deployment_images WHERE deployment_id IN (`+strings.Join(marks, ", ")+`)
		ORDER BY deployment_id, position`, args...)
	if err != nil {
		return nil, fmt.Errorf("read deployment images: %w", err)
	}
	for _, r := range rows {
		i := index[r.deployment]
		ds[i].ImageIDs = append(ds[i].ImageIDs, r.image)
	}
	return ds, nil
}

// Deployments lists a tenant's deployments, of one device group if groupID is not "", newest
// first; at most limit (0 means [api.DefaultPageSize]).
func (tx *Tx) Deployments(tenantID ident.TenantID, groupID ident.GroupID, limit int) ([]api.Deployment, error) {
	ds, err := queryAll(tx, scanDeployment, deploymentSelect+`
		WHERE d.tenant_id = $1 AND ($2 = '' OR d.group_id = $2) ORDER BY d.seq DESC LIMIT $3`,
		tenantID, groupID, pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return tx.withImages(ds)
}

// DeploymentProgress counts the devices of a tenant's group (revoked ones left out) and, of
// them, those whose last update report at or after since succeeded, and those for which it failed.
func (tx *Tx) DeploymentProgress(tenantID ident.TenantID, groupID ident.GroupID, since time.Time) (api.DeploymentProgress, error) {
	return queryOne(tx, func(r scanner) (p api.DeploymentProgress, err error) {
		return p, r.Scan(&p.Devices, &p.Updated, &p.Failed)
	}, fmt.Sprintf("progress of device group %q", groupID), `SELECT COUNT(*),
			COALESCE(SUM(CASE WHEN u.reported_at >= $3 AND u.last_update_result = $4 THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN u.reported_at >= $3 AND u.last_update_result <> $4 THEN 1 ELSE 0 END), 0)
		FROM devices d LEFT JOIN device_updates u ON u.device_id = d.id
		WHERE d.tenant_id = $1 AND d.group_id = $2 AND d.state <> $5`,
		tenantID, groupID, micros(since), api.UpdateOK, api.DeviceRevoked)
}

// Deployment returns a tenant's deployment.
func (tx *Tx) Deployment(tenantID ident.TenantID, id ident.DeploymentID) (api.Deployment, error) {
	return tx.oneDeployment(fmt.Sprintf("deployment %s", id), " WHERE d.tenant_id = $1 AND d.id = $2", tenantID, id)
}

// oneDeployment returns the deployment that deploymentSelect+where selects, with its images;
// ErrNotFound, naming what, if there is none.
func (tx *Tx) oneDeployment(what, where string, args ...any) (api.Deployment, error) {
	d, err := queryOne(tx, scanDeployment, what, deploymentSelect+where, args...)
	if err != nil {
		return d, err
	}
	ds, err := tx.withImages([]api.Deployment{d})
	if err != nil {
		return api.Deployment{}, err
	}
	return ds[0], nil
}

// LatestDeployment returns the newest deployment of a tenant's device group: what its devices
// converge to. ErrNotFound if the group has none (or is not the tenant's).
func (tx *Tx) LatestDeployment(tenantID ident.TenantID, groupID ident.GroupID) (api.Deployment, error) {
	return tx.oneDeployment(fmt.Sprintf("deployment of device group %q", groupID),
		" WHERE d.tenant_id = $1 AND d.group_id = $2 ORDER BY d.seq DESC LIMIT 1", tenantID, groupID)
}

// RecordUpdateReport stores what a tenant's device reported at receivedAt: the images it has
// installed now, replacing what it reported before, and the result of its last update.
// ErrNotFound if the tenant has no such device. The report is the caller's to validate.
func (tx *Tx) RecordUpdateReport(tenantID ident.TenantID, id ident.DeviceID, rep api.UpdateReport, receivedAt time.Time) error {
	ok, err := tx.exists("SELECT 1 FROM devices WHERE tenant_id = $1 AND id = $2", tenantID, string(id))
	if err != nil {
		return fmt.Errorf("record update report of device %s: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	installed := rep.Installed
	if installed == nil {
		installed = []api.InstalledImage{}
	}
	js, err := json.Marshal(installed)
	if err != nil {
		return err
	}
	at := rep.At
	if at.IsZero() {
		at = receivedAt
	}
	_, err = tx.exec(`INSERT INTO device_updates (device_id, tenant_id, installed, last_update_result,
			last_update_at, last_update_message, reported_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (device_id) DO UPDATE SET installed = excluded.installed,
			last_update_result = excluded.last_update_result, last_update_at = excluded.last_update_at,
			last_update_message = excluded.last_update_message, reported_at = excluded.reported_at`,
		string(id), tenantID, string(js), rep.Result, micros(at), rep.Message, micros(receivedAt))
	if err != nil {
		return fmt.Errorf("record update report of device %s: %w", id, err)
	}
	return nil
}

// groupTargets is what a group's devices are targeted with: its newest deployment's images,
// or during a rollout (api.Rollout) those of the previous deployment for the devices whose bin
// is not reached.
type groupTargets struct {
	newest   api.Deployment
	percent  int
	previous []ident.ImageID
}

// groupTargets reads what a group's devices are targeted with.
func (tx *Tx) groupTargets(tenantID ident.TenantID, groupID ident.GroupID) (groupTargets, error) {
	d, err := tx.LatestDeployment(tenantID, groupID)
	if errors.Is(err, ErrNotFound) {
		return groupTargets{percent: 100}, nil
	}
	if err != nil {
		return groupTargets{}, err
	}
	g := groupTargets{newest: d, percent: d.Rollout.Percent()}
	if g.percent < 100 && d.Rollout.PreviousID != "" {
		prev, err := tx.Deployment(tenantID, d.Rollout.PreviousID)
		if err != nil {
			return groupTargets{}, err
		}
		g.previous = prev.ImageIDs
	}
	return g, nil
}

// of returns the images device is targeted with.
func (g groupTargets) of(device ident.DeviceID) []ident.ImageID {
	ids := g.newest.ImageIDs
	if g.percent < 100 && api.RolloutBin(g.newest.ID, device) >= g.percent {
		ids = g.previous
	}
	if ids == nil {
		ids = []ident.ImageID{}
	}
	return ids
}

// updatesBatch is how many devices one query of DeviceUpdates reads.
const updatesBatch = 500

// DeviceUpdates returns, for each of ids that is a device of the tenant, what the service knows
// of its updates: the images its group's newest deployment targets (none when it is in no group
// or its group has no deployment; the previous deployment's while a rollout has not reached
// it), and what it last reported. Devices of other tenants, or of
// none, are left out.
func (tx *Tx) DeviceUpdates(tenantID ident.TenantID, ids ...ident.DeviceID) (map[ident.DeviceID]api.DeviceUpdates, error) {
	out := make(map[ident.DeviceID]api.DeviceUpdates, len(ids))
	groups := map[ident.GroupID]groupTargets{}
	for batch := range slices.Chunk(ids, updatesBatch) {
		args := []any{tenantID}
		marks := make([]string, len(batch))
		for i, id := range batch {
			args = append(args, string(id))
			marks[i] = fmt.Sprintf("$%d", len(args))
		}
		in := "(" + strings.Join(marks, ", ") + ")"
		type member struct {
			id    ident.DeviceID
			group ident.GroupID
		}
		members, err := queryAll(tx, func(r scanner) (m member, err error) {
			return m, r.Scan((*string)(&m.id), &m.group)
		}, "SELECT id, COALESCE(group_id, '') FROM devices WHERE tenant_id = $1 AND id IN "+in, args...)
		if err != nil {
			return nil, fmt.Errorf("read device updates: %w", err)
		}
		for _, m := range members {
			g, ok := groups[m.group]
			if !ok && m.group != "" {
				if g, err = tx.groupTargets(tenantID, m.group); err != nil {
					return nil, err
				}
				groups[m.group] = g
			}
			targeted := g.of(m.id)
			out[m.id] = api.DeviceUpdates{Targeted: targeted, Installed: []api.InstalledImage{}}
		}
		type report struct {
			id ident.DeviceID
			u  api.DeviceUpdates
		}
		reports, err := queryAll(tx, func(r scanner) (v report, err error) {
			var installed string
			var at int64
			if err := r.Scan((*string)(&v.id), &installed, &v.u.LastUpdateResult, &at, &v.u.LastUpdateMsg); err != nil {
				return v, err
			}
			t := fromMicros(at)
			v.u.LastUpdateAt = &t
			return v, json.Unmarshal([]byte(installed), &v.u.Installed)
		}, `SELECT device_id, installed, last_update_result, last_update_at, last_update_message
			FROM device_updates WHERE tenant_id = $1 AND device_id IN `+in, args...)
		if err != nil {
			return nil, fmt.Errorf("read device updates: %w", err)
		}
		for _, r := range reports {
			u, ok := out[r.id]
			if !ok {
				continue
			}
			u.Installed, u.LastUpdateResult, u.LastUpdateAt, u.LastUpdateMsg =
				r.u.Installed, r.u.LastUpdateResult, r.u.LastUpdateAt, r.u.LastUpdateMsg
			if u.Installed == nil {
				u.Installed = []api.InstalledImage{}
			}
			out[r.id] = u
		}
	}
	return out, nil
}
