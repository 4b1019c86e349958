package httpapi

import "net/http"

// deviceTUF serves the device's TUF repositories (package tufrepo).
func (a *API) deviceTUF(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	return a.tuf.Serve(w, r, d.Device, r.PathValue("path"))
}
