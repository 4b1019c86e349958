/* Counter, in C with Azure Sphere's applibs: counts its starts in its mutable storage file
   (which survives restarts and updates of the app), and shows that a capability its manifest
   does not grant is refused with Azure Sphere's errno: it has no Gpio, so opening one fails
   with EACCES, as is a reboot (no Rampart app may have PowerControls). It logs whether the
   device could authenticate a TLS connection and whether its network works. Then it waits on its event loop until it is stopped. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <applibs/application.h>
#include <applibs/applications.h>
#include <applibs/eventloop.h>
#include <applibs/gpio.h>
#include <applibs/log.h>
#include <applibs/networking.h>
#include <applibs/powermanagement.h>
#include <applibs/storage.h>

static int CountStart(void)
{
    int fd = Storage_OpenMutableFile();
    if (fd == -1) {
        Log_Debug("ERROR: could not open the mutable file: %s (%d)\n", strerror(errno), errno);
        return -1;
    }
    uint32_t count = 0;
    ssize_t n = read(fd, &count, sizeof count);
    if (n != 0 && n != sizeof count) {
        Log_Debug("ERROR: could not read the count: %s (%d)\n", strerror(errno), errno);
        close(fd);
        return -1;
    }
    count++;
    if (lseek(fd, 0, SEEK_SET) == -1 || write(fd, &count, sizeof count) != sizeof count) {
        Log_Debug("ERROR: could not write the count: %s (%d)\n", strerror(errno), errno);
        close(fd);
        return -1;
    }
    close(fd);
    Log_Debug("counter: start number %u\n", (unsigned)count);
    return 0;
}

static void TryUngrantedGpio(void)
{
    int fd = GPIO_OpenAsOutput(8, GPIO_OutputMode_PushPull, GPIO_Value_High);
    if (fd != -1) {
        Log_Debug("ERROR: GPIO 8 opened without the Gpio capability\n");
        return;
    }
    Log_Debug("counter: GPIO 8 refused: %s\n", errno == EACCES ? "EACCES" : strerror(errno));
    if (PowerManagement_ForceSystemReboot() == -1) {
        Log_Debug("counter: reboot refused: %s\n", errno == EACCES ? "EACCES" : strerror(errno));
    }
    bool ready = false;
    if (Application_IsDeviceAuthReady(&ready) == 0) {
        Log_Debug("counter: device authentication %s\n", ready ? "ready" : "not ready");
    }
    Log_Debug("counter: using %zu KB of memory\n", Applications_GetTotalMemoryUsageInKB());
    if (Networking_IsNetworkingReady(&ready) == 0) {
        Log_Debug("counter: networking %s\n", ready ? "ready" : "not ready");
    }
}

int main(void)
{
    if (CountStart() == -1) {
        return 1;
    }
    TryUngrantedGpio();
    EventLoop *el = EventLoop_Create();
    for (;;) {
        EventLoop_Run(el, -1, true);
    }
}
