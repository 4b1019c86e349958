package usage

import (
	"errors"
	"fmt"
	"testing"
)

func TestIs(t *testing.T) {
	for err, want := range map[error]bool{
		Errorf("invalid --limit %d", 0):                           true,
		fmt.Errorf("run: %w", Errorf("x")):                        true,
		errors.New(`unknown command "frob" for "rampart"`):        true,
		errors.New("accepts 1 arg(s), received 2"):                true,
		errors.New(`required flag(s) "state" not set`):            true,
		errors.New("unknown flag: --nope"):                        true,
		errors.New("requires at least 1 arg(s), only received 0"): true,
		errors.New("the service answered 500: internal error"):    false,
	} {
		if got := Is(err); got != want {
			t.Errorf("Is(%v) = %v, want %v", err, got, want)
		}
	}
	if got := Errorf("bad").Error(); got != "bad (see --help)" {
		t.Errorf("Error() = %q", got)
	}
}
