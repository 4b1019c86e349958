package httpapi

import "github.com/rampart-iot/rampart/api"

// table is every route of the management API with the access it requires. A route without an
// access level makes Register panic, and TestRouteRoleMatrix walks this table with every role.
func (a *API) table() []Route {
	return []Route{
		{"GET", "/api/v1/whoami", accessAnyToken, a.whoami},

		{"POST", "/api/v1/tenants", accessOperator, a.createTenant},
		{"GET", "/api/v1/tenants", accessAnyToken, a.listTenants},
		{"GET", "/api/v1/tenants/{tenant}", accessAnyToken, a.showTenant},
		{"PATCH", "/api/v1/tenants/{tenant}", accessOperator, a.updateTenant},

		{"GET", "/api/v1/users", accessReader, a.listUsers},
		{"POST", "/api/v1/users", accessAdministrator, a.addUser},
		{"DELETE", "/api/v1/users/{user}", accessAdministrator, a.removeUser},

		{"GET", "/api/v1/tokens", accessAnyToken, a.listTokens},
		{"POST", "/api/v1/tokens", accessAnyToken, a.createToken},
		{"DELETE", "/api/v1/tokens/{token}", accessAnyToken, a.revokeToken},

		{"GET", "/api/v1/products", accessReader, a.listProducts},
		{"POST", "/api/v1/products", accessContributor, a.createProduct},
		{"GET", "/api/v1/products/{product}", accessReader, a.showProduct},
		{"DELETE", "/api/v1/products/{product}", accessContributor, a.deleteProduct},

		{"GET", "/api/v1/device-groups", accessReader, a.listGroups},
		{"POST", "/api/v1/device-groups", accessContributor, a.createGroup},
		{"GET", "/api/v1/device-groups/{group}", accessReader, a.showGroup},
		{"PATCH", "/api/v1/device-groups/{group}", accessContributor, a.updateGroup},
		{"DELETE", "/api/v1/device-groups/{group}", accessContributor, a.deleteGroup},
		{"POST", "/api/v1/device-groups/{group}/notify", accessContributor, a.notifyGroup},

		{"POST", "/api/v1/devices/claim", accessContributor, a.claimDevices},
		{"GET", "/api/v1/devices", accessReader, a.listDevices},
		{"GET", "/api/v1/devices/{device}", accessReader, a.showDevice},
		{"PATCH", "/api/v1/devices/{device}", accessContributor, a.updateDevice},
		{"POST", "/api/v1/devices/{device}/revoke", accessAdministrator, a.revokeDevice},
		{"POST", "/api/v1/devices/{device}/release", accessAdministrator, a.releaseDevice},
		{"POST", "/api/v1/devices/{device}/enable-development", accessAdministrator, a.enableDevelopment},
		{"POST", "/api/v1/devices/{device}/disable-development", accessAdministrator, a.disableDevelopment},

		{"GET", "/api/v1/audit", accessReader, a.listAudit},
		{"GET", "/api/v1/audit/head", accessReader, a.auditHead},
		{"GET", "/api/v1/audit/checkpoints", accessReader, a.auditCheckpoints},
		{"GET", "/api/v1/audit/checkpoint-key", accessAnyToken, a.checkpointKey},
		{"GET", "/api/v1/operator/audit", accessOperator, a.operatorAudit},
		{"GET", "/api/v1/operator/audit/head", accessOperator, a.operatorAuditHead},
		{"GET", "/api/v1/operator/audit/checkpoints", accessOperator, a.operatorAuditCheckpoints},

		{"GET", "/api/v1/ca", accessReader, a.listCAs},
		{"GET", "/api/v1/ca/bundle", accessReader, a.caBundle},
		{"GET", "/api/v1/ca/crl", accessReader, a.caCRL},
		{"POST", "/api/v1/ca/rotate", accessAdministrator, a.rotateCA},

		{"POST", "/api/v1/images", accessContributor, a.upload(a.addImage)},
		{"GET", "/api/v1/images", accessReader, a.listImages},
		{"GET", "/api/v1/images/{image}", accessReader, a.showImage},
		{"GET", "/api/v1/images/{image}/package", accessReader, a.downloadImage},

		{"POST", "/api/v1/deployments", accessAdministrator, a.createDeployment},
		{"GET", "/api/v1/deployments", accessReader, a.listDeployments},
		{"GET", "/api/v1/deployments/{deployment}", accessReader, a.showDeployment},
		{"POST", "/api/v1/deployments/{deployment}/{action}", accessAdministrator, a.controlDeployment},

		{"GET", "/api/v1/reports/errors", accessReader, a.reportErrors},
		{"GET", "/api/v1/reports/summary", accessReader, a.reportSummary},
		{"GET", "/api/v1/reports/fleet", accessReader, a.reportFleet},

		{"GET", "/api/v1/support/logs", accessAdministrator, a.supportLogs},
		{"GET", "/api/v1/operator/support/logs", accessOperator, a.operatorSupportLogs},

		{"POST", "/api/v1/os/releases", accessOperator, a.upload(a.publishRelease)},
		{"GET", "/api/v1/os/releases", accessAnyToken, a.listReleases},
		{"POST", "/api/v1/os/releases/withdraw", accessOperator, a.withdrawRelease},

		{"POST", "/api/v1/tpm-cas", accessOperator, a.addTPMCAs},
		{"GET", "/api/v1/tpm-cas", accessOperator, a.listTPMCAs},
		{"DELETE", "/api/v1/tpm-cas/{ca}", accessOperator, a.removeTPMCA},

		{"GET", "/metrics", accessOperator, a.serveMetrics},

		// The device API. A device has no certificate before its first attestation, so nonce
		// and attest are open (limited per source); the rest need its certificate.
		{"POST", api.DevicePathNonce, accessOpen, open(a.deviceNonce)},
		{"POST", api.DevicePathAttest, accessOpen, open(a.deviceAttest)},
		{"GET", api.DevicePathRuntimeKeys, accessOpen, open(a.runtimeKeys)},
		// Relying parties fetch a tenant CA's CRL from the URL its device certificates name.
		{"GET", "/crl/{tenant}/{file}", accessOpen, open(a.crlFile)},
		{"GET", api.DevicePathWhoami, accessDevice, device(a.deviceWhoami)},
		{"GET", api.DevicePathUpdates, accessDevice, device(a.deviceUpdates)},
		{"POST", api.DevicePathUpdateReport, accessDevice, device(a.deviceUpdateReport)},
		{"GET", api.DevicePathTUF + "{path...}", accessDevice, device(a.deviceTUF)},
		{"GET", api.DevicePathCapability, accessDevice, device(a.deviceCapability)},
		{"POST", api.DevicePathEvents, accessDevice, device(a.deviceEvents)},
		{"GET", api.DevicePathNotify, accessDevice, device(a.deviceNotify)},
	}
}
