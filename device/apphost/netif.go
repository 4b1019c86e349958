package apphost

import (
	"net"
	"os"
	"path/filepath"
)

// NetInterface is one of the device's network interfaces as apps see it (Azure Sphere's
// Networking_GetInterfaces and Networking_GetInterfaceConnectionStatus). Apps may read the
// state of the interfaces, never change it: network configuration belongs to the runtime.
type NetInterface struct {
	Name         string // at most MaxInterfaceName bytes of printable ASCII, else it is left out
	Up           bool   // enabled
	Connected    bool   // has a link to a network (a carrier)
	HasIP        bool   // has an address other than a link-local one
	Wireless     bool   // a Wi-Fi interface; otherwise Ethernet if it has a 6-byte address
	HardwareAddr net.HardwareAddr
}

// Bounds of net_interfaces.
const (
	MaxInterfaces    = 16 // more are left out
	MaxInterfaceName = 15 // IF_NAMESIZE - 1
	maxHardwareAddr  = 8
	netifRecordSize  = 32
)

// The status bits of a net_interfaces record: Azure Sphere's
// Networking_InterfaceConnectionStatus.
const (
	netifUp        = 1 << 0
	netifConnected = 1 << 1
	netifIP        = 1 << 2
	netifInternet  = 1 << 3
)

// Media of a net_interfaces record: Azure Sphere's Networking_InterfaceMedium.
const (
	mediumUnspecified = 0
	mediumWifi        = 1
	mediumEthernet    = 2
)

// SystemInterfaces returns the machine's network interfaces but the loopback ones, from
// net.Interfaces; Wi-Fi is told apart where Linux says so (/sys/class/net/NAME/wireless).
func SystemInterfaces() ([]NetInterface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []NetInterface
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			continue
		}
		ni := NetInterface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, Connected: i.Flags&net.FlagRunning != 0,
			HardwareAddr: i.HardwareAddr}
		if addrs, err := i.Addrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() && !ipn.IP.IsLoopback() {
					ni.HasIP = true
				}
			}
		}
		if _, err := os.Stat(filepath.Join("/sys/class/net", i.Name, "wireless")); err == nil {
			ni.Wireless = true
		}
		out = append(out, ni)
	}
	return out, nil
}

// interfaceRecords encodes ifs for net_interfaces, with internet telling whether the last
// check-in reached the service: at most MaxInterfaces records of netifRecordSize bytes.
//
//	[0:16]  the name, NUL-padded      [16] status bits      [17] medium
//	[18]    hardware address length   [20:28] hardware address; the rest is zero
func interfaceRecords(ifs []NetInterface, internet bool) [][]byte {
	var out [][]byte
	for _, i := range ifs {
		if len(out) == MaxInterfaces {
			break
		}
		if !validInterfaceName(i.Name) {
			continue
		}
		r := make([]byte, netifRecordSize)
		copy(r, i.Name)
		var status byte
		if i.Up {
			status |= netifUp
			if i.Connected {
				status |= netifConnected
				if i.HasIP {
					status |= netifIP
					if internet {
						status |= netifInternet
					}
				}
			}
		}
		r[16] = status
		switch {
		case i.Wireless:
			r[17] = mediumWifi
		case len(i.HardwareAddr) == 6:
			r[17] = mediumEthernet
		default:
			r[17] = mediumUnspecified
		}
		if n := len(i.HardwareAddr); n <= maxHardwareAddr {
			r[18] = byte(n)
			copy(r[20:], i.HardwareAddr)
		}
		out = append(out, r)
	}
	return out
}

func validInterfaceName(s string) bool {
	if s == "" || len(s) > MaxInterfaceName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// hostNetInterfaces: net_interfaces(buf, buf_len) → n, the number of the device's network
// interfaces (at most MaxInterfaces), writing as many netifRecordSize-byte records as fit in
// buf; ErrUnavailable when the host cannot list them. It needs no capability, as Azure
// Sphere's Networking_GetInterfaces.
func hostNetInterfaces(c *call, a []uint32) int32 {
	h := c.run.app.h
	list := h.opt.NetworkInterfaces
	if list == nil {
		list = SystemInterfaces
	}
	ifs, err := list()
	if err != nil {
		return ErrUnavailable
	}
	recs := interfaceRecords(ifs, h.opt.NetworkReady != nil && h.opt.NetworkReady())
	n := min(uint32(len(recs)), a[1]/netifRecordSize)
	buf, ok := c.bytes(a[0], n*netifRecordSize)
	if !ok {
		return ErrInvalid
	}
	for i := range n {
		copy(buf[i*netifRecordSize:], recs[i])
	}
	return int32(len(recs))
}
