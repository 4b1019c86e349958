/* Rampart C SDK: Azure Sphere's applibs/networking.h. An app may read the state of the device's
   network interfaces and whether its network is ready; it may not change them: network
   configuration belongs to the device runtime, and no manifest may grant NetworkConfig or
   HardwareAddressConfig, so the calls that change it fail with EACCES. It reaches the hosts its
   manifest's AllowedConnections lists through the app host (<rampart/net.h>).
   NETWORKING_STRUCTS_VERSION may be defined, as Azure Sphere asks; it changes nothing here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef IF_NAMESIZE
#define IF_NAMESIZE 16
#endif

#define RAMPART_NETWORKING_UNAVAILABLE(what) \
    __attribute__((unavailable(what " belongs to the device runtime in Rampart: see docs/c-apps.md, \"What is missing\"")))

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

typedef uint8_t Networking_IpType_Type;
enum {
    Networking_IpType_DhcpNone = 0,
    Networking_IpType_DhcpClient = 1,
};

typedef uint8_t Networking_InterfaceMedium_Type;
enum {
    Networking_InterfaceMedium_Unspecified = 0,
    Networking_InterfaceMedium_Wifi = 1,
    Networking_InterfaceMedium_Ethernet = 2,
};

/* Networking_NetworkInterface is Azure Sphere's struct. On Rampart ipConfigurationType is
   always Networking_IpType_DhcpNone: the runtime does not say how an address was configured. */
typedef struct Networking_NetworkInterface {
    uint32_t z__magicAndVersion;
    bool isEnabled;
    char interfaceName[IF_NAMESIZE];
    uint32_t reserved;
    Networking_IpType_Type ipConfigurationType;
    Networking_InterfaceMedium_Type interfaceMediumType;
} Networking_NetworkInterface;

#define HARDWARE_ADDRESS_LENGTH 6
typedef struct Networking_Interface_HardwareAddress {
    uint8_t address[HARDWARE_ADDRESS_LENGTH];
} Networking_Interface_HardwareAddress;

/* Networking_GetInterfaceCount returns the number of the device's network interfaces (the
   loopback one is not counted; at most 16), or -1 with errno EAGAIN when the runtime cannot
   list them. */
ssize_t Networking_GetInterfaceCount(void);

/* Networking_GetInterfaces fills outNetworkInterfacesArray with up to networkInterfacesArrayCount
   interfaces and returns how many it filled, or -1 with errno: EFAULT (NULL array), ERANGE
   (count 0), EAGAIN. */
ssize_t Networking_GetInterfaces(Networking_NetworkInterface *outNetworkInterfacesArray,
                                 size_t networkInterfacesArrayCount);

/* Networking_GetInterfaceConnectionStatus sets *outStatus to the interface's status bits: up;
   connected to a network (it has a carrier); an IP address other than a link-local one; and
   connected to the internet, which Rampart reports for an interface with an address when the
   runtime's last check-in reached the service (the runtime does not say through which
   interface). Returns 0, or -1 with errno: EFAULT, ENOENT (no such interface), EAGAIN. */
int Networking_GetInterfaceConnectionStatus(const char *networkInterfaceName,
                                            Networking_InterfaceConnectionStatus *outStatus);

/* Networking_GetHardwareAddress sets *outAddress to the interface's 6-byte hardware address.
   Returns 0, or -1 with errno: EINVAL (NULL outAddress), ENOENT, EPERM (the interface has no
   6-byte address), EAGAIN. */
int Networking_GetHardwareAddress(const char *networkInterfaceName, Networking_Interface_HardwareAddress *outAddress);

/* The calls that change the network fail with EACCES: they need NetworkConfig (or
   HardwareAddressConfig), which no Rampart manifest may have. */
int Networking_SetInterfaceState(const char *networkInterfaceName, bool isEnabled);
int Networking_SetHardwareAddress(const char *networkInterfaceName, const uint8_t *hardwareAddress,
                                  size_t hardwareAddressLength);
int Networking_TimeSync_SetEnabled(bool enabled);

/* IP configuration: Networking_IpConfig_Init, _Destroy and the _Enable... calls fill the
   struct in the app as on Azure Sphere; _Apply, Networking_IpConfig_ReleaseIp and _RenewIp fail
   with EACCES. */
typedef struct Networking_IpConfig {
    uint64_t reserved[5];
} Networking_IpConfig;
void Networking_IpConfig_Init(Networking_IpConfig *ipConfig);
void Networking_IpConfig_Destroy(Networking_IpConfig *ipConfig);
void Networking_IpConfig_EnableDynamicIp(Networking_IpConfig *ipConfig);
void Networking_IpConfig_EnableStaticIp(Networking_IpConfig *ipConfig, struct in_addr ipAddress,
                                        struct in_addr subnetMask, struct in_addr gatewayAddress);
void Networking_IpConfig_EnableAutomaticDns(Networking_IpConfig *ipConfig);
int Networking_IpConfig_EnableCustomDns(Networking_IpConfig *ipConfig, const struct in_addr *dnsServerAddresses,
                                        size_t serverCount);
int Networking_IpConfig_Apply(const char *networkInterfaceName, const Networking_IpConfig *ipConfig);
int Networking_IpConfig_ReleaseIp(const char *networkInterfaceName, const Networking_IpConfig *ipConfig);
int Networking_IpConfig_RenewIp(const char *networkInterfaceName, const Networking_IpConfig *ipConfig);

/* Services an app runs for others (a DHCP or SNTP server) and proxies are not there. */
struct Networking_DhcpServerConfig;
struct Networking_SntpServerConfig;
struct Networking_ProxyConfig;
int Networking_DhcpServer_Start(const char *ifName, const struct Networking_DhcpServerConfig *dhcpServerConfig)
    RAMPART_NETWORKING_UNAVAILABLE("A DHCP server");
int Networking_SntpServer_Start(const char *ifName, const struct Networking_SntpServerConfig *sntpServerConfig)
    RAMPART_NETWORKING_UNAVAILABLE("An SNTP server");
int Networking_Proxy_Apply(const struct Networking_ProxyConfig *proxyConfig)
    RAMPART_NETWORKING_UNAVAILABLE("The proxy");
int Networking_Proxy_Get(struct Networking_ProxyConfig *proxyConfig) RAMPART_NETWORKING_UNAVAILABLE("The proxy");

#ifdef __cplusplus
}
#endif
