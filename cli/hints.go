package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/usage"
)

// Other names people type for a verb, suggested when they do.
var verbSynonyms = map[string][]string{
	"list":   {"ls", "get"},
	"remove": {"rm", "del"},
	"delete": {"rm", "del"},
	"show":   {"get", "describe", "info"},
	"create": {"new", "make"},
	"update": {"set", "edit"},
}

// hints makes the errors of the command tree say what to do next: an unknown verb suggests the
// close ones, and a missing argument (an empty shell variable) is named.
func hints(root *cobra.Command) {
	root.SuggestionsMinimumDistance = 2
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.SuggestionsMinimumDistance = 2
		if syn, ok := verbSynonyms[c.Name()]; ok {
			c.SuggestFor = append(c.SuggestFor, syn...)
		}
		if c.HasSubCommands() && c != root {
			c.Args = unknownVerb
			if c.RunE == nil {
				c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
			}
		} else if c.Args != nil {
			c.Args = nameMissingArg(c.Args)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// unknownVerb refuses a noun's unknown verb, naming the close ones.
func unknownVerb(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := unique(cmd.SuggestionsFor(args[0])); len(s) > 0 {
		msg += "; did you mean " + orList(s) + "?"
	} else {
		msg += "; its verbs: " + strings.Join(verbs(cmd), ", ")
	}
	return usage.Errorf("%s", msg)
}

func verbs(cmd *cobra.Command) []string {
	var vs []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			vs = append(vs, c.Name())
		}
	}
	return vs
}

// nameMissingArg replaces cobra's "accepts 1 arg(s), received 0" by what is missing.
func nameMissingArg(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		err := check(cmd, args)
		if err == nil || len(args) > 0 || !strings.HasPrefix(err.Error(), "accepts ") {
			return err
		}
		name := "an argument"
		if f := strings.Fields(cmd.Use); len(f) > 1 && !strings.HasPrefix(f[1], "-") && !strings.HasPrefix(f[1], "[") {
			name = f[1]
		}
		return usage.Errorf("missing %s: '%s %s' (was it an empty shell variable?)", name, cmd.CommandPath(), name)
	}
}

// apiField matches the API's names of request fields, which mean nothing on the command line.
var apiField = regexp.MustCompile(`\b(image_ids|device_group_id)\[?(\d*)\]?`)

// cliNames says what a request field of the API is called on the command line.
func cliNames(msg string) string {
	return apiField.ReplaceAllStringFunc(msg, func(m string) string {
		sub := apiField.FindStringSubmatch(m)
		flag := map[string]string{"image_ids": "--images", "device_group_id": "--device-group"}[sub[1]]
		if sub[2] == "" {
			return flag
		}
		n, _ := strconv.Atoi(sub[2])
		return fmt.Sprintf("%s (value %d)", flag, n+1)
	})
}

// findGroup is [client.Client.Group] with a not-found error that names the close groups and
// the Product/Group form.
func findGroup(ctx context.Context, c *client.Client, ref string) (api.DeviceGroup, error) {
	g, err := c.Group(ctx, ref)
	if !client.IsNotFound(err) {
		return g, err
	}
	if product, _, ok := strings.Cut(ref, "/"); ok && strings.HasPrefix(err.Error(), "product ") {
		_, err = findProduct(ctx, c, product) // the product is what is missing
		return g, err
	}
	gs, lerr := c.Groups(ctx, "", "")
	if lerr != nil {
		return g, err
	}
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.FullName()
	}
	msg := fmt.Sprintf("device group %q not found", ref)
	if close := closeNames(ref, names); len(close) > 0 {
		msg += "; did you mean " + orList(close) + "?"
	}
	if !strings.Contains(ref, "/") && !ident.IsID(ref) {
		msg += " Name a group as Product/Group, such as Toaster/Production, or by its ID"
	}
	return g, &client.Error{Status: http.StatusNotFound, Message: msg + " ('rampart device-group list' lists them)"}
}

// findProduct is [client.Client.Product] with a not-found error that names the close products.
func findProduct(ctx context.Context, c *client.Client, ref string) (api.Product, error) {
	p, err := c.Product(ctx, ref)
	if !client.IsNotFound(err) {
		return p, err
	}
	ps, lerr := c.Products(ctx)
	if lerr != nil {
		return p, err
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	msg := fmt.Sprintf("product %q not found", ref)
	if close := closeNames(ref, names); len(close) > 0 {
		msg += "; did you mean " + orList(close) + "?"
	}
	return p, &client.Error{Status: http.StatusNotFound, Message: msg + " ('rampart product list' lists them)"}
}

// closeNames are the names within an edit distance of 2 of ref, or equal to it but for case,
// or whose last part (after /) is ref: at most 3, closest first.
func closeNames(ref string, names []string) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	lref := strings.ToLower(ref)
	for _, n := range names {
		ln := strings.ToLower(n)
		_, last, _ := strings.Cut(ln, "/")
		d := min(distance(lref, ln), distance(lref, last)+1)
		if d <= 2 || strings.HasPrefix(ln, lref) || last != "" && strings.HasPrefix(last, lref) {
			cs = append(cs, cand{n, d})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.d - b.d })
	var out []string
	for _, c := range cs[:min(3, len(cs))] {
		out = append(out, c.name)
	}
	return out
}

// distance is the Levenshtein distance of a and b, by bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// alreadyClaimed matches the service's answer to a claim of a device someone holds.
var alreadyClaimed = regexp.MustCompile(`device ([0-9a-f]{64}): already claimed`)

// claimHint says why a claim was refused: the device is revoked, or is already in this tenant,
// or belongs to another (which is not said by the service, and so cannot be said here).
func claimHint(ctx context.Context, c *client.Client, err error) error {
	var ce *client.Error
	m := alreadyClaimed.FindStringSubmatch(err.Error())
	if !errors.As(err, &ce) || m == nil {
		return err
	}
	d, derr := c.Device(ctx, m[1])
	switch {
	case derr != nil:
		return fmt.Errorf("%w: another tenant holds it; its owner must release it ('rampart device release') before it can be claimed", err)
	case d.RevokedAt != nil:
		return fmt.Errorf("device %s was revoked on %s, for good: a revoked device is never claimed again, nor gets a certificate or an update (nothing was claimed)",
			d.ID, d.RevokedAt.Format(time.DateOnly))
	}
	return fmt.Errorf("device %s is in your tenant already (claimed %s, group %s); nothing was claimed: leave it out",
		d.ID, d.ClaimedAt.Format(time.DateOnly), groupName(d))
}

// oneLineSuggestions puts cobra's "Did you mean this?" list of an unknown command on the
// error's one line.
func oneLineSuggestions(msg string) string {
	head, list, ok := strings.Cut(msg, "\n\nDid you mean this?\n")
	if !ok {
		return msg
	}
	return head + "; did you mean " + orList(strings.Fields(list)) + "?"
}

// unique keeps the first of each string, in order.
func unique(ss []string) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// productHint turns the service's "product not found" about ref into one that names the close
// products; any other error is returned as it is.
func productHint(ctx context.Context, c *client.Client, ref string, err error) error {
	if ref == "" || !client.IsNotFound(err) || !strings.HasPrefix(err.Error(), "product ") {
		return err
	}
	if _, perr := findProduct(ctx, c, ref); perr != nil {
		return perr
	}
	return err
}
