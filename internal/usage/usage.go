// Package usage tells a command line's usage errors (a wrong flag, argument or value: exit code
// 2, "see --help") from failures of the command itself (exit code 1). Both of Rampart's command
// lines, rampart and rampart-device, use it, so that they draw the line in the same place.
package usage

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a usage error: what the user typed cannot work.
type Error struct{ Err error }

func (u *Error) Error() string { return u.Err.Error() + " (see --help)" }

// Unwrap returns the error Error wraps.
func (u *Error) Unwrap() error { return u.Err }

// Errorf formats a usage error.
func Errorf(format string, args ...any) error { return &Error{fmt.Errorf(format, args...)} }

// Is reports whether err is a usage error: an [Error], or one of the errors cobra returns for
// an unknown command or flag, a missing flag, or a wrong number of arguments (cobra gives them
// no type of their own).
func Is(err error) bool {
	var ue *Error
	if errors.As(err, &ue) {
		return true
	}
	s := err.Error()
	for _, prefix := range []string{"unknown command", "accepts ", "requires at least", "unknown flag", "required flag"} {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
