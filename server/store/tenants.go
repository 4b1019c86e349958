package store

import (
	"fmt"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

const tenantColumns = "id, name, created_at, allow_claim_without_code, image_quota, image_bytes"

func scanTenant(r scanner) (api.Tenant, error) {
	var t api.Tenant
	var created int64
	err := r.Scan(&t.ID, &t.Name, &created, &t.AllowClaimWithoutCode, &t.ImageQuota, &t.ImageBytes)
	t.CreatedAt = fromMicros(created)
	return t, err
}

// CreateTenant inserts t. ErrExists if a tenant has the same name, case-insensitively.
func (tx *Tx) CreateTenant(t api.Tenant) error {
	// ON CONFLICT DO NOTHING rather than a failed insert, which would end a PostgreSQL
	// transaction: a caller told ErrExists may go on.
	n, err := tx.exec(`INSERT INTO tenants (id, name, name_key, created_at, allow_claim_without_code, image_quota)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, t.ID, t.Name, ident.NameKey(t.Name), micros(t.CreatedAt),
		t.AllowClaimWithoutCode, t.ImageQuota)
	if err != nil {
		return fmt.Errorf("create tenant %q: %w", t.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("tenant %q: %w", t.Name, ErrExists)
	}
	return nil
}

// SetAllowClaimWithoutCode sets whether the tenant's users may claim devices by ID alone.
func (tx *Tx) SetAllowClaimWithoutCode(tenantID ident.TenantID, allow bool) error {
	n, err := tx.exec("UPDATE tenants SET allow_claim_without_code = $2 WHERE id = $1", tenantID, allow)
	if err != nil {
		return fmt.Errorf("update tenant %q: %w", tenantID, err)
	}
	if n == 0 {
		return fmt.Errorf("tenant %q: %w", tenantID, ErrNotFound)
	}
	return nil
}

// SetImageQuota sets the most bytes of image packages a tenant may keep (0: no limit). A quota
// below what the tenant keeps already refuses further uploads and removes nothing.
func (tx *Tx) SetImageQuota(tenantID ident.TenantID, quota int64) error {
	n, err := tx.exec("UPDATE tenants SET image_quota = $2 WHERE id = $1", tenantID, quota)
	if err != nil {
		return fmt.Errorf("set image quota of tenant %q: %w", tenantID, err)
	}
	if n == 0 {
		return fmt.Errorf("tenant %q: %w", tenantID, ErrNotFound)
	}
	return nil
}

// Tenants lists every tenant, by name.
func (tx *Tx) Tenants() ([]api.Tenant, error) {
	ts, err := queryAll(tx, scanTenant, "SELECT "+tenantColumns+" FROM tenants ORDER BY name_key")
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ts, nil
}

// Tenant returns the tenant with this ID.
func (tx *Tx) Tenant(id ident.TenantID) (api.Tenant, error) {
	return queryOne(tx, scanTenant, fmt.Sprintf("tenant %q", id),
		"SELECT "+tenantColumns+" FROM tenants WHERE id = $1", id)
}

// TenantByName returns the tenant with this name, case-insensitively.
func (tx *Tx) TenantByName(name string) (api.Tenant, error) {
	return queryOne(tx, scanTenant, fmt.Sprintf("tenant %q", name),
		"SELECT "+tenantColumns+" FROM tenants WHERE name_key = $1", ident.NameKey(name))
}

const userColumns = "u.id, u.tenant_id, u.email, u.role, u.operator, u.created_at"

func scanUser(r scanner) (api.User, error) {
	var u api.User
	var created int64
	err := r.Scan(&u.ID, &u.TenantID, &u.Email, &u.Role, &u.Operator, &created)
	u.CreatedAt = fromMicros(created)
	return u, err
}

// emailKey is the form under which emails are compared.
func emailKey(email string) string { return strings.ToLower(email) }

// CreateUser inserts u. u.TenantID is "" for an operator who belongs to no tenant. ErrExists if
// the tenant has a user with the same email, case-insensitively.
func (tx *Tx) CreateUser(u api.User) error {
	n, err := tx.exec(`INSERT INTO users (id, tenant_id, email, email_key, role, operator, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		u.ID, u.TenantID, u.Email, emailKey(u.Email), string(u.Role), u.Operator, micros(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Email, err)
	}
	if n == 0 {
		return fmt.Errorf("user %q: %w", u.Email, ErrExists)
	}
	return nil
}

// Users lists a tenant's users, by email.
func (tx *Tx) Users(tenantID ident.TenantID) ([]api.User, error) {
	us, err := queryAll(tx, scanUser,
		"SELECT "+userColumns+" FROM users u WHERE u.tenant_id = $1 ORDER BY u.email_key", tenantID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// User returns a tenant's user by ID or email (case-insensitive).
func (tx *Tx) User(tenantID ident.TenantID, idOrEmail string) (api.User, error) {
	return queryOne(tx, scanUser, fmt.Sprintf("user %q", idOrEmail),
		`SELECT `+userColumns+` FROM users u
		WHERE u.tenant_id = $1 AND (u.id = $2 OR u.email_key = $3)
		ORDER BY CASE WHEN u.id = $2 THEN 0 ELSE 1 END LIMIT 1`,
		tenantID, idOrEmail, emailKey(idOrEmail))
}

// DeleteUser removes a tenant's user and all its tokens.
func (tx *Tx) DeleteUser(tenantID ident.TenantID, id string) error {
	// The tokens go by ON DELETE CASCADE.
	n, err := tx.exec("DELETE FROM users WHERE tenant_id = $1 AND id = $2", tenantID, id)
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	return nil
}

// AnyOperator reports whether any user is an operator.
func (tx *Tx) AnyOperator() (bool, error) {
	ok, err := tx.exists("SELECT 1 FROM users WHERE operator = $1", true)
	if err != nil {
		return false, fmt.Errorf("look for an operator: %w", err)
	}
	return ok, nil
}
