package httpapi

import (
	"net/http"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/version"
	"github.com/rampart-iot/rampart/server/store"
)

// supportLogs answers GET /api/v1/support/logs?since=1h: the service's recent log records that
// concern the caller's tenant, for `rampart get-support-data`. Administrators only: the records
// name the tenant's devices, users and requests.
func (a *API) supportLogs(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.writeSupportLogs(w, r, c.user.TenantID)
}

// operatorSupportLogs answers GET /api/v1/operator/support/logs?tenant=T&since=1h: the same
// for any tenant, named or by ID, to the operator.
func (a *API) operatorSupportLogs(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := r.URL.Query().Get("tenant")
	if ref == "" {
		return errorf(http.StatusBadRequest, "give the tenant with ?tenant=NAME or ID")
	}
	var t api.Tenant
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		if ident.IsID(ref) {
			t, err = tx.Tenant(ident.TenantID(ref))
		} else {
			t, err = tx.TenantByName(ref)
		}
		return err
	})
	if err != nil {
		return notFound(err, "tenant %q not found", ref)
	}
	return a.writeSupportLogs(w, r, t.ID)
}

func (a *API) writeSupportLogs(w http.ResponseWriter, r *http.Request, tenant ident.TenantID) error {
	window := time.Hour
	if s := r.URL.Query().Get("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > api.MaxSupportLogsWindow {
			return errorf(http.StatusBadRequest, "invalid since %q: want a duration up to %s, such as 1h", clip(s), api.MaxSupportLogsWindow)
		}
		window = d
	}
	since := a.now().UTC().Add(-window)
	out := api.SupportLogs{ServiceVersion: version.String(), Tenant: string(tenant), Since: since, Records: []api.LogRecord{}}
	if a.logs != nil {
		out.Records = a.logs.Recent(string(tenant), since)
	}
	return writeJSON(w, http.StatusOK, out)
}
