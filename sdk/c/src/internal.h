/* Internal to the Rampart C SDK: the app host's imports and the SDK's descriptor table. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAMPART_IMPORT(name) __attribute__((import_module("rampart"), import_name(name)))

/* The host functions (device/apphost/abi.go). Each returns a count, a handle or an error below. */
RAMPART_IMPORT("log") int32_t rampart_log(int32_t level, const void *msg, uint32_t msg_len);
RAMPART_IMPORT("gpio_set") int32_t rampart_gpio_set(int32_t pin, int32_t value);
RAMPART_IMPORT("gpio_get") int32_t rampart_gpio_get(int32_t pin);
RAMPART_IMPORT("storage_write")
int32_t rampart_storage_write(const char *name, uint32_t name_len, const void *data, uint32_t data_len);
RAMPART_IMPORT("storage_read")
int32_t rampart_storage_read(const char *name, uint32_t name_len, void *buf, uint32_t buf_len);
RAMPART_IMPORT("storage_size") int32_t rampart_storage_size(const char *name, uint32_t name_len);
RAMPART_IMPORT("storage_delete") int32_t rampart_storage_delete(const char *name, uint32_t name_len);
RAMPART_IMPORT("events_next") int32_t rampart_events_next(void *buf, uint32_t buf_len);
RAMPART_IMPORT("update_defer") int32_t rampart_update_defer(int32_t kind, int32_t minutes);
RAMPART_IMPORT("update_resume") int32_t rampart_update_resume(int32_t kind);
RAMPART_IMPORT("device_auth_ready") int32_t rampart_device_auth_ready(void);
RAMPART_IMPORT("net_ready") int32_t rampart_net_ready(void);
/* net_interfaces writes as many 32-byte records as fit in buf and returns how many interfaces
   there are: name[16] (NUL-padded), status bits, medium, hardware address length, 0, then the
   hardware address (8 bytes) and 4 zero bytes. */
RAMPART_IMPORT("net_interfaces") int32_t rampart_net_interfaces(void *buf, uint32_t buf_len);
RAMPART_IMPORT("net_dial") int32_t rampart_net_dial(const char *host, uint32_t host_len, int32_t port);
RAMPART_IMPORT("net_dial_tls")
int32_t rampart_net_dial_tls(const char *host, uint32_t host_len, int32_t port, int32_t flags);
RAMPART_IMPORT("net_write") int32_t rampart_net_write(int32_t handle, const void *buf, uint32_t buf_len);
RAMPART_IMPORT("net_read") int32_t rampart_net_read(int32_t handle, void *buf, uint32_t buf_len, int32_t timeout_ms);
RAMPART_IMPORT("net_close") int32_t rampart_net_close(int32_t handle);

/* The host's error codes (apphost.Err*). */
enum {
    RAMPART_ERR_DENIED = -1,
    RAMPART_ERR_INVALID = -2,
    RAMPART_ERR_QUOTA = -3,
    RAMPART_ERR_IO = -4,
    RAMPART_ERR_TIMEOUT = -5,
    RAMPART_ERR_NOT_FOUND = -6,
    RAMPART_ERR_TOO_SMALL = -7,
    RAMPART_ERR_TLS = -8,
    RAMPART_ERR_LIMIT = -9,
    RAMPART_ERR_UNAVAILABLE = -10,
};

/* rampart_errno is the errno Azure Sphere gives for a host error. */
int rampart_errno(int32_t err);

/* The SDK's descriptors: GPIOs, timers and the mutable file are not WASI descriptors, so they
   are numbered from RAMPART_FD_BASE, far above what WASI hands out, and read, write, lseek,
   ftruncate and close look them up here before they fall through to WASI. */
#define RAMPART_FD_BASE 0x40000000
#define RAMPART_MAX_FDS 64

enum rampart_fd_kind { FD_FREE = 0, FD_GPIO_IN, FD_GPIO_OUT, FD_TIMER, FD_MUTABLE, FD_CONN };

struct rampart_timer {
    int64_t next_ns;     /* next expiry on the monotonic clock; 0 when disarmed */
    int64_t interval_ns; /* 0 for a one-shot timer */
    uint64_t expired;    /* expirations not yet read */
    bool nonblock;
};

struct rampart_mutable {
    unsigned char *data;
    size_t len, cap, off;
};

struct rampart_fd {
    enum rampart_fd_kind kind;
    int pin;
    int32_t conn;       /* the host's connection handle */
    int32_t timeout_ms; /* of reads on the connection; -1 waits */
    struct rampart_timer timer;
    struct rampart_mutable file;
};

/* rampart_fd_alloc returns a new descriptor of kind, or -1 with errno EMFILE. */
int rampart_fd_alloc(enum rampart_fd_kind kind);
/* rampart_fd_get returns fd's entry, or NULL if fd is not the SDK's or not open. */
struct rampart_fd *rampart_fd_get(int fd);
void rampart_fd_free(int fd);

int64_t rampart_now_ns(void);
/* rampart_timer_poll counts the expirations of t up to now; it returns true if any are unread. */
bool rampart_timer_poll(struct rampart_timer *t, int64_t now);


#include <applibs/eventloop.h>
#include <applibs/sysevent.h>

enum rampart_reg_kind { REG_IO, REG_SYSEVENT };

/* EventRegistration is one registration with an EventLoop; removed ones are freed when no
   EventLoop_Run is dispatching. */
struct EventRegistration {
    EventLoop *el;
    enum rampart_reg_kind kind;
    int fd;
    EventLoop_IoEvents events;
    EventLoopIoCallback *io_cb;
    SysEvent_Events sys_mask;
    SysEvent_EventsCallback *sys_cb;
    void *context;
    bool removed;
    struct EventRegistration *next;
};

struct EventLoop {
    struct EventRegistration *regs;
    bool stop;
    int running;
    int64_t next_sys_poll; /* when to ask the host for system events next */
};

/* rampart_sysevent_poll asks the host for a pending system event and dispatches it to el's
   system event registrations; it returns true if it dispatched one. */
bool rampart_sysevent_poll(EventLoop *el);
