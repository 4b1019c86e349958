// Package api holds the wire types of Rampart's management API (`/api/v1`), shared by the
// service, the Go client and the command line, and the OpenAPI description of its routes.
//
// JSON field names are snake_case and stable: the CLI's `--output json` prints these types as
// they are, so scripts may rely on them.
package api

import (
	_ "embed"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// Role is a user's role within its tenant. Roles are ordered: each includes the one below it.
type Role string

const (
	RoleReader        Role = "Reader"
	RoleContributor   Role = "Contributor"
	RoleAdministrator Role = "Administrator"
)

// Rank orders roles: Reader 1, Contributor 2, Administrator 3, anything else 0.
func (r Role) Rank() int {
	switch r {
	case RoleReader:
		return 1
	case RoleContributor:
		return 2
	case RoleAdministrator:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r.Rank() > 0 }

// OS feeds a device group follows for runtime releases.
const (
	FeedRetail     = "Retail"
	FeedRetailEval = "RetailEval"
)

// Update policies of a device group.
const (
	PolicyAll         = "UpdateAll"            // runtime and application updates
	PolicyRuntimeOnly = "NoApplicationUpdates" // runtime updates only; apps are sideloaded
	PolicyNone        = "NoUpdates"
)

// ValidFeed reports whether f names an OS feed.
func ValidFeed(f string) bool { return f == FeedRetail || f == FeedRetailEval }

// ValidPolicy reports whether p names an update policy.
func ValidPolicy(p string) bool { return p == PolicyAll || p == PolicyRuntimeOnly || p == PolicyNone }

// Device states.
const (
	DeviceClaimed = "claimed"
	DeviceRevoked = "revoked"
)

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	Error string `json:"error"`
}

// Whoami describes the caller's token.
type Whoami struct {
	UserID     string         `json:"user_id"`
	Email      string         `json:"email"`
	TenantID   ident.TenantID `json:"tenant_id,omitempty"`
	TenantName string         `json:"tenant_name,omitempty"`
	Role       Role           `json:"role,omitempty"`
	Operator   bool           `json:"operator"`
}

// Tenant is the isolation boundary: it owns users, products, devices and keys.
type Tenant struct {
	ID        ident.TenantID `json:"id"`
	Name      string         `json:"name"`
	CreatedAt time.Time      `json:"created_at"`
	// AllowClaimWithoutCode lets the tenant's users claim a device by its ID alone, without its
	// claim code: set by the operator, for development tenants.
	AllowClaimWithoutCode bool `json:"allow_claim_without_code"`
	// ImageQuota is the most bytes of image packages the tenant may keep; 0 means no limit.
	// ImageBytes is what it keeps now.
	ImageQuota int64 `json:"image_quota"`
	ImageBytes int64 `json:"image_bytes"`
}

// CreateTenantRequest is the body of POST /api/v1/tenants (operator only). ImageQuota 0 means
// no limit.
type CreateTenantRequest struct {
	Name                  string `json:"name"`
	AdminEmail            string `json:"admin_email"`
	AllowClaimWithoutCode bool   `json:"allow_claim_without_code,omitempty"`
	ImageQuota            int64  `json:"image_quota,omitempty"`
}

// UpdateTenantRequest is the body of PATCH /api/v1/tenants/{tenant} (operator only). A field
// left out is left as it is.
type UpdateTenantRequest struct {
	AllowClaimWithoutCode *bool  `json:"allow_claim_without_code,omitempty"`
	ImageQuota            *int64 `json:"image_quota,omitempty"`
}

// CreateTenantResponse carries the new tenant and its first Administrator's token, which is shown
// only this once.
type CreateTenantResponse struct {
	Tenant Tenant `json:"tenant"`
	Admin  User   `json:"admin"`
	Token  string `json:"token"`
}

// User is a person or robot of a tenant, with one role.
type User struct {
	ID        string         `json:"id"`
	TenantID  ident.TenantID `json:"tenant_id,omitempty"`
	Email     string         `json:"email"`
	Role      Role           `json:"role,omitempty"`
	Operator  bool           `json:"operator,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// AddUserRequest is the body of POST /api/v1/users.
type AddUserRequest struct {
	Email string `json:"email"`
	Role  Role   `json:"role"`
	// ExpiresIn is the token's lifetime, as [ParseLifetime] reads it ("90d"); "" for none.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// AddUserResponse carries the new user and its API token, shown only this once.
type AddUserResponse struct {
	User      User       `json:"user"`
	Token     string     `json:"token"`
	TokenID   string     `json:"token_id"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Product is a kind of device a tenant makes; it owns device groups.
type Product struct {
	ID          ident.ProductID `json:"id"`
	TenantID    ident.TenantID  `json:"tenant_id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	CreatedAt   time.Time       `json:"created_at"`
}

// CreateProductRequest is the body of POST /api/v1/products.
type CreateProductRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// MaxDescriptionLen bounds free-text descriptions.
const MaxDescriptionLen = 500

// DeviceGroup is a set of devices of one product that follow one OS feed and update policy.
type DeviceGroup struct {
	ID              ident.GroupID   `json:"id"`
	TenantID        ident.TenantID  `json:"tenant_id"`
	ProductID       ident.ProductID `json:"product_id"`
	ProductName     string          `json:"product_name"`
	Name            string          `json:"name"`
	Description     string          `json:"description"`
	OSFeed          string          `json:"os_feed"`
	UpdatePolicy    string          `json:"update_policy"`
	AllowCrashDumps bool            `json:"allow_crash_dumps"`
	RequireTPM      bool            `json:"require_tpm"` // only TPM evidence passes for its devices
	// MaintenanceWindow is when its devices install application updates (api.Window; "" for
	// any time); an urgent deployment does not wait for it.
	MaintenanceWindow string    `json:"maintenance_window,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
}

// FullName is the `Product/Group` form the CLI accepts.
func (g DeviceGroup) FullName() string { return g.ProductName + "/" + g.Name }

// DefaultGroups are the device groups every new product gets, as Azure Sphere creates them.
var DefaultGroups = []DeviceGroup{
	{Name: "Development", OSFeed: FeedRetail, UpdatePolicy: PolicyRuntimeOnly,
		Description: "Devices for development; applications are sideloaded"},
	{Name: "Field Test", OSFeed: FeedRetail, UpdatePolicy: PolicyAll,
		Description: "Devices in field tests"},
	{Name: "Production", OSFeed: FeedRetail, UpdatePolicy: PolicyAll,
		Description: "Devices in production"},
	{Name: "Production OS Evaluation", OSFeed: FeedRetailEval, UpdatePolicy: PolicyAll,
		Description: "Production software on the next runtime release"},
	{Name: "Field Test OS Evaluation", OSFeed: FeedRetailEval, UpdatePolicy: PolicyAll,
		Description: "Field test software on the next runtime release"},
}

// CreateDeviceGroupRequest is the body of POST /api/v1/device-groups. Product is the product's
// ID or name. Omitted settings take the defaults: Retail, UpdateAll, no crash dumps.
type CreateDeviceGroupRequest struct {
	Product         string `json:"product"`
	Name            string `json:"name"`
	Description     string `json:"description,omitempty"`
	OSFeed          string `json:"os_feed,omitempty"`
	UpdatePolicy    string `json:"update_policy,omitempty"`
	AllowCrashDumps bool   `json:"allow_crash_dumps,omitempty"`
	RequireTPM      bool   `json:"require_tpm,omitempty"`
	// MaintenanceWindow, e.g. "Sat 02:00-04:00 UTC" (api.Window).
	MaintenanceWindow string `json:"maintenance_window,omitempty"`
}

// UpdateDeviceGroupRequest is the body of PATCH /api/v1/device-groups/{id}; nil fields are kept.
type UpdateDeviceGroupRequest struct {
	Name            *string `json:"name,omitempty"`
	Description     *string `json:"description,omitempty"`
	OSFeed          *string `json:"os_feed,omitempty"`
	UpdatePolicy    *string `json:"update_policy,omitempty"`
	AllowCrashDumps *bool   `json:"allow_crash_dumps,omitempty"`
	RequireTPM      *bool   `json:"require_tpm,omitempty"`
	// MaintenanceWindow sets the window; "" removes it.
	MaintenanceWindow *string `json:"maintenance_window,omitempty"`
}

// Device is a device claimed into a tenant.
type Device struct {
	ID          ident.DeviceID  `json:"id"`
	TenantID    ident.TenantID  `json:"tenant_id"`
	ProductID   ident.ProductID `json:"product_id,omitempty"`
	ProductName string          `json:"product_name,omitempty"`
	GroupID     ident.GroupID   `json:"device_group_id,omitempty"`
	GroupName   string          `json:"device_group_name,omitempty"`
	State       string          `json:"state"`
	ClaimedAt   time.Time       `json:"claimed_at"`
	// ClaimedWithCode says the device was claimed with its claim code, which its attestations
	// are checked against.
	ClaimedWithCode bool       `json:"claimed_with_code"`
	RevokedAt       *time.Time `json:"revoked_at,omitempty"`
	LastSeenAt      *time.Time `json:"last_seen_at,omitempty"`
	Development     bool       `json:"development"`
	// RootOfTrust is RootOfTrustSoftware or RootOfTrustTPM once the device has passed an
	// attestation ("" before); EKFingerprint is, for a TPM, the SHA-256 of its endorsement key
	// certificate.
	RootOfTrust   string `json:"root_of_trust,omitempty"`
	EKFingerprint string `json:"ek_fingerprint,omitempty"`

	// The last attestation: when, its result and reason, the runtime it measured, and the expiry
	// of the certificate it earned.
	LastAttestedAt    *time.Time `json:"last_attested_at,omitempty"`
	LastAttestResult  string     `json:"last_attest_result,omitempty"`
	LastAttestReason  string     `json:"last_attest_reason,omitempty"`
	RuntimeSHA512     string     `json:"runtime_sha512,omitempty"`
	CertificateExpiry *time.Time `json:"certificate_expires_at,omitempty"`

	// Updates: what the device's group targets and what the device reports it has.
	Updates *DeviceUpdates `json:"updates,omitempty"`
}

// MaxClaimBatch is the most device IDs one claim request may carry.
const MaxClaimBatch = 1000

// ClaimDevicesRequest is the body of POST /api/v1/devices/claim: devices by ID and claim code,
// or (where the tenant allows it) device_ids by ID alone; not both. The claim is all or nothing.
// DeviceGroupID, if given, is one of the caller tenant's device groups: the devices are claimed
// into it, in the same transaction.
type ClaimDevicesRequest struct {
	DeviceIDs     []string      `json:"device_ids,omitempty"`
	Devices       []ClaimDevice `json:"devices,omitempty"`
	DeviceGroupID ident.GroupID `json:"device_group_id,omitempty"`
}

// ClaimDevice is one device to claim. ClaimCode may be empty only where the tenant allows
// claiming without a code.
type ClaimDevice struct {
	DeviceID  string `json:"device_id"`
	ClaimCode string `json:"claim_code,omitempty"`
}

// ClaimDevicesResponse lists the devices claimed.
type ClaimDevicesResponse struct {
	Devices []Device `json:"devices"`
}

// UpdateDeviceRequest is the body of PATCH /api/v1/devices/{id}. DeviceGroup is a group ID.
type UpdateDeviceRequest struct {
	DeviceGroupID *ident.GroupID `json:"device_group_id,omitempty"`
}

// Paging limits of every paged listing.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// DeviceList is one page of GET /api/v1/devices. NextPageToken is empty on the last page.
type DeviceList struct {
	Devices       []Device `json:"devices"`
	NextPageToken string   `json:"next_page_token,omitempty"`
}

// AuditEntry is one row of a tenant's append-only, hash-chained audit log. Hash is
// SHA-256 over the previous entry's hash and this entry's canonical encoding; see [AuditEntry.ComputeHash].
type AuditEntry struct {
	Seq      int64          `json:"seq"`
	TenantID ident.TenantID `json:"tenant_id"`
	Time     time.Time      `json:"time"`
	Actor    string         `json:"actor"`
	Action   string         `json:"action"`
	Target   string         `json:"target"`
	Source   string         `json:"source"`
	Detail   string         `json:"detail,omitempty"`
	PrevHash string         `json:"prev_hash"`
	Hash     string         `json:"hash"`
}

// AuditList is one page of GET /api/v1/audit, oldest first.
type AuditList struct {
	Entries       []AuditEntry `json:"entries"`
	NextPageToken string       `json:"next_page_token,omitempty"`
}

// OpenAPI is the OpenAPI 3.1 description of the management API. A test of the service keeps it
// in step with the routes it serves, and with the access level each route requires.
//
//go:embed openapi.json
var OpenAPI []byte

// GroupNotice answers POST /api/v1/device-groups/{group}/notify: the group's devices that keep
// a notification channel open are told to check in now, spread over up to 30 seconds.
type GroupNotice struct {
	DeviceGroupID   ident.GroupID `json:"device_group_id"`
	DeviceGroupName string        `json:"device_group_name"`
	At              time.Time     `json:"at"`
}
