package console

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
)

// sortBy sorts items by the request's ?sort= key ("name", or "-name" for descending) with the
// key's comparison; an unknown or missing key keeps the order the API gave.
func sortBy[T any](r *http.Request, items []T, keys map[string]func(a, b T) int) {
	key := r.URL.Query().Get("sort")
	desc := strings.HasPrefix(key, "-")
	cmpFn, ok := keys[strings.TrimPrefix(key, "-")]
	if !ok {
		return
	}
	slices.SortStableFunc(items, func(a, b T) int {
		if desc {
			return cmpFn(b, a)
		}
		return cmpFn(a, b)
	})
}

// by compares by one field.
func by[T any, K cmp.Ordered](f func(T) K) func(a, b T) int {
	return func(a, b T) int { return cmp.Compare(f(a), f(b)) }
}
