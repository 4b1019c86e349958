package store

import (
	"fmt"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

const productColumns = "id, tenant_id, name, description, created_at"

func scanProduct(r scanner) (api.Product, error) {
	var p api.Product
	var created int64
	err := r.Scan(&p.ID, &p.TenantID, &p.Name, &p.Description, &created)
	p.CreatedAt = fromMicros(created)
	return p, err
}

// CreateProduct inserts p and its device groups (each with ID, TenantID and ProductID set by the
// caller). ErrExists if the tenant has a product of the same name.
func (tx *Tx) CreateProduct(p api.Product, groups []api.DeviceGroup) error {
	return tx.atomic(func() error {
		n, err := tx.exec(`INSERT INTO products (id, tenant_id, name, name_key, description, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			p.ID, p.TenantID, p.Name, ident.NameKey(p.Name), p.Description, micros(p.CreatedAt))
		if err != nil {
			return fmt.Errorf("create product %q: %w", p.Name, err)
		}
		if n == 0 {
			return fmt.Errorf("product %q: %w", p.Name, ErrExists)
		}
		for _, g := range groups {
			if err := tx.CreateGroup(g); err != nil {
				return err
			}
		}
		return nil
	})
}

// Products lists a tenant's products, by name.
func (tx *Tx) Products(tenantID ident.TenantID) ([]api.Product, error) {
	ps, err := queryAll(tx, scanProduct,
		"SELECT "+productColumns+" FROM products WHERE tenant_id = $1 ORDER BY name_key", tenantID)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return ps, nil
}

// Product returns a tenant's product by ID or name (case-insensitive).
func (tx *Tx) Product(tenantID ident.TenantID, idOrName string) (api.Product, error) {
	return queryOne(tx, scanProduct, fmt.Sprintf("product %q", idOrName),
		`SELECT `+productColumns+` FROM products
		WHERE tenant_id = $1 AND (id = $2 OR name_key = $3)
		ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1`,
		tenantID, idOrName, ident.NameKey(idOrName))
}

// DeleteProduct removes a product and its device groups. ErrInUse if any of its groups has devices.
func (tx *Tx) DeleteProduct(tenantID ident.TenantID, id ident.ProductID) error {
	p, err := queryOne(tx, scanProduct, fmt.Sprintf("product %q", id),
		"SELECT "+productColumns+" FROM products WHERE tenant_id = $1 AND id = $2", tenantID, id)
	if err != nil {
		return err
	}
	inUse, err := tx.exists(`SELECT 1 FROM devices d JOIN device_groups g ON g.id = d.group_id
		WHERE g.tenant_id = $1 AND g.product_id = $2`, tenantID, id)
	if err != nil {
		return fmt.Errorf("delete product %q: %w", p.Name, err)
	}
	if inUse {
		return fmt.Errorf("product %q: %w by devices", p.Name, ErrInUse)
	}
	if _, err := tx.exec("DELETE FROM device_groups WHERE tenant_id = $1 AND product_id = $2", tenantID, id); err != nil {
		return fmt.Errorf("delete product %q: %w", p.Name, err)
	}
	if _, err := tx.exec("DELETE FROM products WHERE tenant_id = $1 AND id = $2", tenantID, id); err != nil {
		return fmt.Errorf("delete product %q: %w", p.Name, err)
	}
	return nil
}

// groupSelect reads device groups with their product's name.
const groupSelect = `SELECT g.id, g.tenant_id, g.product_id, p.name, g.name, g.description,
	g.os_feed, g.update_policy, g.allow_crash_dumps, g.created_at, g.require_tpm, g.maintenance_window
	FROM device_groups g JOIN products p ON p.id = g.product_id`

func scanGroup(r scanner) (api.DeviceGroup, error) {
	var g api.DeviceGroup
	var created int64
	err := r.Scan(&g.ID, &g.TenantID, &g.ProductID, &g.ProductName, &g.Name, &g.Description,
		&g.OSFeed, &g.UpdatePolicy, &g.AllowCrashDumps, &created, &g.RequireTPM, &g.MaintenanceWindow)
	g.CreatedAt = fromMicros(created)
	return g, err
}

// CreateGroup inserts g. ErrExists if its product has a group of the same name.
func (tx *Tx) CreateGroup(g api.DeviceGroup) error {
	ok, err := tx.exists("SELECT 1 FROM products WHERE tenant_id = $1 AND id = $2", g.TenantID, g.ProductID)
	if err != nil {
		return fmt.Errorf("create device group %q: %w", g.Name, err)
	}
	if !ok {
		return fmt.Errorf("product %q: %w", g.ProductID, ErrNotFound)
	}
	n, err := tx.exec(`INSERT INTO device_groups (id, tenant_id, product_id, name, name_key, description,
			os_feed, update_policy, allow_crash_dumps, created_at, require_tpm, maintenance_window)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
		g.ID, g.TenantID, g.ProductID, g.Name, ident.NameKey(g.Name), g.Description,
		g.OSFeed, g.UpdatePolicy, g.AllowCrashDumps, micros(g.CreatedAt), g.RequireTPM, g.MaintenanceWindow)
	if err != nil {
		return fmt.Errorf("create device group %q: %w", g.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("device group %q: %w", g.Name, ErrExists)
	}
	return nil
}

// Groups lists a tenant's device groups, of one product if productID is not "", by product
// name then group name. ProductName is filled in.
func (tx *Tx) Groups(tenantID ident.TenantID, productID ident.ProductID) ([]api.DeviceGroup, error) {
	gs, err := queryAll(tx, scanGroup, groupSelect+`
		WHERE g.tenant_id = $1 AND ($2 = '' OR g.product_id = $2)
		ORDER BY p.name_key, g.name_key`, tenantID, productID)
	if err != nil {
		return nil, fmt.Errorf("list device groups: %w", err)
	}
	return gs, nil
}

// Group returns a tenant's device group by ID, ProductName filled in.
func (tx *Tx) Group(tenantID ident.TenantID, id ident.GroupID) (api.DeviceGroup, error) {
	return queryOne(tx, scanGroup, fmt.Sprintf("device group %q", id),
		groupSelect+" WHERE g.tenant_id = $1 AND g.id = $2", tenantID, id)
}

// GroupByName returns a product's device group by name (case-insensitive).
func (tx *Tx) GroupByName(tenantID ident.TenantID, productID ident.ProductID, name string) (api.DeviceGroup, error) {
	return queryOne(tx, scanGroup, fmt.Sprintf("device group %q", name),
		groupSelect+" WHERE g.tenant_id = $1 AND g.product_id = $2 AND g.name_key = $3",
		tenantID, productID, ident.NameKey(name))
}

// UpdateGroup stores g's name, description and settings. ErrExists on a name clash.
func (tx *Tx) UpdateGroup(g api.DeviceGroup) error {
	// Look for a clash first: a failed UPDATE would end a PostgreSQL transaction.
	clash, err := tx.exists(`SELECT 1 FROM device_groups g JOIN device_groups o ON o.product_id = g.product_id
		WHERE g.tenant_id = $1 AND g.id = $2 AND o.name_key = $3 AND o.id <> $2`,
		g.TenantID, g.ID, ident.NameKey(g.Name))
	if err != nil {
		return fmt.Errorf("update device group %q: %w", g.Name, err)
	}
	if clash {
		return fmt.Errorf("device group %q: %w", g.Name, ErrExists)
	}
	n, err := tx.exec(`UPDATE device_groups SET name = $3, name_key = $4, description = $5,
			os_feed = $6, update_policy = $7, allow_crash_dumps = $8, require_tpm = $9, maintenance_window = $10
		WHERE tenant_id = $1 AND id = $2`,
		g.TenantID, g.ID, g.Name, ident.NameKey(g.Name), g.Description,
		g.OSFeed, g.UpdatePolicy, g.AllowCrashDumps, g.RequireTPM, g.MaintenanceWindow)
	if tx.dialect.isUnique(err) { // a concurrent change won the name
		return fmt.Errorf("device group %q: %w", g.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("update device group %q: %w", g.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("device group %q: %w", g.ID, ErrNotFound)
	}
	return nil
}

// DeleteGroup removes a device group. ErrInUse if it has devices.
func (tx *Tx) DeleteGroup(tenantID ident.TenantID, id ident.GroupID) error {
	g, err := tx.Group(tenantID, id)
	if err != nil {
		return err
	}
	inUse, err := tx.exists("SELECT 1 FROM devices WHERE tenant_id = $1 AND group_id = $2", tenantID, id)
	if err != nil {
		return fmt.Errorf("delete device group %q: %w", g.FullName(), err)
	}
	if inUse {
		return fmt.Errorf("device group %q: %w by devices", g.FullName(), ErrInUse)
	}
	if _, err := tx.exec("DELETE FROM device_groups WHERE tenant_id = $1 AND id = $2", tenantID, id); err != nil {
		return fmt.Errorf("delete device group %q: %w", g.FullName(), err)
	}
	return nil
}
