/* Rampart C SDK: outbound connections through the app host, Rampart's own API (Azure Sphere's
   apps use sockets and wolfSSL, which a Rampart app does not have: see docs/c-apps.md). The
   host connects, and for TLS verifies the server and, with deviceAuth, presents the device
   certificate, whose private key the app never holds. The descriptor works with read, write
   and close (not with the event loop). */
#pragma once

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Rampart_Connect opens a TCP connection to host:port, which the manifest's AllowedConnections
   must list. Returns a descriptor, or -1 with errno: EACCES (not allowed), EINVAL, EIO (refused
   or unreachable), ETIMEDOUT, EMFILE (too many connections). */
int Rampart_Connect(const char *host, int port);

/* Rampart_ConnectTLS is Rampart_Connect with TLS. With deviceAuth the device certificate is
   presented: that needs DeviceAuthentication (else EACCES) and fails with EAGAIN until the
   device has attested. A refused handshake is EPROTO. */
int Rampart_ConnectTLS(const char *host, int port, bool deviceAuth);

/* Rampart_SetReadTimeout bounds each later read on fd: after timeout_ms without data, read
   fails with EAGAIN. -1 (the default) waits until data arrives or the peer closes. */
int Rampart_SetReadTimeout(int fd, int timeout_ms);

#ifdef __cplusplus
}
#endif
