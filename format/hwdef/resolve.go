package hwdef

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Value is what a name resolves to: the AppManifestValue at the end of its Mapping chain, a
// number (IsNumber) or a string (such as "ISU0").
type Value struct {
	Type     string // the Type of the peripheral the name itself is (Gpio, Uart, …)
	IsNumber bool
	Number   int64
	String   string
}

func (p *Peripheral) value() (Value, error) {
	var n json.Number
	if err := json.Unmarshal(p.AppManifestValue, &n); err == nil {
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || i < 0 || i > math.MaxInt32 {
			return Value{}, fmt.Errorf("%w: peripheral %s: AppManifestValue %s is not a whole number from 0 to %d", ErrInvalid, p.Name, n, math.MaxInt32)
		}
		return Value{IsNumber: true, Number: i}, nil
	}
	var s string
	if err := json.Unmarshal(p.AppManifestValue, &s); err != nil || s == "" || len(s) > 128 {
		return Value{}, fmt.Errorf("%w: peripheral %s: AppManifestValue must be a number or a short string", ErrInvalid, p.Name)
	}
	return Value{String: s}, nil
}

// lookup finds name in d, then in its imports depth-first, in order.
func (d *Definition) lookup(name string) (*Peripheral, bool) {
	for i := range d.File.Peripherals {
		if d.File.Peripherals[i].Name == name {
			return &d.File.Peripherals[i], true
		}
	}
	for _, imp := range d.Imports {
		if p, ok := imp.lookup(name); ok {
			return p, true
		}
	}
	return nil, false
}

// Resolve follows name's Mapping chain to its AppManifestValue.
func (d *Definition) Resolve(name string) (Value, error) {
	first, typ := name, ""
	for hop := 0; hop < maxMappingHops; hop++ {
		p, ok := d.lookup(name)
		if !ok {
			if name == first {
				return Value{}, fmt.Errorf("%s is not defined in hardware definition %s or its imports", name, d.Path)
			}
			return Value{}, fmt.Errorf("%s maps to %s, which hardware definition %s and its imports do not define", first, name, d.Path)
		}
		if typ == "" {
			typ = p.Type
		}
		if p.Mapping == "" {
			v, err := p.value()
			v.Type = typ
			return v, err
		}
		name = p.Mapping
	}
	return Value{}, fmt.Errorf("%s: the Mapping chain is longer than %d (a loop?)", first, maxMappingHops)
}
