/* The C SDK's connection test, run in the real app host by sdk/c/sdk_test.go against a TLS
   server that requires the device certificate. The server's port is in the mutable file. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <applibs/storage.h>
#include <rampart/net.h>

static void check(const char *name, bool ok, const char *detail)
{
    if (ok) {
        printf("PASS %s\n", name);
    } else {
        printf("FAIL %s: %s (errno %d)\n", name, detail, errno);
    }
}

int main(void)
{
    char portText[16] = {0};
    int sfd = Storage_OpenMutableFile();
    read(sfd, portText, sizeof portText - 1);
    close(sfd);
    int port = atoi(portText);

    check("connect-denied", Rampart_Connect("example.com", 80) == -1 && errno == EACCES, "not in AllowedConnections");
    check("connect-bad-port", Rampart_Connect("127.0.0.1", 0) == -1 && errno == EINVAL, "port 0");
    int fd = Rampart_ConnectTLS("127.0.0.1", port, true);
    check("tls-connect", fd >= 0, "TLS with the device certificate");
    check("tls-write", write(fd, "hi\n", 3) == 3, "write");
    char buf[128] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    check("tls-read", n > 0 && strstr(buf, "hello device-1") != NULL, buf);
    check("tls-timeout", Rampart_SetReadTimeout(fd, 50) == 0 && read(fd, buf, sizeof buf) == -1 && errno == EAGAIN,
          "nothing more to read");
    check("tls-close", close(fd) == 0 && write(fd, "x", 1) == -1, "closed");
    printf("DONE\n");
    fflush(stdout);
    return 0;
}
