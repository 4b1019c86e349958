/* The C SDK's test of what an app learns of the device, run in the real app host by
   sdk/c/sdk_test.go: the device certificate (tlsutils/deviceauth.h), the network interfaces
   (applibs/networking.h) and the life of an update (applibs/sysevent.h). The mutable file says
   what to expect: "cert DEVICE-ID" when the device has a certificate and two interfaces, or
   "nocert" when it has no certificate yet and its interfaces cannot be listed. The test drives
   the update through the log: it announces an update once the program logs "WAITING", and
   ends it once it logs "RESUMED". */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <applibs/eventloop.h>
#include <applibs/networking.h>
#include <applibs/storage.h>
#include <applibs/sysevent.h>
#include <tlsutils/deviceauth.h>

static void check(const char *name, bool ok, const char *detail)
{
    if (ok) {
        printf("PASS %s\n", name);
    } else {
        printf("FAIL %s: %s (errno %d)\n", name, detail, errno);
    }
    fflush(stdout);
}

/* base64 decodes the base64 text in [s, end) into out, skipping line breaks; it returns the
   length. */
static size_t base64(const char *s, const char *end, unsigned char *out)
{
    static const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned int acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; s < end && *s != '='; s++) {
        const char *p = strchr(alphabet, *s);
        if (*s == '\n' || *s == '\r' || p == NULL) {
            continue;
        }
        acc = (acc << 6) | (unsigned int)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

static void certificate(const char *deviceID)
{
    const char *path = DeviceAuth_GetCertificatePath();
    check("cert-path", path != NULL && path[0] == '/', "a path");
    if (path == NULL) {
        return;
    }
    FILE *f = fopen(path, "r");
    if (deviceID == NULL) {
        check("cert-not-yet", f == NULL && errno == ENOENT, "no certificate before attestation");
        return;
    }
    check("cert-open", f != NULL, path);
    if (f == NULL) {
        return;
    }
    static char pem[16384];
    size_t n = fread(pem, 1, sizeof pem - 1, f);
    fclose(f);
    pem[n] = 0;
    const char *begin = "-----BEGIN CERTIFICATE-----\n";
    char *first = strstr(pem, begin);
    check("cert-pem", first != NULL && strstr(first + 1, begin) != NULL, "a chain of two PEM certificates");
    check("cert-no-key", strstr(pem, "PRIVATE KEY") == NULL, "no key in the file");
    if (first != NULL) {
        static unsigned char der[8192];
        const char *body = first + strlen(begin);
        size_t len = base64(body, strstr(body, "-----END"), der);
        bool found = false;
        for (size_t i = 0; i + strlen(deviceID) <= len; i++) {
            if (memcmp(der + i, deviceID, strlen(deviceID)) == 0) {
                found = true;
            }
        }
        check("cert-subject", found, "the device ID in the device certificate");
    }
    check("cert-read-only", fopen(path, "w") == NULL && fopen(path, "a") == NULL, "the file cannot be written");
    check("cert-no-other-files", fopen("/run/rampart/deviceauth/key.pem", "r") == NULL && errno == ENOENT,
          "nothing else in the folder");
}

static void interfaces(bool listed)
{
    if (!listed) {
        Networking_NetworkInterface one;
        Networking_InterfaceConnectionStatus st;
        check("netif-count-eagain", Networking_GetInterfaceCount() == -1 && errno == EAGAIN, "not listed");
        check("netif-list-eagain", Networking_GetInterfaces(&one, 1) == -1 && errno == EAGAIN, "not listed");
        check("netif-status-eagain", Networking_GetInterfaceConnectionStatus("eth0", &st) == -1 && errno == EAGAIN,
              "not listed");
        return;
    }
    check("netif-count", Networking_GetInterfaceCount() == 2, "eth0 and wlan0; a name too long is left out");
    Networking_NetworkInterface ifs[8];
    check("netif-list-short", Networking_GetInterfaces(ifs, 1) == 1 && strcmp(ifs[0].interfaceName, "eth0") == 0,
          "one fits");
    memset(ifs, 0x55, sizeof ifs);
    check("netif-list", Networking_GetInterfaces(ifs, 8) == 2, "two");
    check("netif-eth0", strcmp(ifs[0].interfaceName, "eth0") == 0 && ifs[0].isEnabled &&
                            ifs[0].interfaceMediumType == Networking_InterfaceMedium_Ethernet &&
                            ifs[0].ipConfigurationType == Networking_IpType_DhcpNone,
          ifs[0].interfaceName);
    check("netif-wlan0", strcmp(ifs[1].interfaceName, "wlan0") == 0 && ifs[1].isEnabled &&
                             ifs[1].interfaceMediumType == Networking_InterfaceMedium_Wifi,
          ifs[1].interfaceName);
    check("netif-list-null", Networking_GetInterfaces(NULL, 1) == -1 && errno == EFAULT, "NULL array");
    check("netif-list-zero", Networking_GetInterfaces(ifs, 0) == -1 && errno == ERANGE, "count 0");

    Networking_InterfaceConnectionStatus st = 0;
    check("netif-status-eth0",
          Networking_GetInterfaceConnectionStatus("eth0", &st) == 0 &&
              st == (Networking_InterfaceConnectionStatus_InterfaceUp |
                     Networking_InterfaceConnectionStatus_ConnectedToNetwork |
                     Networking_InterfaceConnectionStatus_IpAvailable |
                     Networking_InterfaceConnectionStatus_ConnectedToInternet),
          "up, connected, an address, the service reached");
    check("netif-status-wlan0",
          Networking_GetInterfaceConnectionStatus("wlan0", &st) == 0 && st == Networking_InterfaceConnectionStatus_InterfaceUp,
          "up, no network");
    check("netif-status-unknown", Networking_GetInterfaceConnectionStatus("eth9", &st) == -1 && errno == ENOENT,
          "no such interface");
    check("netif-status-null", Networking_GetInterfaceConnectionStatus("eth0", NULL) == -1 && errno == EFAULT,
          "NULL status");

    Networking_Interface_HardwareAddress hw;
    static const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
    check("netif-hwaddr", Networking_GetHardwareAddress("eth0", &hw) == 0 && memcmp(hw.address, mac, 6) == 0,
          "eth0's address");
    check("netif-hwaddr-none", Networking_GetHardwareAddress("wlan0", &hw) == -1 && errno == EPERM, "no address");
    check("netif-hwaddr-unknown", Networking_GetHardwareAddress("eth9", &hw) == -1 && errno == ENOENT, "no such");

    check("netif-set-state", Networking_SetInterfaceState("eth0", false) == -1 && errno == EACCES, "no NetworkConfig");
    check("netif-set-hwaddr", Networking_SetHardwareAddress("eth0", mac, 6) == -1 && errno == EACCES,
          "no HardwareAddressConfig");
    check("netif-timesync", Networking_TimeSync_SetEnabled(false) == -1 && errno == EACCES, "no TimeSyncConfig");
    Networking_IpConfig cfg;
    Networking_IpConfig_Init(&cfg);
    Networking_IpConfig_EnableDynamicIp(&cfg);
    check("netif-ipconfig-apply", Networking_IpConfig_Apply("eth0", &cfg) == -1 && errno == EACCES,
          "no NetworkConfig");
    check("netif-ipconfig-renew", Networking_IpConfig_RenewIp("eth0", &cfg) == -1 && errno == EACCES,
          "no NetworkConfig");
    Networking_IpConfig_Destroy(&cfg);
}

/* The statuses the callback saw, in order. */
static SysEvent_Status seen[16];
static int nseen;

static void on_update(SysEvent_Events event, SysEvent_Status status, const SysEvent_Info *info, void *context)
{
    (void)context;
    SysEvent_Info_UpdateData data;
    if (event != SysEvent_Events_UpdateReadyForInstall || SysEvent_Info_GetUpdateData(info, &data) != 0 ||
        data.update_type != SysEvent_UpdateType_App) {
        printf("FAIL update-event: event %u type %u\n", (unsigned)event, (unsigned)data.update_type);
        return;
    }
    if (nseen < 16) {
        seen[nseen++] = status;
    }
    if (status == SysEvent_Status_Pending) {
        check("update-defer", SysEvent_DeferEvent(SysEvent_Events_UpdateReadyForInstall, 10) == 0, "defer 10 minutes");
    }
    if (status == SysEvent_Status_Deferred) {
        check("update-resume", SysEvent_ResumeEvent(SysEvent_Events_UpdateReadyForInstall) == 0, "resume");
        check("update-resume-twice", SysEvent_ResumeEvent(SysEvent_Events_UpdateReadyForInstall) == -1 && errno == ENOENT,
              "nothing deferred any more");
        printf("RESUMED\n");
        fflush(stdout);
    }
}

static bool saw(SysEvent_Status s)
{
    for (int i = 0; i < nseen; i++) {
        if (seen[i] == s) {
            return true;
        }
    }
    return false;
}

static void update(void)
{
    check("resume-nothing", SysEvent_ResumeEvent(SysEvent_Events_UpdateReadyForInstall) == -1 && errno == ENOENT,
          "nothing deferred");
    check("resume-other-event", SysEvent_ResumeEvent(SysEvent_Events_NoUpdateAvailable) == -1 && errno == EINVAL,
          "not an update");
    EventLoop *el = EventLoop_Create();
    EventRegistration *reg = SysEvent_RegisterForEventNotifications(el, SysEvent_Events_Mask, on_update, NULL);
    check("update-register", reg != NULL, "SystemEventNotifications");
    printf("WAITING\n");
    fflush(stdout);
    for (int i = 0; i < 600 && !saw(SysEvent_Status_Complete); i++) {
        EventLoop_Run(el, 100, false);
    }
    check("update-statuses",
          nseen == 4 && seen[0] == SysEvent_Status_Pending && seen[1] == SysEvent_Status_Deferred &&
              seen[2] == SysEvent_Status_Final && seen[3] == SysEvent_Status_Complete,
          "pending, deferred, final, complete");
    SysEvent_UnregisterForEventNotifications(reg);
    EventLoop_Close(el);
}

int main(void)
{
    char mode[128] = {0};
    int fd = Storage_OpenMutableFile();
    read(fd, mode, sizeof mode - 1);
    close(fd);
    bool cert = strncmp(mode, "cert ", 5) == 0;
    certificate(cert ? mode + 5 : NULL);
    interfaces(cert);
    if (cert) {
        update();
    }
    printf("DONE\n");
    fflush(stdout);
    return 0;
}
