/* Rampart C SDK: Azure Sphere's applibs/application.h. */
#pragma once

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Application_Connect opens a socket to a real-time app. Rampart runs no real-time apps, so
   no manifest can grant AllowedApplicationConnections: it fails with EACCES, the errno Azure
   Sphere gives an app without that capability. */
int Application_Connect(const char *componentId);

/* Application_IsDeviceAuthReady sets *outIsReady to whether the device has a certificate for
   TLS with device authentication (it has attested to the service). Returns 0, or -1 with
   errno EFAULT. */
int Application_IsDeviceAuthReady(bool *outIsReady);

#ifdef __cplusplus
}
#endif
