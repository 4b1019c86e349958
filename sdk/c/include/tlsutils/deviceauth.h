/* Rampart C SDK: Azure Sphere's tlsutils/deviceauth.h. The manifest needs DeviceAuthentication.
   An app may read the device's certificate chain, which is public; it never holds the device's
   key, which stays in the runtime. For TLS with the device certificate use
   Rampart_ConnectTLS(host, port, true) from <rampart/net.h>: the app host makes the connection
   and signs with the key. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/* DeviceAuth_GetCertificatePath returns the path, in the app's read-only filesystem, of a PEM
   file holding the device's current certificate chain (the device certificate, whose subject
   is the device ID, then its issuers). As on Azure Sphere the path is returned whether or not
   the device has a certificate yet: until it has (Application_IsDeviceAuthReady), opening the
   file fails with ENOENT. The file is read afresh at each open: a renewed certificate shows.
   Without DeviceAuthentication it returns NULL with errno EACCES. */
const char *DeviceAuth_GetCertificatePath(void);

#ifdef __cplusplus
}
#endif
