/* Rampart C SDK: Azure Sphere's applibs/networking.h, readiness only. The device's network
   interfaces belong to the device runtime: an app learns whether the network works, and
   reaches the hosts its manifest's AllowedConnections lists through the app host. The
   interface calls below are declared unavailable, so that code using them fails to compile
   with a message rather than at run time. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RAMPART_NO_INTERFACES \
    __attribute__((unavailable("Rampart apps see no network interfaces: see docs/c-apps.md, \"What is missing\"")))

/* Networking_IsNetworkingReady sets *outIsNetworkingReady to whether the device's network
   works: on Rampart, whether the device runtime's last check-in reached the service. Returns
   0, or -1 with errno EFAULT. */
int Networking_IsNetworkingReady(bool *outIsNetworkingReady);

typedef uint32_t Networking_InterfaceConnectionStatus;
enum {
    Networking_InterfaceConnectionStatus_InterfaceUp = 1 << 0,
    Networking_InterfaceConnectionStatus_ConnectedToNetwork = 1 << 1,
    Networking_InterfaceConnectionStatus_IpAvailable = 1 << 2,
    Networking_InterfaceConnectionStatus_ConnectedToInternet = 1 << 3,
};

int Networking_GetInterfaceConnectionStatus(const char *networkInterfaceName,
                                            Networking_InterfaceConnectionStatus *outStatus) RAMPART_NO_INTERFACES;
int Networking_GetInterfaceCount(void) RAMPART_NO_INTERFACES;
int Networking_SetInterfaceState(const char *networkInterfaceName, bool isEnabled) RAMPART_NO_INTERFACES;

#ifdef __cplusplus
}
#endif
