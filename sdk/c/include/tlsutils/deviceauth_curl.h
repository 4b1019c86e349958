/* Rampart C SDK: Azure Sphere's tlsutils/deviceauth_curl.h, whose helpers give wolfSSL (under
   libcurl) the device's key for a TLS handshake. A Rampart app never holds the device's key, and
   neither wolfSSL nor libcurl is in the SDK, so they are declared unavailable: the build stops
   at the first use with a message that says what to do instead. */
#pragma once

#include <tlsutils/deviceauth.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RAMPART_NO_DEVICE_KEY                                                                               \
    __attribute__((unavailable("a Rampart app never holds the device's key: use Rampart_ConnectTLS(host, "  \
                               "port, true) from <rampart/net.h>, which the app host authenticates with the " \
                               "device certificate. See docs/c-apps.md")))

typedef enum DeviceAuthSslResult {
    DeviceAuthSslResult_Success = 0,
    DeviceAuthSslResult_GetTenantIdError = 1,
    DeviceAuthSslResult_GetTenantCertificateError = 2,
    DeviceAuthSslResult_EnableHwSignError = 3,
} DeviceAuthSslResult;

DeviceAuthSslResult DeviceAuth_SslCtxFunc(void *sslCtx) RAMPART_NO_DEVICE_KEY;
int DeviceAuth_CurlSslFunc(void *curl, void *sslCtx, void *userCtx) RAMPART_NO_DEVICE_KEY;

#ifdef __cplusplus
}
#endif
