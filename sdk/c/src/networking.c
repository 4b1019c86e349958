/* applibs/networking.h over the host's net_ready and net_interfaces. */
#include <errno.h>
#include <string.h>

#include <applibs/networking.h>

#include "internal.h"

#define RECORD 32
#define MAX_INTERFACES 16

/* interfaces reads the host's records into recs; it returns how many, or -1 with errno. */
static int interfaces(unsigned char recs[MAX_INTERFACES][RECORD])
{
    int32_t n = rampart_net_interfaces(recs, MAX_INTERFACES * RECORD);
    if (n < 0) {
        errno = rampart_errno(n);
        return -1;
    }
    return n < MAX_INTERFACES ? n : MAX_INTERFACES;
}

/* find returns the record of the interface named name, or NULL with errno. */
static const unsigned char *find(unsigned char recs[MAX_INTERFACES][RECORD], const char *name)
{
    int n = interfaces(recs);
    if (n < 0) {
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (strncmp((const char *)recs[i], name, IF_NAMESIZE) == 0) {
            return recs[i];
        }
    }
    errno = ENOENT;
    return NULL;
}

int Networking_IsNetworkingReady(bool *outIsNetworkingReady)
{
    if (outIsNetworkingReady == NULL) {
        errno = EFAULT;
        return -1;
    }
    *outIsNetworkingReady = rampart_net_ready() == 1;
    return 0;
}

ssize_t Networking_GetInterfaceCount(void)
{
    int32_t n = rampart_net_interfaces(NULL, 0);
    if (n < 0) {
        errno = rampart_errno(n);
        return -1;
    }
    return n;
}

ssize_t Networking_GetInterfaces(Networking_NetworkInterface *out, size_t count)
{
    if (out == NULL) {
        errno = EFAULT;
        return -1;
    }
    if (count == 0) {
        errno = ERANGE;
        return -1;
    }
    unsigned char recs[MAX_INTERFACES][RECORD];
    int n = interfaces(recs);
    if (n < 0) {
        return -1;
    }
    if ((size_t)n > count) {
        n = (int)count;
    }
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        memcpy(out[i].interfaceName, recs[i], IF_NAMESIZE);
        out[i].interfaceName[IF_NAMESIZE - 1] = 0;
        out[i].isEnabled = (recs[i][16] & Networking_InterfaceConnectionStatus_InterfaceUp) != 0;
        out[i].ipConfigurationType = Networking_IpType_DhcpNone;
        out[i].interfaceMediumType = recs[i][17];
    }
    return n;
}

int Networking_GetInterfaceConnectionStatus(const char *name, Networking_InterfaceConnectionStatus *outStatus)
{
    if (name == NULL || outStatus == NULL) {
        errno = EFAULT;
        return -1;
    }
    unsigned char recs[MAX_INTERFACES][RECORD];
    const unsigned char *r = find(recs, name);
    if (r == NULL) {
        return -1;
    }
    *outStatus = r[16];
    return 0;
}

int Networking_GetHardwareAddress(const char *name, Networking_Interface_HardwareAddress *outAddress)
{
    if (outAddress == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (name == NULL) {
        errno = EFAULT;
        return -1;
    }
    unsigned char recs[MAX_INTERFACES][RECORD];
    const unsigned char *r = find(recs, name);
    if (r == NULL) {
        return -1;
    }
    if (r[18] != HARDWARE_ADDRESS_LENGTH) {
        errno = EPERM;
        return -1;
    }
    memcpy(outAddress->address, r + 20, HARDWARE_ADDRESS_LENGTH);
    return 0;
}

/* Network configuration belongs to the runtime: no manifest may grant NetworkConfig. */

int Networking_SetInterfaceState(const char *name, bool isEnabled)
{
    (void)name, (void)isEnabled;
    errno = EACCES;
    return -1;
}

int Networking_SetHardwareAddress(const char *name, const uint8_t *address, size_t len)
{
    (void)name, (void)address, (void)len;
    errno = EACCES;
    return -1;
}

int Networking_TimeSync_SetEnabled(bool enabled)
{
    (void)enabled;
    errno = EACCES;
    return -1;
}

/* The IP configuration an app builds: kept so that the calls behave as on Azure Sphere, never
   applied. */
struct ipconfig {
    bool dynamic, customDns;
    struct in_addr ip, mask, gateway;
};
_Static_assert(sizeof(struct ipconfig) <= sizeof(Networking_IpConfig), "Networking_IpConfig is too small");

void Networking_IpConfig_Init(Networking_IpConfig *c)
{
    if (c != NULL) {
        memset(c, 0, sizeof *c);
        ((struct ipconfig *)c)->dynamic = true;
    }
}

void Networking_IpConfig_Destroy(Networking_IpConfig *c) { (void)c; }

void Networking_IpConfig_EnableDynamicIp(Networking_IpConfig *c)
{
    if (c != NULL) {
        ((struct ipconfig *)c)->dynamic = true;
    }
}

void Networking_IpConfig_EnableStaticIp(Networking_IpConfig *c, struct in_addr ip, struct in_addr mask,
                                        struct in_addr gateway)
{
    if (c != NULL) {
        struct ipconfig *p = (struct ipconfig *)c;
        p->dynamic = false, p->ip = ip, p->mask = mask, p->gateway = gateway;
    }
}

void Networking_IpConfig_EnableAutomaticDns(Networking_IpConfig *c)
{
    if (c != NULL) {
        ((struct ipconfig *)c)->customDns = false;
    }
}

int Networking_IpConfig_EnableCustomDns(Networking_IpConfig *c, const struct in_addr *servers, size_t count)
{
    if (c == NULL || (servers == NULL && count > 0)) {
        errno = EFAULT;
        return -1;
    }
    if (count > 3) {
        errno = EINVAL;
        return -1;
    }
    ((struct ipconfig *)c)->customDns = true;
    return 0;
}

static int no_config(const char *name, const Networking_IpConfig *c)
{
    (void)name, (void)c;
    errno = EACCES;
    return -1;
}

int Networking_IpConfig_Apply(const char *name, const Networking_IpConfig *c) { return no_config(name, c); }
int Networking_IpConfig_ReleaseIp(const char *name, const Networking_IpConfig *c) { return no_config(name, c); }
int Networking_IpConfig_RenewIp(const char *name, const Networking_IpConfig *c) { return no_config(name, c); }
