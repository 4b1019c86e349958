package httpapi

import (
	"net/http"
	"strconv"
	"time"
)

// deviceTUF serves the device's TUF repositories (package tufrepo): metadata as JSON, the
// newest of each role not to be cached unchecked; targets with Range support, so that devices
// resume downloads, and their SHA-256 as ETag. A file the device may not read is 404, like one
// that does not exist (tufrepo.ErrNotFound).
func (a *API) deviceTUF(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	f, err := a.tuf.Open(r.Context(), d.Device, r.PathValue("path"))
	if err != nil {
		return err
	}
	if f.Target == nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(f.Metadata)))
		if f.Newest {
			w.Header().Set("Cache-Control", "no-cache")
		}
		_, err = w.Write(f.Metadata)
		return err
	}
	defer f.Target.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+f.Digest.String()+`"`)
	http.ServeContent(w, r, "", time.Time{}, f.Target)
	return nil
}
