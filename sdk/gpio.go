package sdk

// GPIO is the device's general-purpose I/O pins. An app may use only the pins its manifest
// lists in Gpio; any other pin is [ErrDenied].
var GPIO Pins

// Pins is the type of [GPIO].
type Pins struct{}

// Set drives pin high or low.
func (Pins) Set(pin int, high bool) error {
	if pin < 0 || pin > 1<<20 {
		return ErrInvalid
	}
	v := int32(0)
	if high {
		v = 1
	}
	_, err := check(hostGPIOSet(int32(pin), v))
	return err
}

// Get reads pin.
func (Pins) Get(pin int) (high bool, err error) {
	if pin < 0 || pin > 1<<20 {
		return false, ErrInvalid
	}
	v, err := check(hostGPIOGet(int32(pin)))
	return v == 1, err
}
