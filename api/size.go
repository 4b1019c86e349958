package api

import (
	"fmt"
	"strconv"
	"strings"
)

var sizeUnits = []struct {
	name string
	n    int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1},
}

// ParseSize reads a size in bytes: a whole number with an optional unit, B, KB, MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), as in "10GiB"; "unlimited" is 0.
func ParseSize(s string) (int64, error) {
	if strings.EqualFold(s, "unlimited") {
		return 0, nil
	}
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(s, u.name); ok {
			num, mult = strings.TrimSpace(n), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || len(s) > 24 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: want a whole number and a unit, such as 10GiB or 500MB, or unlimited", clipText(s))
	}
	return n * mult, nil
}

// FormatSize writes a size in bytes in the largest binary unit it fills, one decimal.
func FormatSize(n int64) string {
	for _, u := range sizeUnits[:4] {
		if n >= u.n {
			return strconv.FormatFloat(float64(n)/float64(u.n), 'f', 1, 64) + " " + u.name
		}
	}
	return fmt.Sprintf("%d B", n)
}
