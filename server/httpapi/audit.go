package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/store"
)

// Audit routes. Each tenant has a chain; the operator's chain (tenant ID "") holds what no tenant
// owns: tenant creation, runtime releases, the operator's making. Tenant users read only their
// tenant's chain, through /api/v1/audit; the operator reads its own through /api/v1/operator/audit.

// afterCursor reads ?page_token=, a non-negative integer cursor.
func afterCursor(r *http.Request) (int64, error) {
	tok := r.URL.Query().Get("page_token")
	if tok == "" {
		return 0, nil
	}
	after, err := strconv.ParseInt(tok, 10, 64)
	if err != nil || after < 0 {
		return 0, errorf(http.StatusBadRequest, "invalid page_token")
	}
	return after, nil
}

// listChain answers a page of a chain's entries.
func (a *API) listChain(w http.ResponseWriter, r *http.Request, chain ident.TenantID) error {
	entries, next, err := cursorPage(a, r, func(tx *store.Tx, after int64, n int) ([]api.AuditEntry, error) {
		return tx.Audit(chain, after, n)
	}, func(e api.AuditEntry) int64 { return e.Seq })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.AuditList{Entries: entries, NextPageToken: next})
}

func (a *API) chainHead(w http.ResponseWriter, r *http.Request, chain ident.TenantID) error {
	var h api.AuditHead
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		h, err = tx.AuditHead(chain)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h)
}

func (a *API) chainCheckpoints(w http.ResponseWriter, r *http.Request, chain ident.TenantID) error {
	cps, next, err := cursorPage(a, r, func(tx *store.Tx, after int64, n int) ([]api.AuditCheckpoint, error) {
		return tx.Checkpoints(chain, after, n)
	}, store.CheckpointCursor)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.AuditCheckpointList{Checkpoints: cps, NextPageToken: next})
}

// cursorPage reads ?limit= and ?page_token=, reads one item more than the limit after the cursor,
// and returns the page (never nil) with the next page's token when there is more.
func cursorPage[T any](a *API, r *http.Request, read func(tx *store.Tx, after int64, n int) ([]T, error),
	cursor func(T) int64) ([]T, string, error) {
	limit, err := pageLimit(r)
	if err != nil {
		return nil, "", err
	}
	after, err := afterCursor(r)
	if err != nil {
		return nil, "", err
	}
	var items []T
	err = a.store.View(r.Context(), func(tx *store.Tx) error {
		items, err = read(tx, after, limit+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = fmt.Sprint(cursor(items[limit-1]))
	}
	return nonNil(items), next, nil
}

func (a *API) auditHead(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.chainHead(w, r, c.user.TenantID)
}

func (a *API) auditCheckpoints(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.chainCheckpoints(w, r, c.user.TenantID)
}

func (a *API) operatorAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.listChain(w, r, "")
}

func (a *API) operatorAuditHead(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.chainHead(w, r, "")
}

func (a *API) operatorAuditCheckpoints(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.chainCheckpoints(w, r, "")
}

// checkpointKey answers the public key that signs audit checkpoints. A user should fetch it
// once and pin it: a database writer could swap the key the service answers with.
func (a *API) checkpointKey(w http.ResponseWriter, r *http.Request, c *call) error {
	pems, err := a.keys.PublicPEM(r.Context(), keyring.Operator, keyring.AuditCheckpoint)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.AuditCheckpointKey{PublicKey: pems[0]})
}
