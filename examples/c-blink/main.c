/* Blink, in C with Azure Sphere's applibs: toggles the board's LED once a second on the event
   loop, and logs each change. Built with CMake against Rampart's sdk/c exactly as an Azure
   Sphere app is built (see README.md). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include <applibs/eventloop.h>
#include <applibs/gpio.h>
#include <applibs/log.h>

#include <hw/blink.h>

static volatile sig_atomic_t exitCode = 0;
static int ledFd = -1;
static bool ledOn = false;

static void TerminationHandler(int signalNumber)
{
    (void)signalNumber;
    exitCode = 1;
}

static void BlinkTimerHandler(EventLoop *el, int fd, EventLoop_IoEvents events, void *context)
{
    (void)el, (void)events, (void)context;
    uint64_t expirations;
    if (read(fd, &expirations, sizeof expirations) == -1) {
        Log_Debug("ERROR: could not read the timer: %s (%d)\n", strerror(errno), errno);
        exitCode = 2;
        return;
    }
    ledOn = !ledOn;
    if (GPIO_SetValue(ledFd, ledOn ? GPIO_Value_High : GPIO_Value_Low) == -1) {
        Log_Debug("ERROR: could not set the LED: %s (%d)\n", strerror(errno), errno);
        exitCode = 3;
        return;
    }
    Log_Debug("blink: LED %s\n", ledOn ? "on" : "off");
}

int main(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = TerminationHandler;
    sigaction(SIGTERM, &action, NULL);

    Log_Debug("blink: starting, LED on GPIO %d\n", BLINK_LED);
    ledFd = GPIO_OpenAsOutput(BLINK_LED, GPIO_OutputMode_PushPull, GPIO_Value_Low);
    if (ledFd == -1) {
        Log_Debug("ERROR: could not open the LED: %s (%d)\n", strerror(errno), errno);
        return 1;
    }
    EventLoop *el = EventLoop_Create();
    int timerFd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec period = {.it_value = {.tv_sec = 1}, .it_interval = {.tv_sec = 1}};
    if (el == NULL || timerFd == -1 || timerfd_settime(timerFd, 0, &period, NULL) == -1 ||
        EventLoop_RegisterIo(el, timerFd, EventLoop_Input, BlinkTimerHandler, NULL) == NULL) {
        Log_Debug("ERROR: could not set up the timer: %s (%d)\n", strerror(errno), errno);
        return 1;
    }
    while (exitCode == 0) {
        if (EventLoop_Run(el, -1, true) == EventLoop_Run_Failed && errno != EINTR) {
            exitCode = 4;
        }
    }
    Log_Debug("blink: exiting with %d\n", (int)exitCode);
    close(timerFd);
    EventLoop_Close(el);
    close(ledFd);
    return exitCode;
}
