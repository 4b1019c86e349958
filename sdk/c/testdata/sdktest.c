/* The C SDK's own test, run in the real app host by sdk/c/sdk_test.go: each check prints
   "PASS name" or "FAIL name: detail", and the program ends with "DONE". Its manifest grants
   GPIO 5 and 1 KB of mutable storage, and nothing else. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include <applibs/application.h>
#include <applibs/eventloop.h>
#include <applibs/gpio.h>
#include <applibs/log.h>
#include <applibs/networking.h>
#include <applibs/powermanagement.h>
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
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void timers(void)
{
    uint64_t n = 0;
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    check("timer-create", fd >= 0, "timerfd_create");
    check("timer-unarmed-eagain", read(fd, &n, sizeof n) == -1 && errno == EAGAIN, "read of an unarmed timer");
    struct itimerspec once = {.it_value = {.tv_nsec = 20 * 1000000}};
    check("timer-settime", timerfd_settime(fd, 0, &once, NULL) == 0, "settime");
    sleep_ms(40);
    check("timer-one-shot", read(fd, &n, sizeof n) == sizeof n && n == 1, "one expiration");
    check("timer-consumed", read(fd, &n, sizeof n) == -1 && errno == EAGAIN, "nothing after the read");
    struct itimerspec periodic = {.it_value = {.tv_nsec = 10 * 1000000}, .it_interval = {.tv_nsec = 10 * 1000000}};
    timerfd_settime(fd, 0, &periodic, NULL);
    sleep_ms(45);
    check("timer-periodic", read(fd, &n, sizeof n) == sizeof n && n >= 3, "several expirations");
    struct itimerspec off = {0}, cur;
    timerfd_settime(fd, 0, &off, NULL);
    check("timer-disarm", timerfd_gettime(fd, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0, "gettime");
    check("timer-short-buffer", read(fd, &n, 4) == -1 && errno == EINVAL, "4-byte read");
    check("timer-close", close(fd) == 0 && close(fd) == -1, "close twice");
    check("timer-bad-flags", timerfd_create(CLOCK_MONOTONIC, 0x1234) == -1 && errno == EINVAL, "bad flags");
}

static int fired[2];
static EventRegistration *regs[2];

static void on_timer(EventLoop *el, int fd, EventLoop_IoEvents ev, void *ctx)
{
    int i = (int)(intptr_t)ctx;
    uint64_t n;
    read(fd, &n, sizeof n);
    fired[i]++;
    if (i == 0) {
        EventLoop_UnregisterIo(el, regs[1]); /* the other one, from inside a callback */
    }
    (void)ev;
}

static void eventloop(void)
{
    EventLoop *el = EventLoop_Create();
    check("loop-empty", EventLoop_Run(el, 0, false) == EventLoop_Run_FinishedEmpty, "nothing to run");
    check("loop-register-stdout", EventLoop_RegisterIo(el, 1, EventLoop_Input, on_timer, NULL) == NULL && errno == EINVAL,
          "a WASI descriptor");
    int a = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), b = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec ta = {.it_value = {.tv_nsec = 10 * 1000000}}, tb = {.it_value = {.tv_nsec = 50 * 1000000}};
    timerfd_settime(a, 0, &ta, NULL);
    timerfd_settime(b, 0, &tb, NULL);
    regs[0] = EventLoop_RegisterIo(el, a, EventLoop_Input, on_timer, (void *)0);
    regs[1] = EventLoop_RegisterIo(el, b, EventLoop_Input, on_timer, (void *)1);
    check("loop-waits", EventLoop_Run(el, -1, true) == EventLoop_Run_Finished && fired[0] == 1, "the first timer");
    check("loop-unregistered", EventLoop_Run(el, 100, false) == EventLoop_Run_FinishedEmpty && fired[1] == 0,
          "the unregistered timer stays quiet");
    EventLoop_Stop(el);
    check("loop-stop", EventLoop_Run(el, -1, false) == EventLoop_Run_FinishedEmpty, "a stopped loop returns");
    EventLoop_Close(el);
    close(a);
    close(b);
}

static void storage(void)
{
    char buf[2048];
    memset(buf, 'x', sizeof buf);
    int fd = Storage_OpenMutableFile();
    check("storage-open", fd >= 0, "open");
    check("storage-write", write(fd, "hello, storage", 14) == 14, "write");
    check("storage-seek", lseek(fd, 0, SEEK_SET) == 0, "lseek");
    char got[32] = {0};
    check("storage-read", read(fd, got, sizeof got) == 14 && memcmp(got, "hello, storage", 14) == 0, "read back");
    check("storage-tell", lseek(fd, 0, SEEK_CUR) == 14, "lseek(0, SEEK_CUR) is the SDK's, not WASI's");
    check("storage-truncate", ftruncate(fd, 5) == 0 && lseek(fd, 0, SEEK_END) == 5, "ftruncate");
    check("storage-quota", write(fd, buf, sizeof buf) == -1 && errno == ENOSPC, "a write past SizeKB");
    check("storage-unchanged", lseek(fd, 0, SEEK_END) == 5, "the refused write left the file");
    close(fd);
    fd = Storage_OpenMutableFile();
    check("storage-reopen", fd >= 0 && read(fd, got, sizeof got) == 5 && memcmp(got, "hello", 5) == 0, "stored");
    close(fd);
    check("storage-delete", Storage_DeleteMutableFile() == 0, "delete");
    check("storage-delete-again", Storage_DeleteMutableFile() == -1 && errno == ENOENT, "nothing to delete");
    check("storage-image-file", Storage_OpenFileInImagePackage("x") == -1 && errno == ENOSYS, "no image files");
}

static void gpio(void)
{
    int fd = GPIO_OpenAsOutput(5, GPIO_OutputMode_PushPull, GPIO_Value_High);
    GPIO_Value_Type v = 0;
    check("gpio-open", fd >= 0, "granted pin");
    check("gpio-get", GPIO_GetValue(fd, &v) == 0 && v == GPIO_Value_High, "initial value");
    check("gpio-busy", GPIO_OpenAsInput(5) == -1 && errno == EBUSY, "opened twice");
    check("gpio-denied", GPIO_OpenAsOutput(6, GPIO_OutputMode_PushPull, GPIO_Value_Low) == -1 && errno == EACCES, "not granted");
    check("gpio-denied-input", GPIO_OpenAsInput(6) == -1 && errno == EACCES, "not granted");
    check("gpio-nodev", GPIO_OpenAsInput(5000) == -1 && errno == ENODEV, "no such GPIO");
    check("gpio-bad-value", GPIO_SetValue(fd, 2) == -1 && errno == EINVAL, "value 2");
    check("gpio-bad-fd", GPIO_SetValue(12345, GPIO_Value_Low) == -1 && errno == EBADF, "not a GPIO");
    check("gpio-set", GPIO_SetValue(fd, GPIO_Value_Low) == 0 && GPIO_GetValue(fd, &v) == 0 && v == GPIO_Value_Low, "set low");
    check("gpio-close", close(fd) == 0 && GPIO_SetValue(fd, GPIO_Value_Low) == -1 && errno == EBADF, "closed");
}

static void SysCallback(SysEvent_Events e, SysEvent_Status s, const SysEvent_Info *i, void *c)
{
    (void)e, (void)s, (void)i, (void)c;
}

static void refusals(void)
{
    EventLoop *el = EventLoop_Create();
    check("sysevent-denied", SysEvent_RegisterForEventNotifications(el, SysEvent_Events_Mask, SysCallback, NULL) == NULL &&
                                 errno == EACCES, "no SystemEventNotifications");
    check("defer-denied", SysEvent_DeferEvent(SysEvent_Events_UpdateReadyForInstall, 5) == -1 && errno == EACCES,
          "no SoftwareUpdateDeferral");
    check("resume-denied", SysEvent_ResumeEvent(SysEvent_Events_UpdateReadyForInstall) == -1 && errno == EACCES,
          "no SoftwareUpdateDeferral");
    check("deviceauth-denied", DeviceAuth_GetCertificatePath() == NULL && errno == EACCES, "no DeviceAuthentication");
    check("netif-state-denied", Networking_SetInterfaceState("eth0", true) == -1 && errno == EACCES, "no NetworkConfig");
    check("reboot-denied", PowerManagement_ForceSystemReboot() == -1 && errno == EACCES, "no PowerControls");
    check("connect-denied", Application_Connect("x") == -1 && errno == EACCES, "no real-time apps");
    bool ready = true;
    check("auth-not-ready", Application_IsDeviceAuthReady(&ready) == 0 && !ready, "no certificate");
    ready = true;
    check("net-not-ready", Networking_IsNetworkingReady(&ready) == 0 && !ready, "no NetworkReady");
    check("log", Log_Debug("a log line %d\n", 42) == 0, "Log_Debug");
    EventLoop_Close(el);
}

int main(void)
{
    timers();
    eventloop();
    storage();
    gpio();
    refusals();
    printf("DONE\n");
    fflush(stdout);
    return 0;
}
