//go:build !wasip1

package sdk

import "unsafe"

// Outside the app host every host function fails with errNoHost, so that apps and the SDK's
// examples compile, vet and unit-test on any platform.

func hostLog(int32, unsafe.Pointer, uint32) int32                           { return errNoHost }
func hostGPIOSet(int32, int32) int32                                        { return errNoHost }
func hostGPIOGet(int32) int32                                               { return errNoHost }
func hostNetDial(unsafe.Pointer, uint32, int32) int32                       { return errNoHost }
func hostNetDialTLS(unsafe.Pointer, uint32, int32, int32) int32             { return errNoHost }
func hostNetWrite(int32, unsafe.Pointer, uint32) int32                      { return errNoHost }
func hostNetRead(int32, unsafe.Pointer, uint32, int32) int32                { return errNoHost }
func hostNetClose(int32) int32                                              { return errNoHost }
func hostStorageWrite(unsafe.Pointer, uint32, unsafe.Pointer, uint32) int32 { return errNoHost }
func hostStorageRead(unsafe.Pointer, uint32, unsafe.Pointer, uint32) int32  { return errNoHost }
func hostStorageSize(unsafe.Pointer, uint32) int32                          { return errNoHost }
func hostStorageDelete(unsafe.Pointer, uint32) int32                        { return errNoHost }
func hostStorageList(unsafe.Pointer, uint32) int32                          { return errNoHost }
func hostEventsNext(unsafe.Pointer, uint32) int32                           { return errNoHost }
func hostUpdateDefer(int32, int32) int32                                    { return errNoHost }
func hostUpdateResume(int32) int32                                          { return errNoHost }

func strPtr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

func bytesPtr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
