/* Rampart C SDK: Azure Sphere's applibs/storage.h, mutable storage only. The mutable file is
   kept by the device's app host in the app's private storage (the manifest's MutableStorage
   capability and its SizeKB quota); a write is stored before write() returns. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/* Storage_OpenMutableFile returns a descriptor to the app's mutable file, creating it empty,
   or -1 with errno: EACCES (no MutableStorage capability), EIO. Use read, write, lseek,
   ftruncate and close on it. A write past SizeKB fails with ENOSPC. */
int Storage_OpenMutableFile(void);

/* Storage_DeleteMutableFile deletes the mutable file. Returns 0, or -1 with errno: EACCES,
   ENOENT (there is none), EIO. */
int Storage_DeleteMutableFile(void);

/* Files in the image package are not available: the package holds only the module. These two
   fail with ENOSYS so that code calling them still builds. */
char *Storage_GetAbsolutePathInImagePackage(const char *relativePath);
int Storage_OpenFileInImagePackage(const char *relativePath);

#ifdef __cplusplus
}
#endif
