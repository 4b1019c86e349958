// Package store provides the security service's persistent state — tenants, users and their
// tokens, products, device groups, devices and the audit log — on SQLite (the embedded default)
// or PostgreSQL (for several replicas), behind one API.
//
// # Transactions
//
// Every read and change happens inside [Store.View] or [Store.Update], whose callback gets a [Tx].
// An API request that changes state runs the change and its audit entry in one Update, so a
// refused or failed request leaves nothing behind.
//
// # Errors
//
// Methods return [ErrNotFound], [ErrExists], [ErrAlreadyClaimed] or [ErrInUse] (wrapped, with the
// object named) where the caller branches; anything else is an internal fault.
//
// # Tenancy
//
// Every method that reads or changes a tenant's object takes the tenant ID and matches on it, so
// an object of another tenant is simply not found.
package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

var (
	ErrNotFound       = errors.New("not found")
	ErrExists         = errors.New("already exists")
	ErrAlreadyClaimed = errors.New("already claimed")
	ErrInUse          = errors.New("in use")
)

// Store is an open database.
type Store struct {
	db      *sql.DB
	dialect dialect
}

// Open opens (creating if needed) and migrates the database named by dsn: a
// `postgres://` or `postgresql://` URL for PostgreSQL, anything else is the path of a SQLite
// file (":memory:" for a private in-memory database).
func Open(ctx context.Context, dsn string) (*Store, error) { panic("unimplemented") }

// Close closes the database.
func (s *Store) Close() error { panic("unimplemented") }

// Backend names the database: "sqlite" or "postgres".
func (s *Store) Backend() string { panic("unimplemented") }

// Ping checks the database answers (for /healthz).
func (s *Store) Ping(ctx context.Context) error { panic("unimplemented") }

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(*Tx) error) error { panic("unimplemented") }

// Update runs fn in a read-write transaction, committed if fn returns nil and rolled back
// otherwise. It may run fn again after a serialisation conflict, so fn must have no effects
// outside the transaction.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error { panic("unimplemented") }

// Tx is an open transaction.
type Tx struct {
	ctx     context.Context
	tx      *sql.Tx
	dialect dialect
}

// DeviceFilter selects and pages devices. Empty fields do not filter; Limit 0 means
// [api.DefaultPageSize]. Devices come in device-ID order, after After.
type DeviceFilter struct {
	ProductID string
	GroupID   string
	After     ident.DeviceID
	Limit     int
}

// Token is an API token as stored: only its SHA-256 hash.
type Token struct {
	Hash      [32]byte
	UserID    string
	CreatedAt time.Time
}

// The methods below are the whole of the store's API. Each is documented where it is defined.
var _ = []any{
	(*Tx).CreateTenant, (*Tx).Tenants, (*Tx).Tenant, (*Tx).TenantByName,
	(*Tx).CreateUser, (*Tx).Users, (*Tx).User, (*Tx).DeleteUser, (*Tx).AnyOperator,
	(*Tx).AddToken, (*Tx).TokenUser,
	(*Tx).CreateProduct, (*Tx).Products, (*Tx).Product, (*Tx).DeleteProduct,
	(*Tx).CreateGroup, (*Tx).Groups, (*Tx).Group, (*Tx).GroupByName, (*Tx).UpdateGroup, (*Tx).DeleteGroup,
	(*Tx).ClaimDevices, (*Tx).Devices, (*Tx).Device, (*Tx).SetDeviceGroup, (*Tx).RevokeDevice,
	(*Tx).AppendAudit, (*Tx).Audit,
}

// CreateTenant inserts t. ErrExists if a tenant has the same name, case-insensitively.
func (tx *Tx) CreateTenant(t api.Tenant) error { panic("unimplemented") }

// Tenants lists every tenant, by name.
func (tx *Tx) Tenants() ([]api.Tenant, error) { panic("unimplemented") }

// Tenant returns the tenant with this ID.
func (tx *Tx) Tenant(id string) (api.Tenant, error) { panic("unimplemented") }

// TenantByName returns the tenant with this name, case-insensitively.
func (tx *Tx) TenantByName(name string) (api.Tenant, error) { panic("unimplemented") }

// CreateUser inserts u. u.TenantID is "" for an operator who belongs to no tenant. ErrExists if
// the tenant has a user with the same email, case-insensitively.
func (tx *Tx) CreateUser(u api.User) error { panic("unimplemented") }

// Users lists a tenant's users, by email.
func (tx *Tx) Users(tenantID string) ([]api.User, error) { panic("unimplemented") }

// User returns a tenant's user by ID or email (case-insensitive).
func (tx *Tx) User(tenantID, idOrEmail string) (api.User, error) { panic("unimplemented") }

// DeleteUser removes a tenant's user and all its tokens.
func (tx *Tx) DeleteUser(tenantID, id string) error { panic("unimplemented") }

// AnyOperator reports whether any user is an operator.
func (tx *Tx) AnyOperator() (bool, error) { panic("unimplemented") }

// AddToken stores a token's hash for its user.
func (tx *Tx) AddToken(t Token) error { panic("unimplemented") }

// TokenUser returns the user that holds the token with this hash. ErrNotFound if none (also
// after the user was removed).
func (tx *Tx) TokenUser(hash [32]byte) (api.User, error) { panic("unimplemented") }

// CreateProduct inserts p and its device groups (each with ID, TenantID and ProductID set by the
// caller). ErrExists if the tenant has a product of the same name.
func (tx *Tx) CreateProduct(p api.Product, groups []api.DeviceGroup) error { panic("unimplemented") }

// Products lists a tenant's products, by name.
func (tx *Tx) Products(tenantID string) ([]api.Product, error) { panic("unimplemented") }

// Product returns a tenant's product by ID or name (case-insensitive).
func (tx *Tx) Product(tenantID, idOrName string) (api.Product, error) { panic("unimplemented") }

// DeleteProduct removes a product and its device groups. ErrInUse if any of its groups has devices.
func (tx *Tx) DeleteProduct(tenantID, id string) error { panic("unimplemented") }

// CreateGroup inserts g. ErrExists if its product has a group of the same name.
func (tx *Tx) CreateGroup(g api.DeviceGroup) error { panic("unimplemented") }

// Groups lists a tenant's device groups, of one product if productID is not "", by product
// name then group name. ProductName is filled in.
func (tx *Tx) Groups(tenantID, productID string) ([]api.DeviceGroup, error) { panic("unimplemented") }

// Group returns a tenant's device group by ID, ProductName filled in.
func (tx *Tx) Group(tenantID, id string) (api.DeviceGroup, error) { panic("unimplemented") }

// GroupByName returns a product's device group by name (case-insensitive).
func (tx *Tx) GroupByName(tenantID, productID, name string) (api.DeviceGroup, error) {
	panic("unimplemented")
}

// UpdateGroup stores g's name, description and settings. ErrExists on a name clash.
func (tx *Tx) UpdateGroup(g api.DeviceGroup) error { panic("unimplemented") }

// DeleteGroup removes a device group. ErrInUse if it has devices.
func (tx *Tx) DeleteGroup(tenantID, id string) error { panic("unimplemented") }

// ClaimDevices claims every one of ids into the tenant, or none: if any is claimed already (by
// this or another tenant) it returns an error wrapping ErrAlreadyClaimed that names the first
// such device. Duplicate IDs in ids are claimed once.
func (tx *Tx) ClaimDevices(tenantID string, ids []ident.DeviceID, at time.Time) ([]api.Device, error) {
	panic("unimplemented")
}

// Devices lists a tenant's devices by f, in device-ID order.
func (tx *Tx) Devices(tenantID string, f DeviceFilter) ([]api.Device, error) { panic("unimplemented") }

// Device returns a tenant's device, with its product and group names.
func (tx *Tx) Device(tenantID string, id ident.DeviceID) (api.Device, error) { panic("unimplemented") }

// SetDeviceGroup moves a tenant's device into one of its device groups ("" for none).
// ErrNotFound if the group is not the tenant's.
func (tx *Tx) SetDeviceGroup(tenantID string, id ident.DeviceID, groupID string) error {
	panic("unimplemented")
}

// RevokeDevice marks a tenant's device revoked at the given time; revoking twice keeps the
// first time.
func (tx *Tx) RevokeDevice(tenantID string, id ident.DeviceID, at time.Time) error {
	panic("unimplemented")
}

// AppendAudit appends e to its tenant's audit chain (e.TenantID; "" is the operator's chain),
// setting Seq, PrevHash and Hash, and returns the stored entry. Concurrent appends to one
// chain are serialised.
func (tx *Tx) AppendAudit(e api.AuditEntry) (api.AuditEntry, error) { panic("unimplemented") }

// Audit returns up to limit entries of a tenant's chain with Seq > afterSeq, oldest first.
func (tx *Tx) Audit(tenantID string, afterSeq int64, limit int) ([]api.AuditEntry, error) {
	panic("unimplemented")
}

type dialect struct{}
