package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
)

// each runs test on a fresh store of every backend.
func each(t *testing.T, test func(t *testing.T, s *store.Store)) { storetest.Each(t, test) }

func update(t *testing.T, s *store.Store, fn func(*store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, s *store.Store, fn func(*store.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// now is a time with nanoseconds, not in UTC, as time.Now might return.
var now = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func newTenant(t *testing.T, s *store.Store, name string) api.Tenant {
	t.Helper()
	tn := api.Tenant{ID: ident.TenantID(ident.NewID()), Name: name, CreatedAt: now}
	update(t, s, func(tx *store.Tx) error { return tx.CreateTenant(tn) })
	return tn
}

// newProduct creates a product with the default device groups.
func newProduct(t *testing.T, s *store.Store, tenantID ident.TenantID, name string) (api.Product, []api.DeviceGroup) {
	t.Helper()
	p := api.Product{ID: ident.ProductID(ident.NewID()), TenantID: tenantID, Name: name, CreatedAt: now}
	groups := newGroups(p, api.DefaultGroups)
	update(t, s, func(tx *store.Tx) error { return tx.CreateProduct(p, groups) })
	return p, groups
}

func newGroups(p api.Product, templates []api.DeviceGroup) []api.DeviceGroup {
	var groups []api.DeviceGroup
	for _, g := range templates {
		g.ID, g.TenantID, g.ProductID, g.ProductName, g.CreatedAt = ident.GroupID(ident.NewID()), p.TenantID, p.ID, p.Name, now
		groups = append(groups, g)
	}
	return groups
}

// deviceID returns a distinct device ID for each n.
func deviceID(n int) ident.DeviceID {
	return ident.DeviceIDFromPublicKey(fmt.Appendf(nil, "device %d", n))
}

func claim(t *testing.T, s *store.Store, tenantID ident.TenantID, ids ...ident.DeviceID) {
	t.Helper()
	update(t, s, func(tx *store.Tx) error {
		_, err := tx.ClaimDevices(tenantID, ids, now)
		return err
	})
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func TestOpenTwiceMigratesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rampart.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	newTenant(t, s, "Contoso")
	s.Close()

	s, err = store.Open(ctx, path)
	if err != nil {
		t.Fatalf("open again: %v", err)
	}
	defer s.Close()
	view(t, s, func(tx *store.Tx) error {
		_, err := tx.TenantByName("Contoso")
		return err
	})
	var migrations int
	if err := s.DB().QueryRow("SELECT count(*) FROM schema_migrations").Scan(&migrations); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("migrations/sqlite/*.sql")
	if migrations != len(files) || len(files) < 3 {
		t.Errorf("schema_migrations has %d rows, want one per migration file (%d)", migrations, len(files))
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	if !slices.Contains(storetest.Backends(t), "postgres") {
		t.Skip(storetest.PostgresEnv + " is not set")
	}
	dsn := storetest.Schema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := store.Open(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestMemoryStoreIsOneDatabase(t *testing.T) {
	t.Parallel()
	s, err := store.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Backend() != "sqlite" {
		t.Errorf("Backend() = %q, want sqlite", s.Backend())
	}
	newTenant(t, s, "Contoso")
	view(t, s, func(tx *store.Tx) error {
		_, err := tx.TenantByName("contoso")
		return err
	})
}

func TestPing(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		if err := s.Ping(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

func TestTenantNamesUniqueCaseInsensitively(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		contoso := newTenant(t, s, "Contoso")
		update(t, s, func(tx *store.Tx) error {
			err := tx.CreateTenant(api.Tenant{ID: ident.TenantID(ident.NewID()), Name: "CONTOSO", CreatedAt: now})
			wantErr(t, "second CONTOSO", err, store.ErrExists)
			// ErrExists leaves the transaction usable.
			return tx.CreateTenant(api.Tenant{ID: ident.TenantID(ident.NewID()), Name: "Fabrikam", CreatedAt: now})
		})
		view(t, s, func(tx *store.Tx) error {
			got, err := tx.TenantByName("contoso")
			if err != nil {
				return err
			}
			if want := (api.Tenant{ID: contoso.ID, Name: "Contoso", CreatedAt: now.UTC().Truncate(time.Microsecond)}); got != want {
				t.Errorf("TenantByName = %+v, want %+v", got, want)
			}
			if got, err := tx.Tenant(contoso.ID); err != nil || got.Name != "Contoso" {
				t.Errorf("Tenant(id) = %+v, %v", got, err)
			}
			_, err = tx.Tenant(ident.TenantID(ident.NewID()))
			wantErr(t, "Tenant(unknown)", err, store.ErrNotFound)
			tenants, err := tx.Tenants()
			if err != nil {
				return err
			}
			if len(tenants) != 2 || tenants[0].Name != "Contoso" || tenants[1].Name != "Fabrikam" {
				t.Errorf("Tenants = %+v, want Contoso, Fabrikam", tenants)
			}
			return nil
		})
	})
}

func TestUserEmailUniquePerTenant(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		user := func(tenantID ident.TenantID, email string) api.User {
			return api.User{ID: ident.NewID(), TenantID: tenantID, Email: email, Role: api.RoleReader, CreatedAt: now}
		}
		ua := user(a.ID, "ann@example.com")
		update(t, s, func(tx *store.Tx) error {
			if err := tx.CreateUser(ua); err != nil {
				return err
			}
			return tx.CreateUser(user(b.ID, "ann@example.com"))
		})
		update(t, s, func(tx *store.Tx) error {
			wantErr(t, "same email, same tenant", tx.CreateUser(user(a.ID, "Ann@Example.com")), store.ErrExists)
			return nil
		})
		view(t, s, func(tx *store.Tx) error {
			for _, key := range []string{ua.ID, "ANN@example.com"} {
				got, err := tx.User(a.ID, key)
				if err != nil {
					return err
				}
				if got.ID != ua.ID {
					t.Errorf("User(%q) = %+v, want %s", key, got, ua.ID)
				}
			}
			users, err := tx.Users(a.ID)
			if err != nil {
				return err
			}
			if len(users) != 1 || users[0].ID != ua.ID {
				t.Errorf("Users(A) = %+v, want only %s", users, ua.ID)
			}
			return nil
		})
	})
}

func TestOperators(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		view(t, s, func(tx *store.Tx) error {
			if any, err := tx.AnyOperator(); err != nil || any {
				t.Errorf("AnyOperator on an empty store = %v, %v", any, err)
			}
			return nil
		})
		op := api.User{ID: ident.NewID(), Email: "root@example.com", Operator: true, CreatedAt: now}
		update(t, s, func(tx *store.Tx) error { return tx.CreateUser(op) })
		view(t, s, func(tx *store.Tx) error {
			if any, err := tx.AnyOperator(); err != nil || !any {
				t.Errorf("AnyOperator = %v, %v, want true", any, err)
			}
			got, err := tx.User("", "root@example.com")
			if err != nil {
				return err
			}
			if !got.Operator || got.TenantID != "" {
				t.Errorf("operator read back as %+v", got)
			}
			return nil
		})
	})
}

func TestDeleteUserRemovesTokens(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		u := api.User{ID: ident.NewID(), TenantID: a.ID, Email: "ann@example.com", Role: api.RoleAdministrator, CreatedAt: now}
		tok := store.Token{Hash: [32]byte{1, 2, 3}, UserID: u.ID, CreatedAt: now}
		update(t, s, func(tx *store.Tx) error {
			if err := tx.CreateUser(u); err != nil {
				return err
			}
			return tx.AddToken(tok)
		})
		view(t, s, func(tx *store.Tx) error {
			got, err := tx.TokenUser(tok.Hash)
			if err != nil {
				return err
			}
			if got.ID != u.ID || got.Role != api.RoleAdministrator {
				t.Errorf("TokenUser = %+v, want %s", got, u.ID)
			}
			_, err = tx.TokenUser([32]byte{9})
			wantErr(t, "unknown token", err, store.ErrNotFound)
			return nil
		})
		update(t, s, func(tx *store.Tx) error { return tx.DeleteUser(a.ID, u.ID) })
		view(t, s, func(tx *store.Tx) error {
			_, err := tx.TokenUser(tok.Hash)
			wantErr(t, "token of deleted user", err, store.ErrNotFound)
			_, err = tx.User(a.ID, u.ID)
			wantErr(t, "deleted user", err, store.ErrNotFound)
			return nil
		})
		update(t, s, func(tx *store.Tx) error {
			wantErr(t, "delete again", tx.DeleteUser(a.ID, u.ID), store.ErrNotFound)
			return nil
		})
	})
}

func TestCreateProductIsAtomic(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		p := api.Product{ID: ident.ProductID(ident.NewID()), TenantID: a.ID, Name: "Widget", CreatedAt: now}
		groups := newGroups(p, []api.DeviceGroup{{Name: "Lab"}, {Name: "Field"}, {Name: "LAB"}})
		// Even a caller that commits after the error keeps nothing of the product.
		update(t, s, func(tx *store.Tx) error {
			wantErr(t, "groups that clash", tx.CreateProduct(p, groups), store.ErrExists)
			return nil
		})
		view(t, s, func(tx *store.Tx) error {
			_, err := tx.Product(a.ID, string(p.ID))
			wantErr(t, "product after failed create", err, store.ErrNotFound)
			gs, err := tx.Groups(a.ID, "")
			if err != nil {
				return err
			}
			if len(gs) != 0 {
				t.Errorf("groups after failed create: %+v", gs)
			}
			return nil
		})

		newProduct(t, s, a.ID, "Widget")
		update(t, s, func(tx *store.Tx) error {
			err := tx.CreateProduct(api.Product{ID: ident.ProductID(ident.NewID()), TenantID: a.ID, Name: "wIDGET", CreatedAt: now}, nil)
			wantErr(t, "product name clash", err, store.ErrExists)
			return nil
		})
	})
}

func TestUpdateRollsBackOnError(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		boom := errors.New("boom")
		err := s.Update(context.Background(), func(tx *store.Tx) error {
			if err := tx.CreateTenant(api.Tenant{ID: ident.TenantID(ident.NewID()), Name: "A", CreatedAt: now}); err != nil {
				return err
			}
			return boom
		})
		if err != boom {
			t.Fatalf("Update returned %v, want fn's error", err)
		}
		view(t, s, func(tx *store.Tx) error {
			_, err := tx.TenantByName("A")
			wantErr(t, "tenant of failed update", err, store.ErrNotFound)
			return nil
		})
	})
}

func TestLookupsIgnoreCase(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		p, groups := newProduct(t, s, a.ID, "Coffee Maker")
		view(t, s, func(tx *store.Tx) error {
			for _, key := range []string{string(p.ID), "coffee maker", "COFFEE MAKER"} {
				got, err := tx.Product(a.ID, key)
				if err != nil {
					return err
				}
				if got.ID != p.ID || got.Name != "Coffee Maker" {
					t.Errorf("Product(%q) = %+v", key, got)
				}
			}
			g, err := tx.GroupByName(a.ID, p.ID, "field test")
			if err != nil {
				return err
			}
			if g.ID != groups[1].ID || g.Name != "Field Test" || g.ProductName != "Coffee Maker" {
				t.Errorf("GroupByName = %+v, want %+v", g, groups[1])
			}
			return nil
		})
	})
}

func TestGroups(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		zed, _ := newProduct(t, s, a.ID, "Zed")
		alpha, _ := newProduct(t, s, a.ID, "alpha")
		extra := api.DeviceGroup{ID: ident.GroupID(ident.NewID()), TenantID: a.ID, ProductID: alpha.ID, Name: "Beta",
			OSFeed: api.FeedRetail, UpdatePolicy: api.PolicyNone, AllowCrashDumps: true, CreatedAt: now}
		update(t, s, func(tx *store.Tx) error { return tx.CreateGroup(extra) })
		update(t, s, func(tx *store.Tx) error {
			dup := extra
			dup.ID, dup.Name = ident.GroupID(ident.NewID()), "BETA"
			wantErr(t, "group name clash", tx.CreateGroup(dup), store.ErrExists)
			other := extra
			other.ID, other.ProductID = ident.GroupID(ident.NewID()), zed.ID // same name, other product
			return tx.CreateGroup(other)
		})
		view(t, s, func(tx *store.Tx) error {
			all, err := tx.Groups(a.ID, "")
			if err != nil {
				return err
			}
			var names []string
			for _, g := range all {
				names = append(names, g.FullName())
			}
			want := "alpha/Beta alpha/Development alpha/Field Test alpha/Field Test OS Evaluation alpha/Production alpha/Production OS Evaluation " +
				"Zed/Beta Zed/Development Zed/Field Test Zed/Field Test OS Evaluation Zed/Production Zed/Production OS Evaluation"
			if got := strings.Join(names, " "); got != want {
				t.Errorf("Groups order:\n got %s\nwant %s", got, want)
			}
			ofAlpha, err := tx.Groups(a.ID, alpha.ID)
			if err != nil {
				return err
			}
			if len(ofAlpha) != 6 {
				t.Errorf("Groups(alpha) has %d groups, want 6", len(ofAlpha))
			}
			got, err := tx.Group(a.ID, extra.ID)
			if err != nil {
				return err
			}
			want2 := extra
			want2.ProductName, want2.CreatedAt = "alpha", now.UTC().Truncate(time.Microsecond)
			if got != want2 {
				t.Errorf("Group = %+v, want %+v", got, want2)
			}
			return nil
		})

		update(t, s, func(tx *store.Tx) error {
			g := extra
			g.Name = "development"
			wantErr(t, "rename onto another group", tx.UpdateGroup(g), store.ErrExists)
			g.Name, g.Description, g.OSFeed, g.UpdatePolicy, g.AllowCrashDumps = "BETA", "renamed", api.FeedRetailEval, api.PolicyAll, false
			return tx.UpdateGroup(g) // its own name in another case is no clash
		})
		view(t, s, func(tx *store.Tx) error {
			got, err := tx.Group(a.ID, extra.ID)
			if err != nil {
				return err
			}
			if got.Name != "BETA" || got.Description != "renamed" || got.OSFeed != api.FeedRetailEval ||
				got.UpdatePolicy != api.PolicyAll || got.AllowCrashDumps {
				t.Errorf("after UpdateGroup: %+v", got)
			}
			return nil
		})
	})
}

// TestCrossTenantReadIsNotFound reads tenant A's objects as tenant B.
func TestCrossTenantReadIsNotFound(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		p, groups := newProduct(t, s, a.ID, "Widget")
		u := api.User{ID: ident.NewID(), TenantID: a.ID, Email: "ann@example.com", Role: api.RoleReader, CreatedAt: now}
		update(t, s, func(tx *store.Tx) error { return tx.CreateUser(u) })
		dev := deviceID(1)
		claim(t, s, a.ID, dev)
		update(t, s, func(tx *store.Tx) error { return tx.SetDeviceGroup(a.ID, dev, groups[0].ID) })

		view(t, s, func(tx *store.Tx) error {
			for name, read := range map[string]func() error{
				"User by ID":        func() error { _, err := tx.User(b.ID, u.ID); return err },
				"User by email":     func() error { _, err := tx.User(b.ID, u.Email); return err },
				"Product by ID":     func() error { _, err := tx.Product(b.ID, string(p.ID)); return err },
				"Product by name":   func() error { _, err := tx.Product(b.ID, p.Name); return err },
				"Group":             func() error { _, err := tx.Group(b.ID, groups[0].ID); return err },
				"GroupByName":       func() error { _, err := tx.GroupByName(b.ID, p.ID, groups[0].Name); return err },
				"Device":            func() error { _, err := tx.Device(b.ID, dev); return err },
				"operator's User":   func() error { _, err := tx.User("", u.ID); return err },
				"Tenant of unknown": func() error { _, err := tx.Tenant(""); return err },
			} {
				wantErr(t, name, read(), store.ErrNotFound)
			}
			for name, list := range map[string]func() (int, error){
				"Users":             func() (int, error) { l, err := tx.Users(b.ID); return len(l), err },
				"Products":          func() (int, error) { l, err := tx.Products(b.ID); return len(l), err },
				"Groups":            func() (int, error) { l, err := tx.Groups(b.ID, ""); return len(l), err },
				"Groups of product": func() (int, error) { l, err := tx.Groups(b.ID, p.ID); return len(l), err },
				"Devices":           func() (int, error) { l, err := tx.Devices(b.ID, store.DeviceFilter{}); return len(l), err },
				"Devices of group": func() (int, error) {
					l, err := tx.Devices(b.ID, store.DeviceFilter{GroupID: groups[0].ID})
					return len(l), err
				},
			} {
				if n, err := list(); err != nil || n != 0 {
					t.Errorf("%s as tenant B: %d items, error %v; want none", name, n, err)
				}
			}
			return nil
		})
	})
}

// TestCrossTenantWriteIsNotFound changes tenant A's objects as tenant B, and checks nothing changed.
func TestCrossTenantWriteIsNotFound(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		p, groups := newProduct(t, s, a.ID, "Widget")
		_, bGroups := newProduct(t, s, b.ID, "Gadget")
		u := api.User{ID: ident.NewID(), TenantID: a.ID, Email: "ann@example.com", Role: api.RoleReader, CreatedAt: now}
		update(t, s, func(tx *store.Tx) error { return tx.CreateUser(u) })
		dev, bDev := deviceID(1), deviceID(2)
		claim(t, s, a.ID, dev)
		claim(t, s, b.ID, bDev)

		for name, write := range map[string]func(tx *store.Tx) error{
			"DeleteUser":    func(tx *store.Tx) error { return tx.DeleteUser(b.ID, u.ID) },
			"DeleteProduct": func(tx *store.Tx) error { return tx.DeleteProduct(b.ID, p.ID) },
			"DeleteGroup":   func(tx *store.Tx) error { return tx.DeleteGroup(b.ID, groups[0].ID) },
			"CreateGroup in A's product": func(tx *store.Tx) error {
				return tx.CreateGroup(api.DeviceGroup{ID: ident.GroupID(ident.NewID()), TenantID: b.ID, ProductID: p.ID, Name: "Mine", CreatedAt: now})
			},
			"UpdateGroup": func(tx *store.Tx) error {
				g := groups[0]
				g.TenantID, g.Name = b.ID, "Stolen"
				return tx.UpdateGroup(g)
			},
			"SetDeviceGroup of A's device": func(tx *store.Tx) error { return tx.SetDeviceGroup(b.ID, dev, bGroups[0].ID) },
			"SetDeviceGroup into A's group": func(tx *store.Tx) error {
				return tx.SetDeviceGroup(b.ID, bDev, groups[0].ID)
			},
			"SetDeviceGroup none": func(tx *store.Tx) error { return tx.SetDeviceGroup(b.ID, dev, "") },
			"RevokeDevice":        func(tx *store.Tx) error { return tx.RevokeDevice(b.ID, dev, now) },
		} {
			err := s.Update(context.Background(), write)
			wantErr(t, name+" as tenant B", err, store.ErrNotFound)
		}

		view(t, s, func(tx *store.Tx) error {
			if _, err := tx.User(a.ID, u.ID); err != nil {
				t.Errorf("A's user: %v", err)
			}
			if gs, err := tx.Groups(a.ID, p.ID); err != nil || len(gs) != len(groups) || gs[0].Name == "Stolen" {
				t.Errorf("A's groups: %+v, %v", gs, err)
			}
			if d, err := tx.Device(a.ID, dev); err != nil || d.State != api.DeviceClaimed || d.GroupID != "" {
				t.Errorf("A's device: %+v, %v", d, err)
			}
			if d, err := tx.Device(b.ID, bDev); err != nil || d.GroupID != "" {
				t.Errorf("B's device: %+v, %v", d, err)
			}
			return nil
		})
	})
}

func TestClaimIsAllOrNothing(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "Secret Corp")
		claim(t, s, a.ID, deviceID(1))
		claim(t, s, b.ID, deviceID(2))
		for _, tc := range []struct {
			name  string
			owner ident.DeviceID
		}{
			{"claimed by this tenant", deviceID(1)},
			{"claimed by another tenant", deviceID(2)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				batch := []ident.DeviceID{deviceID(10), deviceID(11), tc.owner, deviceID(1), deviceID(12)}
				// Even a caller that commits after the error keeps none of the batch.
				update(t, s, func(tx *store.Tx) error {
					_, err := tx.ClaimDevices(a.ID, batch, now)
					wantErr(t, "ClaimDevices", err, store.ErrAlreadyClaimed)
					if err != nil {
						if !strings.Contains(err.Error(), string(tc.owner)) {
							t.Errorf("error %q does not name the first claimed device %s", err, tc.owner)
						}
						if strings.Contains(err.Error(), string(b.ID)) || strings.Contains(err.Error(), b.Name) {
							t.Errorf("error %q reveals the tenant holding the device", err)
						}
					}
					return nil
				})
				view(t, s, func(tx *store.Tx) error {
					for _, id := range []ident.DeviceID{deviceID(10), deviceID(11), deviceID(12)} {
						_, err := tx.Device(a.ID, id)
						wantErr(t, "device of a refused batch", err, store.ErrNotFound)
					}
					if d, err := tx.Device(b.ID, deviceID(2)); err != nil || d.TenantID != b.ID {
						t.Errorf("B's device after A's claim: %+v, %v", d, err)
					}
					return nil
				})
			})
		}
	})
}

// TestClaimIntoAnotherTenantsGroupIsRefused: a claim into a group that is not the claiming
// tenant's (another tenant's, or none at all) claims nothing; one into its own group puts the
// devices in it as they are claimed.
func TestClaimIntoAnotherTenantsGroupIsRefused(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "Secret Corp")
		_, groups := newProduct(t, s, a.ID, "Widget")
		_, bGroups := newProduct(t, s, b.ID, "Gadget")
		ids := []store.Claim{{ID: deviceID(1)}, {ID: deviceID(2)}}
		for name, group := range map[string]ident.GroupID{"another tenant's group": bGroups[0].ID, "an unknown group": "nope"} {
			err := s.Update(context.Background(), func(tx *store.Tx) error {
				_, err := tx.ClaimDevicesIntoGroup(a.ID, group, ids, now)
				return err
			})
			wantErr(t, "claim into "+name, err, store.ErrNotFound)
		}
		view(t, s, func(tx *store.Tx) error {
			for _, c := range ids {
				if d, err := tx.DeviceAnyTenant(c.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("device %s of a refused claim: %+v, %v", c.ID, d, err)
				}
			}
			return nil
		})
		var got []api.Device
		update(t, s, func(tx *store.Tx) (err error) {
			got, err = tx.ClaimDevicesIntoGroup(a.ID, groups[1].ID, ids, now)
			return err
		})
		if len(got) != 2 || got[0].GroupID != groups[1].ID {
			t.Errorf("claimed %+v, want 2 devices in group %s", got, groups[1].ID)
		}
		view(t, s, func(tx *store.Tx) error {
			for _, c := range ids {
				if d, err := tx.Device(a.ID, c.ID); err != nil || d.GroupID != groups[1].ID || d.GroupName != groups[1].Name {
					t.Errorf("device %s: %+v, %v; want it in group %s", c.ID, d, err, groups[1].Name)
				}
			}
			ds, err := tx.Devices(a.ID, store.DeviceFilter{GroupID: groups[1].ID})
			if len(ds) != 2 {
				t.Errorf("group %s lists %d devices, want 2", groups[1].Name, len(ds))
			}
			return err
		})
	})
}

func TestClaimDuplicatesOnce(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		var got []api.Device
		update(t, s, func(tx *store.Tx) (err error) {
			got, err = tx.ClaimDevices(a.ID, []ident.DeviceID{deviceID(1), deviceID(2), deviceID(1)}, now)
			return err
		})
		want := []ident.DeviceID{deviceID(1), deviceID(2)}
		if len(got) != len(want) {
			t.Fatalf("claimed %d devices, want %d", len(got), len(want))
		}
		for i, d := range got {
			if d.ID != want[i] || d.TenantID != a.ID || d.State != api.DeviceClaimed || d.ClaimedAt != now.UTC().Truncate(time.Microsecond) {
				t.Errorf("claimed device %d = %+v", i, d)
			}
		}
	})
}

func TestClaimLargeBatch(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		claim(t, s, a.ID, deviceID(700))
		var ids []ident.DeviceID
		for i := range api.MaxClaimBatch {
			ids = append(ids, deviceID(i))
		}
		update(t, s, func(tx *store.Tx) error {
			_, err := tx.ClaimDevices(a.ID, ids, now)
			wantErr(t, "batch with device 700 claimed", err, store.ErrAlreadyClaimed)
			if err != nil && !strings.Contains(err.Error(), string(deviceID(700))) {
				t.Errorf("error %q does not name device 700", err)
			}
			return nil
		})
		update(t, s, func(tx *store.Tx) error {
			_, err := tx.ClaimDevices(a.ID, ids[:700], now)
			return err
		})
		view(t, s, func(tx *store.Tx) error {
			all, err := tx.Devices(a.ID, store.DeviceFilter{Limit: api.MaxPageSize})
			if len(all) != 701 {
				t.Errorf("%d devices, want 701", len(all))
			}
			return err
		})
	})
}

func TestDevicePaging(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		widget, widgetGroups := newProduct(t, s, a.ID, "Widget")
		_, gadgetGroups := newProduct(t, s, a.ID, "Gadget")
		claim(t, s, b.ID, deviceID(1000)) // another tenant's, never listed

		// Devices 0..49: every fifth in Widget/Development, every fifth in Widget/Production,
		// every fifth in Gadget/Development, the rest in no group.
		inGroup := map[ident.GroupID][]ident.DeviceID{}
		var all []ident.DeviceID
		update(t, s, func(tx *store.Tx) error {
			for i := range 50 {
				id := deviceID(i)
				all = append(all, id)
				if _, err := tx.ClaimDevices(a.ID, []ident.DeviceID{id}, now); err != nil {
					return err
				}
				var g ident.GroupID
				switch i % 5 {
				case 0:
					g = widgetGroups[0].ID
				case 1:
					g = widgetGroups[2].ID
				case 2:
					g = gadgetGroups[0].ID
				default:
					continue
				}
				inGroup[g] = append(inGroup[g], id)
				if err := tx.SetDeviceGroup(a.ID, id, g); err != nil {
					return err
				}
			}
			return nil
		})
		inWidget := append(append([]ident.DeviceID{}, inGroup[widgetGroups[0].ID]...), inGroup[widgetGroups[2].ID]...)

		for _, tc := range []struct {
			name   string
			filter store.DeviceFilter
			want   []ident.DeviceID
		}{
			{"all", store.DeviceFilter{}, all},
			{"product", store.DeviceFilter{ProductID: widget.ID}, inWidget},
			{"group", store.DeviceFilter{GroupID: widgetGroups[2].ID}, inGroup[widgetGroups[2].ID]},
			{"product and group", store.DeviceFilter{ProductID: widget.ID, GroupID: widgetGroups[0].ID}, inGroup[widgetGroups[0].ID]},
			{"product and another's group", store.DeviceFilter{ProductID: widget.ID, GroupID: gadgetGroups[0].ID}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				seen := map[ident.DeviceID]int{}
				f := tc.filter
				f.Limit = 7
				view(t, s, func(tx *store.Tx) error {
					for pages := 0; ; pages++ {
						if pages > 50 {
							t.Fatal("paging does not end")
						}
						page, err := tx.Devices(a.ID, f)
						if err != nil {
							return err
						}
						if len(page) > f.Limit {
							t.Fatalf("page of %d devices, limit %d", len(page), f.Limit)
						}
						for i, d := range page {
							seen[d.ID]++
							if i > 0 && d.ID <= page[i-1].ID {
								t.Errorf("devices out of order: %s after %s", d.ID, page[i-1].ID)
							}
						}
						if len(page) < f.Limit {
							return nil
						}
						f.After = page[len(page)-1].ID
					}
				})
				if len(seen) != len(tc.want) {
					t.Errorf("listed %d devices, want %d", len(seen), len(tc.want))
				}
				for _, id := range tc.want {
					if seen[id] != 1 {
						t.Errorf("device %s listed %d times, want once", id, seen[id])
					}
				}
			})
		}

		view(t, s, func(tx *store.Tx) error {
			d, err := tx.Device(a.ID, inGroup[widgetGroups[2].ID][0])
			if err != nil {
				return err
			}
			if d.ProductID != widget.ID || d.ProductName != "Widget" || d.GroupID != widgetGroups[2].ID || d.GroupName != "Production" {
				t.Errorf("Device = %+v, want Widget/Production filled in", d)
			}
			page, err := tx.Devices(a.ID, store.DeviceFilter{})
			if err != nil {
				return err
			}
			if len(page) != 50 {
				t.Errorf("default page has %d devices, want all 50", len(page))
			}
			return nil
		})

		// Moving a device out of its group.
		moved := inGroup[widgetGroups[2].ID][0]
		update(t, s, func(tx *store.Tx) error { return tx.SetDeviceGroup(a.ID, moved, "") })
		view(t, s, func(tx *store.Tx) error {
			d, err := tx.Device(a.ID, moved)
			if err != nil {
				return err
			}
			if d.GroupID != "" || d.GroupName != "" || d.ProductID != "" || d.ProductName != "" {
				t.Errorf("device out of its group: %+v", d)
			}
			return nil
		})
	})
}

func TestDeleteInUse(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		p, groups := newProduct(t, s, a.ID, "Widget")
		dev := deviceID(1)
		claim(t, s, a.ID, dev)
		update(t, s, func(tx *store.Tx) error { return tx.SetDeviceGroup(a.ID, dev, groups[1].ID) })

		update(t, s, func(tx *store.Tx) error {
			wantErr(t, "DeleteGroup with a device", tx.DeleteGroup(a.ID, groups[1].ID), store.ErrInUse)
			wantErr(t, "DeleteProduct with a device", tx.DeleteProduct(a.ID, p.ID), store.ErrInUse)
			return tx.DeleteGroup(a.ID, groups[0].ID) // empty
		})
		view(t, s, func(tx *store.Tx) error {
			_, err := tx.Group(a.ID, groups[0].ID)
			wantErr(t, "deleted group", err, store.ErrNotFound)
			if _, err := tx.Group(a.ID, groups[1].ID); err != nil {
				t.Errorf("group in use: %v", err)
			}
			return nil
		})

		update(t, s, func(tx *store.Tx) error {
			if err := tx.SetDeviceGroup(a.ID, dev, ""); err != nil {
				return err
			}
			return tx.DeleteProduct(a.ID, p.ID)
		})
		view(t, s, func(tx *store.Tx) error {
			_, err := tx.Product(a.ID, string(p.ID))
			wantErr(t, "deleted product", err, store.ErrNotFound)
			gs, err := tx.Groups(a.ID, "")
			if len(gs) != 0 {
				t.Errorf("groups of deleted product remain: %+v", gs)
			}
			return err
		})
		update(t, s, func(tx *store.Tx) error {
			wantErr(t, "delete again", tx.DeleteProduct(a.ID, p.ID), store.ErrNotFound)
			return nil
		})
	})
}

func TestRevokeKeepsFirstTime(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		dev := deviceID(1)
		claim(t, s, a.ID, dev)
		first := now.Add(time.Hour)
		update(t, s, func(tx *store.Tx) error { return tx.RevokeDevice(a.ID, dev, first) })
		update(t, s, func(tx *store.Tx) error { return tx.RevokeDevice(a.ID, dev, first.Add(time.Hour)) })
		view(t, s, func(tx *store.Tx) error {
			d, err := tx.Device(a.ID, dev)
			if err != nil {
				return err
			}
			if d.State != api.DeviceRevoked || d.RevokedAt == nil || *d.RevokedAt != first.UTC().Truncate(time.Microsecond) {
				t.Errorf("revoked device = %+v (revoked at %v), want revoked at %v", d, d.RevokedAt, first)
			}
			return nil
		})
		update(t, s, func(tx *store.Tx) error {
			_, err := tx.ClaimDevices(a.ID, []ident.DeviceID{dev}, now)
			wantErr(t, "claim a revoked device", err, store.ErrAlreadyClaimed)
			return nil
		})
	})
}

func TestTimesRoundTripToTheMicrosecond(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		for _, at := range []time.Time{
			now,
			time.Date(1969, 7, 20, 20, 17, 40, 999999999, time.UTC), // before the epoch
			time.Date(2262, 4, 11, 0, 0, 0, 1, time.UTC),
		} {
			want := at.UTC().Truncate(time.Microsecond)
			tn := api.Tenant{ID: ident.TenantID(ident.NewID()), Name: "T" + fmt.Sprint(at.Unix()), CreatedAt: at}
			var appended api.AuditEntry
			update(t, s, func(tx *store.Tx) (err error) {
				if err := tx.CreateTenant(tn); err != nil {
					return err
				}
				appended, err = tx.AppendAudit(api.AuditEntry{TenantID: tn.ID, Time: at, Actor: "a", Action: "b"})
				return err
			})
			view(t, s, func(tx *store.Tx) error {
				got, err := tx.Tenant(tn.ID)
				if err != nil {
					return err
				}
				if got.CreatedAt != want || got.CreatedAt.Location() != time.UTC {
					t.Errorf("tenant created at %v, read back %v; want %v", at, got.CreatedAt, want)
				}
				entries, err := tx.Audit(tn.ID, 0, 0)
				if err != nil {
					return err
				}
				if len(entries) != 1 || entries[0] != appended || appended.Time != want {
					t.Errorf("audit entry appended %+v, read back %+v; want time %v", appended, entries, want)
				}
				return nil
			})
		}
	})
}

func appendAudit(t *testing.T, s *store.Store, tenantID ident.TenantID, n int) {
	t.Helper()
	for i := range n {
		update(t, s, func(tx *store.Tx) error {
			_, err := tx.AppendAudit(api.AuditEntry{TenantID: tenantID, Time: now, Actor: "ann@example.com",
				Action: "device.claim", Target: fmt.Sprint(i), Source: "192.0.2.1"})
			return err
		})
	}
}

// verify reads a tenant's chain page by page and checks it.
func verify(t *testing.T, s *store.Store, tenantID ident.TenantID, pageSize int) (int64, error) {
	t.Helper()
	prev, seq := api.GenesisHash, int64(0)
	for {
		var page []api.AuditEntry
		view(t, s, func(tx *store.Tx) (err error) {
			page, err = tx.Audit(tenantID, seq, pageSize)
			return err
		})
		if len(page) == 0 {
			return seq, nil
		}
		var err error
		if prev, seq, err = api.VerifyChain(prev, seq, page); err != nil {
			return seq, err
		}
	}
}

func TestAuditConcurrentAppends(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		const writers, perWriter = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*perWriter)
		for w := range writers {
			wg.Go(func() {
				if w%2 == 1 { // half the writers append their entries in one batch
					errs <- s.Update(context.Background(), func(tx *store.Tx) error {
						var es []api.AuditEntry
						for i := range perWriter {
							es = append(es, api.AuditEntry{TenantID: a.ID, Time: time.Now(),
								Actor: fmt.Sprintf("writer %d", w), Action: "test", Target: fmt.Sprint(i)})
						}
						_, err := tx.AppendAudits(es)
						return err
					})
					return
				}
				for i := range perWriter {
					errs <- s.Update(context.Background(), func(tx *store.Tx) error {
						_, err := tx.AppendAudit(api.AuditEntry{TenantID: a.ID, Time: time.Now(),
							Actor: fmt.Sprintf("writer %d", w), Action: "test", Target: fmt.Sprint(i)})
						return err
					})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		last, err := verify(t, s, a.ID, 7)
		if err != nil {
			t.Fatal(err)
		}
		if last != writers*perWriter {
			t.Errorf("chain ends at seq %d, want %d", last, writers*perWriter)
		}
	})
}

// TestAuditBatchAppendChains: entries appended in a batch (more than one INSERT's worth) chain
// with those appended one by one before and after them, and the batch's entries come back
// numbered and hashed as stored.
func TestAuditBatchAppendChains(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		appendAudit(t, s, a.ID, 2)
		var es []api.AuditEntry
		for i := range 120 {
			es = append(es, api.AuditEntry{TenantID: a.ID, Time: now, Actor: "batch", Action: "test", Target: fmt.Sprint(i)})
		}
		var got []api.AuditEntry
		update(t, s, func(tx *store.Tx) (err error) {
			got, err = tx.AppendAudits(es)
			return err
		})
		if len(got) != 120 || got[0].Seq != 3 || got[119].Seq != 122 || got[1].PrevHash != got[0].Hash {
			t.Fatalf("the batch came back as %d entries, first %+v", len(got), got[0])
		}
		appendAudit(t, s, a.ID, 1)
		last, err := verify(t, s, a.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if last != 123 {
			t.Errorf("chain ends at seq %d, want 123", last)
		}
		err = s.Update(context.Background(), func(tx *store.Tx) error {
			_, err := tx.AppendAudits([]api.AuditEntry{{TenantID: a.ID, Action: "test"}, {TenantID: "", Action: "test"}})
			return err
		})
		if err == nil {
			t.Error("a batch of two chains' entries was appended")
		}
	})
}

func TestAuditChainsPerTenant(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		appendAudit(t, s, a.ID, 3)
		appendAudit(t, s, b.ID, 2)
		appendAudit(t, s, "", 1) // the operator's chain
		appendAudit(t, s, a.ID, 2)
		for tenantID, want := range map[ident.TenantID]int64{a.ID: 5, b.ID: 2, "": 1} {
			last, err := verify(t, s, tenantID, 0)
			if err != nil {
				t.Errorf("chain %q: %v", tenantID, err)
			}
			if last != want {
				t.Errorf("chain %q ends at seq %d, want %d", tenantID, last, want)
			}
		}
		view(t, s, func(tx *store.Tx) error {
			entries, err := tx.Audit(a.ID, 3, 1)
			if len(entries) != 1 || entries[0].Seq != 4 || entries[0].TenantID != a.ID {
				t.Errorf("Audit(A, after 3, limit 1) = %+v", entries)
			}
			return err
		})
	})
}

func TestAuditEditedRowDetected(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		appendAudit(t, s, a.ID, 4)
		if _, err := verify(t, s, a.ID, 0); err != nil {
			t.Fatalf("chain before the edit: %v", err)
		}
		res, err := s.DB().Exec("UPDATE audit SET actor = 'mallory' WHERE tenant_id = $1 AND seq = 3", a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("edited %d rows, want 1", n)
		}
		_, err = verify(t, s, a.ID, 0)
		if err == nil || !strings.Contains(err.Error(), "entry 3 was edited") {
			t.Errorf("chain after editing entry 3: got %v, want entry 3 reported", err)
		}
	})
}

// TestFullPageTellsAnotherFollows: a caller that asks for the largest page and one row more
// gets that row, so a listing at the largest page size goes on to its next page.
func TestFullPageTellsAnotherFollows(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		var ids []ident.DeviceID
		for i := range api.MaxPageSize + 1 {
			ids = append(ids, deviceID(i))
		}
		update(t, s, func(tx *store.Tx) error {
			_, err := tx.ClaimDevices(a.ID, ids, now)
			return err
		})
		view(t, s, func(tx *store.Tx) error {
			got, err := tx.Devices(a.ID, store.DeviceFilter{Limit: api.MaxPageSize + 1})
			if len(got) != api.MaxPageSize+1 {
				t.Errorf("%d devices for a limit of %d, want all %d", len(got), api.MaxPageSize+1, len(ids))
			}
			return err
		})
	})
}

// TestTransactionOfAClientThatWentAwayIsCanceled: when a request's context ends during its
// transaction, database/sql rolls the transaction back; the store says the context ended, so
// that the service answers 499 and logs nothing, not that the transaction was already done.
func TestTransactionOfAClientThatWentAwayIsCanceled(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		for _, run := range []func(context.Context, func(*store.Tx) error) error{s.View, s.Update} {
			ctx, cancel := context.WithCancel(context.Background())
			err := run(ctx, func(tx *store.Tx) error {
				if _, err := tx.Tenant("00000000-0000-4000-8000-000000000000"); !errors.Is(err, store.ErrNotFound) {
					return err
				}
				cancel()
				time.Sleep(50 * time.Millisecond) // database/sql rolls back in a goroutine of its own
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("a transaction whose context ended: %v, want context.Canceled", err)
			}
		}
	})
}
