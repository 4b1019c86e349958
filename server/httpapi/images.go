package httpapi

import "net/http"

// Image routes: upload (re-signed with the tenant's image-signing key), list, show, download.

func (a *API) addImage(w http.ResponseWriter, r *http.Request, c *call) error {
	return errUnimplemented
}
func (a *API) listImages(w http.ResponseWriter, r *http.Request, c *call) error {
	return errUnimplemented
}
func (a *API) showImage(w http.ResponseWriter, r *http.Request, c *call) error {
	return errUnimplemented
}
func (a *API) downloadImage(w http.ResponseWriter, r *http.Request, c *call) error {
	return errUnimplemented
}

// Deployment routes.

func (a *API) createDeployment(w http.ResponseWriter, r *http.Request, c *call) error {
	return errUnimplemented
}
func (a *API) listDeployments(w http.ResponseWriter, r *http.Request, c *call) error {
	return errUnimplemented
}
func (a *API) showDeployment(w http.ResponseWriter, r *http.Request, c *call) error {
	return errUnimplemented
}

// Device update routes.

func (a *API) deviceUpdates(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	return errUnimplemented
}
func (a *API) deviceUpdateReport(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	return errUnimplemented
}
func (a *API) runtimeKeys(w http.ResponseWriter, r *http.Request) error { return errUnimplemented }

var errUnimplemented = errorf(http.StatusNotImplemented, "not implemented yet")
