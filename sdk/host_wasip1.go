//go:build wasip1

package sdk

import "unsafe"

// The host functions of the "rampart" import module. Pointers and lengths address the app's
// own linear memory; every function returns a count, a handle, or a negative Error.

//go:wasmimport rampart log
func hostLog(level int32, msg unsafe.Pointer, msgLen uint32) int32

//go:wasmimport rampart gpio_set
func hostGPIOSet(pin, value int32) int32

//go:wasmimport rampart gpio_get
func hostGPIOGet(pin int32) int32

//go:wasmimport rampart net_dial
func hostNetDial(host unsafe.Pointer, hostLen uint32, port int32) int32

//go:wasmimport rampart net_dial_tls
func hostNetDialTLS(host unsafe.Pointer, hostLen uint32, port int32, flags int32) int32

//go:wasmimport rampart net_write
func hostNetWrite(handle int32, buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport rampart net_read
func hostNetRead(handle int32, buf unsafe.Pointer, bufLen uint32, timeoutMS int32) int32

//go:wasmimport rampart net_close
func hostNetClose(handle int32) int32

//go:wasmimport rampart storage_write
func hostStorageWrite(name unsafe.Pointer, nameLen uint32, data unsafe.Pointer, dataLen uint32) int32

//go:wasmimport rampart storage_read
func hostStorageRead(name unsafe.Pointer, nameLen uint32, buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport rampart storage_size
func hostStorageSize(name unsafe.Pointer, nameLen uint32) int32

//go:wasmimport rampart storage_delete
func hostStorageDelete(name unsafe.Pointer, nameLen uint32) int32

//go:wasmimport rampart storage_list
func hostStorageList(buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport rampart events_next
func hostEventsNext(buf unsafe.Pointer, bufLen uint32) int32

//go:wasmimport rampart update_defer
func hostUpdateDefer(kind, minutes int32) int32

//go:wasmimport rampart update_resume
func hostUpdateResume(kind int32) int32

// strPtr and bytesPtr give the address of a string's or a slice's bytes (nil when empty).
func strPtr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

func bytesPtr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
