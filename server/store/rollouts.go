package store

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// formatWaves and parseWaves convert a rollout's waves to and from their column: the
// percentages, comma-separated; "" for none.
func formatWaves(waves []int) string {
	parts := make([]string, len(waves))
	for i, w := range waves {
		parts[i] = strconv.Itoa(w)
	}
	return strings.Join(parts, ",")
}

func parseWaves(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	waves := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("waves %q: %w", s, err)
		}
		waves[i] = n
	}
	return waves, nil
}

// SetRollout gives a tenant's deployment the rollout state, wave, wave start, reason and
// change time of r, if the stored rollout is still at r.Revision, and moves the revision on. It
// reports whether it changed it: false means that another transaction (another replica's
// evaluation, an administrator) changed the rollout since it was read, and the caller must
// read it again. The waves and gates are fixed when the deployment is made.
func (tx *Tx) SetRollout(tenantID ident.TenantID, id ident.DeploymentID, r api.Rollout) (bool, error) {
	n, err := tx.exec(`UPDATE deployments SET state = $3, wave = $4, wave_started_at = $5, reason = $6, changed_at = $7,
			revision = revision + 1
		WHERE tenant_id = $1 AND id = $2 AND revision = $8`,
		tenantID, id, r.State, r.Wave, micros(r.WaveStartedAt), r.Reason, micros(r.ChangedAt), r.Revision)
	if err != nil {
		return false, fmt.Errorf("set rollout of deployment %s: %w", id, err)
	}
	return n == 1, nil
}

// Rollouts lists the deployments, of every tenant, whose rollout is in state, oldest first.
func (tx *Tx) Rollouts(state string) ([]api.Deployment, error) {
	ds, err := queryAll(tx, scanDeployment, deploymentSelect+` WHERE d.state = $1 ORDER BY d.seq`, state)
	if err != nil {
		return nil, fmt.Errorf("list %s rollouts: %w", state, err)
	}
	return tx.withImages(ds)
}

// CurrentDeployment returns the newest deployment of a tenant's device group whose rollout is
// complete: what the group's devices have unless a rollout says otherwise, and what a new
// rollout's devices keep until their wave. ErrNotFound if it has none.
func (tx *Tx) CurrentDeployment(tenantID ident.TenantID, groupID ident.GroupID) (api.Deployment, error) {
	return tx.oneDeployment(fmt.Sprintf("complete deployment of device group %q", groupID),
		" WHERE d.tenant_id = $1 AND d.group_id = $2 AND d.state = $3 ORDER BY d.seq DESC LIMIT 1",
		tenantID, groupID, api.RolloutComplete)
}

// RolloutDevice is what a rollout's health gate reads of one device of the group: what it
// last reported of its updates (Installed nil and LastResult "" if it never reported) and how
// many crashes of the deployment's images it reported.
type RolloutDevice struct {
	ID           ident.DeviceID
	Installed    []api.InstalledImage
	LastResult   string
	LastUpdateAt time.Time
	Crashes      int
}

// RolloutDevices returns the devices of a tenant's group, in two queries whatever their
// number: their last update reports, and the crashes (AppCrash events, by count) of images
// that they reported with a last occurrence at or after since.
func (tx *Tx) RolloutDevices(tenantID ident.TenantID, groupID ident.GroupID, images []ident.ImageID, since time.Time) ([]RolloutDevice, error) {
	ds, err := queryAll(tx, func(r scanner) (RolloutDevice, error) {
		var d RolloutDevice
		var installed string
		var at int64
		if err := r.Scan((*string)(&d.ID), &installed, &d.LastResult, &at); err != nil {
			return d, err
		}
		if installed != "" {
			if err := json.Unmarshal([]byte(installed), &d.Installed); err != nil {
				return d, err
			}
			d.LastUpdateAt = fromMicros(at)
		}
		return d, nil
	}, `SELECT d.id, COALESCE(u.installed, ''), COALESCE(u.last_update_result, ''), COALESCE(u.last_update_at, 0)
		FROM devices d LEFT JOIN device_updates u ON u.device_id = d.id
		WHERE d.tenant_id = $1 AND d.group_id = $2 ORDER BY d.id`, tenantID, groupID)
	if err != nil {
		return nil, fmt.Errorf("read devices of group %s: %w", groupID, err)
	}
	if len(images) == 0 || len(ds) == 0 {
		return ds, nil
	}
	args := []any{tenantID, api.EventAppCrash, micros(since)}
	marks := make([]string, len(images))
	for i, id := range images {
		args = append(args, id)
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	type crashes struct {
		id ident.DeviceID
		n  int64
	}
	cs, err := queryAll(tx, func(r scanner) (c crashes, err error) { return c, r.Scan((*string)(&c.id), &c.n) },
		`SELECT device_id, CAST(SUM(count) AS BIGINT) FROM events
		WHERE tenant_id = $1 AND category = $2 AND last_at >= $3 AND image_id IN (`+strings.Join(marks, ", ")+`)
		GROUP BY device_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("count crashes in group %s: %w", groupID, err)
	}
	index := make(map[ident.DeviceID]int, len(ds))
	for i, d := range ds {
		index[d.ID] = i
	}
	for _, c := range cs {
		if i, ok := index[c.id]; ok {
			ds[i].Crashes = int(c.n)
		}
	}
	return ds, nil
}
