package api

import (
	"encoding/json"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// Image types.
const (
	ImageApplication = "application"
	ImageRuntime     = "runtime"
)

// The device runtime as an image: every runtime release is an image package of this component,
// named RuntimeImageName, signed by the operator.
const (
	RuntimeComponentID = "e77138a9-edf0-4a58-8d3a-be2d7a14edf2"
	RuntimeImageName   = "rampart-runtime"
)

// MaxImageSize bounds an image package's upload.
const MaxImageSize = 256 << 20

// MaxDeploymentImages is the most images one deployment may carry.
const MaxDeploymentImages = 10

// Image is an image package uploaded to a tenant, as the service stored it: re-signed with the
// tenant's image-signing key. Immutable: the same image ID with other content is refused.
type Image struct {
	ID            ident.ImageID     `json:"id"`
	TenantID      ident.TenantID    `json:"tenant_id"`
	ComponentID   ident.ComponentID `json:"component_id"`
	Name          string            `json:"name"`
	Version       string            `json:"version"`
	Type          string            `json:"type"`
	Size          int64             `json:"size"`   // of the stored package
	SHA256        string            `json:"sha256"` // of the stored package
	PayloadSize   int64             `json:"payload_size"`
	PayloadSHA256 string            `json:"payload_sha256"`
	AppManifest   json.RawMessage   `json:"app_manifest,omitempty"`
	UploadedAt    time.Time         `json:"uploaded_at"`
	UploadedBy    string            `json:"uploaded_by"`
}

// Deployment is a set of images for one device group. A group's newest deployment is what its
// devices converge to.
type Deployment struct {
	ID        ident.DeploymentID `json:"id"`
	TenantID  ident.TenantID     `json:"tenant_id"`
	GroupID   ident.GroupID      `json:"device_group_id"`
	GroupName string             `json:"device_group_name"` // Product/Group
	ImageIDs  []ident.ImageID    `json:"image_ids"`
	CreatedAt time.Time          `json:"created_at"`
	CreatedBy string             `json:"created_by"`
	Rollout   *Rollout           `json:"rollout,omitempty"`
	// Urgent: its devices install it at once, whatever their group's maintenance window.
	Urgent bool `json:"urgent,omitempty"`
	// Progress is given for the newest deployment of its group (the one its devices converge
	// to), nil for one that a newer deployment replaced.
	Progress *DeploymentProgress `json:"progress,omitempty"`
}

// DeploymentProgress counts a deployment's group's devices (revoked ones left out), those whose
// last update report since the deployment was made says it succeeded, and those for which it
// says it failed; the rest have not reported since.
type DeploymentProgress struct {
	Devices int `json:"devices"`
	Updated int `json:"updated"`
	Failed  int `json:"failed"`
}

// CreateDeploymentRequest is the body of POST /api/v1/deployments.
type CreateDeploymentRequest struct {
	DeviceGroupID ident.GroupID   `json:"device_group_id"`
	ImageIDs      []ident.ImageID `json:"image_ids"`
	// Waves, if given, roll the deployment out in waves: cumulative percentages of the
	// group's devices, increasing, the last 100 (api.Rollout). The other fields apply only
	// with waves; left out, they are 3600 seconds, 5 percent and 20 devices.
	Waves             []int    `json:"waves,omitempty"`
	WaveWaitSeconds   *int64   `json:"wave_wait_seconds,omitempty"`
	MaxFailurePercent *float64 `json:"max_failure_percent,omitempty"`
	MinDevices        *int     `json:"min_devices,omitempty"`
	RollbackOnHalt    bool     `json:"rollback_on_halt,omitempty"`
	// Urgent deployments are installed outside the group's maintenance window too.
	Urgent bool `json:"urgent,omitempty"`
}

// The device update protocol. Every route needs mutual TLS with a device certificate, except
// DevicePathRuntimeKeys, which a device reads at init over the TLS channel pinned by the service
// CA it was given.
const (
	DevicePathUpdates      = "/device/v1/updates"       // GET: UpdateInfo
	DevicePathUpdateReport = "/device/v1/update-report" // POST: UpdateReport
	DevicePathRuntimeKeys  = "/device/v1/runtime-keys"  // GET: RuntimeKeys
	// DevicePathTUF is the root of the TUF repositories: DevicePathTUF + repo + "/" + file, where
	// file is "N.root.json", "timestamp.json", "N.snapshot.json", "N.targets.json" (consistent
	// snapshots) or "targets/" + target name. Targets support HTTP Range requests.
	DevicePathTUF = "/device/v1/tuf/"
)

// TUF target names and their custom metadata.
const (
	TargetImagePrefix   = "images/"  // + image ID, in a device group's repository
	TargetRuntimePrefix = "runtime/" // + version, in an OS feed's repository
)

// TargetCustom is the custom metadata of every Rampart TUF target.
type TargetCustom struct {
	ImageID     string `json:"image_id"`
	ComponentID string `json:"component_id"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Type        string `json:"type"`
}

// UpdateInfo tells a device which TUF repositories it follows and how.
type UpdateInfo struct {
	GroupRepo    string `json:"group_repo,omitempty"` // "group/" + group ID; empty when in no group
	FeedRepo     string `json:"feed_repo"`            // "feed/Retail" or "feed/RetailEval"
	UpdatePolicy string `json:"update_policy"`
	// MaintenanceWindow is the group's window (api.Window), "" for none: application updates
	// wait for it unless the group's targets metadata says the deployment is urgent
	// (TargetsUrgentField).
	MaintenanceWindow string `json:"maintenance_window,omitempty"`
	// ImageKeys are the PEM public keys whose signatures on image packages the device trusts:
	// its tenant's image-signing keys, newest first.
	ImageKeys []string `json:"image_keys"`
	// Device is who the calling device is, as DevicePathWhoami answers: the update info is the
	// device's whole check-in, so an up-to-date one is a single conditional request. Absent
	// from an older service, whose devices ask whoami as well.
	Device *DeviceWhoami `json:"device,omitempty"`
}

// RuntimeKeys are the operator's runtime-signing public keys (PEM), newest first: stage 0 boots
// only the factory image or runtimes signed by one of them.
type RuntimeKeys struct {
	Keys []string `json:"keys"`
}

// Update results a device reports.
const (
	UpdateOK         = "ok"
	UpdateFailed     = "failed"
	UpdateRolledBack = "rolled_back"
)

// InstalledImage is an image a device has installed.
type InstalledImage struct {
	ImageID     string `json:"image_id"`
	ComponentID string `json:"component_id"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Type        string `json:"type"`
	Slot        string `json:"slot,omitempty"` // "a" or "b" for the runtime
}

// UpdateReport is the body of POST /device/v1/update-report: what the device has installed now
// and how its last update went.
type UpdateReport struct {
	Installed []InstalledImage `json:"installed"`
	Result    string           `json:"result"`
	Message   string           `json:"message,omitempty"`
	At        time.Time        `json:"at"`
}

// MaxInstalledImages bounds an update report.
const MaxInstalledImages = 64

// DeviceUpdates is what the service knows of a device's updates, for `rampart device show`.
type DeviceUpdates struct {
	Targeted         []ident.ImageID  `json:"targeted_image_ids"`
	Installed        []InstalledImage `json:"installed"`
	LastUpdateResult string           `json:"last_update_result,omitempty"`
	LastUpdateAt     *time.Time       `json:"last_update_at,omitempty"`
	LastUpdateMsg    string           `json:"last_update_message,omitempty"`
}

// DevicePathCapability answers a device's GET with its development capability (the wire form of
// format/capability), or 404 when it holds none. Mutual TLS.
const DevicePathCapability = "/device/v1/capability"

// EnableDevelopmentRequest is the body of POST /api/v1/devices/{device}/enable-development: the
// developer public keys (PEM) whose signatures the device will accept on images, at most 8.
type EnableDevelopmentRequest struct {
	DeveloperKeys []string `json:"developer_keys"`
}
