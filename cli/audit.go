package cli

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/usage"
)

func (e *env) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify your tenant's audit log (or, with --operator, the operator's)"}
	cmd.AddCommand(e.addOutput(e.auditListCmd()), e.addOutput(e.auditHeadCmd()), e.addOutput(e.auditCheckpointsCmd()),
		e.auditKeyCmd(), e.auditVerifyCmd())
	return cmd
}

func (e *env) auditListCmd() *cobra.Command {
	var operator bool
	list := &cobra.Command{
		Use:   "list [--operator]",
		Short: "List every change made in your tenant, oldest first",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			var all []api.AuditEntry
			err := eachAuditPage(ctx, c, operator, func(es []api.AuditEntry) error {
				all = append(all, es...)
				return nil
			})
			if err != nil {
				return err
			}
			return e.print(nonNil(all), func(w io.Writer) {
				fmt.Fprintln(w, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tSOURCE\tDETAIL")
				for _, a := range all {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Seq, a.Time.Format(time.RFC3339), a.Actor, a.Action, a.Target, a.Source, a.Detail)
				}
			})
		}),
	}
	operatorFlag(list, &operator)
	return list
}

// operatorFlag adds --operator, which picks the operator's audit chain.
func operatorFlag(cmd *cobra.Command, operator *bool) {
	cmd.Flags().BoolVar(operator, "operator", false, "the operator's audit log (tenant creation, runtime releases); needs the operator's token")
}

func (e *env) auditHeadCmd() *cobra.Command {
	var operator bool
	head := &cobra.Command{
		Use:   "head [--operator]",
		Short: "Print the last entry's number and hash as SEQ:HASH; keep it, and later check with 'audit verify --head'",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			h, err := c.AuditHead(ctx, operator)
			if err != nil {
				return err
			}
			return e.print(h, func(w io.Writer) { fmt.Fprintf(w, "%d:%s\n", h.Seq, h.Hash) })
		}),
	}
	operatorFlag(head, &operator)
	return head
}

func (e *env) auditCheckpointsCmd() *cobra.Command {
	var operator bool
	checkpoints := &cobra.Command{
		Use:   "checkpoints [--operator]",
		Short: "List the service's signed checkpoints of the audit log, oldest first",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			cps, err := allCheckpoints(ctx, c, operator)
			if err != nil {
				return err
			}
			return e.print(cps, func(w io.Writer) {
				fmt.Fprintln(w, "SEQ\tSIGNED\tHASH")
				for _, cp := range cps {
					fmt.Fprintf(w, "%d\t%s\t%s\n", cp.Seq, cp.SignedAt.Format(time.RFC3339), cp.Hash)
				}
			})
		}),
	}
	operatorFlag(checkpoints, &operator)
	return checkpoints
}

func (e *env) auditKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint-key",
		Short: "Print the public key that signs audit checkpoints (PEM); save it and pin it with 'audit verify --checkpoint-key FILE'",
		Args:  cobra.NoArgs,
		RunE: e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
			pemText, err := c.CheckpointKey(ctx)
			if err != nil {
				return err
			}
			_, err = io.WriteString(e.stdout, pemText)
			return err
		}),
	}
}

func (e *env) auditVerifyCmd() *cobra.Command {
	var operator bool
	var headFlag, keyFile string
	var saved *api.AuditHead
	run := e.withClient(func(ctx context.Context, c *client.Client, _ []string) error {
		pub, err := e.checkpointKey(ctx, c, keyFile)
		if err != nil {
			return err
		}
		return e.verifyAudit(ctx, c, operator, saved, pub)
	})
	verify := &cobra.Command{
		Use:   "verify [--head SEQ:HASH] [--checkpoint-key FILE] [--operator]",
		Short: "Check the audit log: its hash chain, the service's signed checkpoints, and a head you saved",
		Long: `Check the audit log on this machine, without trusting the service's word:
- the hash chain: no entry edited, removed or reordered;
- every checkpoint the service signed (with a key the database alone cannot use) verifies with
  the checkpoint key, and its entry is still in the chain: a cut or rewritten tail shows;
- with --head, a head saved earlier ('rampart audit head') is still in the chain at its number.
Pin the checkpoint key: save 'rampart audit checkpoint-key' to a file once, then give it with
--checkpoint-key; without it the key is fetched from the service, which proves less.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if saved, err = parseHead(headFlag); err != nil {
				return err
			}
			return run(cmd, args)
		},
	}
	operatorFlag(verify, &operator)
	verify.Flags().StringVar(&headFlag, "head", "", "a head saved earlier with 'rampart audit head': SEQ:HASH, or HASH")
	verify.Flags().StringVar(&keyFile, "checkpoint-key", "", "the pinned checkpoint public key (PEM), from 'rampart audit checkpoint-key'")
	return verify
}

var headPattern = regexp.MustCompile(`^(?:([0-9]{1,18}):)?([0-9a-f]{64})$`)

// parseHead reads --head: SEQ:HASH or HASH (then any number).
func parseHead(s string) (*api.AuditHead, error) {
	if s == "" {
		return nil, nil
	}
	m := headPattern.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return nil, usage.Errorf("invalid --head %q: want SEQ:HASH as 'rampart audit head' prints it", clipArg(s))
	}
	h := &api.AuditHead{Seq: -1, Hash: m[2]}
	if m[1] != "" {
		h.Seq, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return h, nil
}

func clipArg(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// checkpointKey reads the pinned key, or fetches the service's and says that it is not pinned.
func (e *env) checkpointKey(ctx context.Context, c *client.Client, file string) (*ecdsa.PublicKey, error) {
	if file != "" {
		b, err := readFileLimited(file, 64<<10)
		if err != nil {
			return nil, fmt.Errorf("read checkpoint key: %w", err)
		}
		return api.ParseCheckpointKey(b)
	}
	text, err := c.CheckpointKey(ctx)
	if err != nil {
		return nil, err
	}
	e.infof("note: the checkpoint key is not pinned, so checkpoints are checked with the key the service gives now; pin it: rampart audit checkpoint-key > FILE, then verify with --checkpoint-key FILE")
	return api.ParseCheckpointKey([]byte(text))
}

// verifyAudit checks the chain, its checkpoints and a saved head.
func (e *env) verifyAudit(ctx context.Context, c *client.Client, operator bool, saved *api.AuditHead, pub *ecdsa.PublicKey) error {
	cps, err := allCheckpoints(ctx, c, operator)
	if err != nil {
		return err
	}
	for _, cp := range cps {
		if err := cp.Verify(pub); err != nil {
			return err
		}
	}
	check := &api.ChainCheck{Head: saved, Checkpoints: cps}
	head, seq := api.GenesisHash, int64(0)
	var first time.Time
	err = eachAuditPage(ctx, c, operator, func(es []api.AuditEntry) error {
		if len(es) > 0 && seq == 0 {
			first = es[0].Time
		}
		var err error
		if head, seq, err = api.VerifyChain(head, seq, es); err != nil {
			return err
		}
		return check.Entries(es)
	})
	if err != nil {
		return err
	}
	if err := check.Done(first, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "audit log intact: %d entries, head %s\n", seq, head)
	if len(cps) > 0 {
		last := cps[len(cps)-1]
		fmt.Fprintf(e.stdout, "checkpoints: %d signed by the checkpoint key, the newest at entry %d on %s\n",
			len(cps), last.Seq, last.SignedAt.Format(time.RFC3339))
	}
	return nil
}

func allCheckpoints(ctx context.Context, c *client.Client, operator bool) ([]api.AuditCheckpoint, error) {
	all := []api.AuditCheckpoint{}
	token := ""
	for {
		l, err := c.AuditCheckpoints(ctx, operator, token, api.MaxPageSize)
		if err != nil {
			return nil, err
		}
		all = append(all, l.Checkpoints...)
		if l.NextPageToken == "" {
			return all, nil
		}
		token = l.NextPageToken
	}
}

func eachAuditPage(ctx context.Context, c *client.Client, operator bool, fn func([]api.AuditEntry) error) error {
	token := ""
	for {
		l, err := c.AuditChain(ctx, operator, token, api.MaxPageSize)
		if err != nil {
			return err
		}
		if err := fn(l.Entries); err != nil {
			return err
		}
		if l.NextPageToken == "" {
			return nil
		}
		token = l.NextPageToken
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func deviceQuery(product string, group ident.GroupID, limit int, pageToken string) client.DeviceQuery {
	return client.DeviceQuery{Product: product, Group: group, Limit: limit, PageToken: pageToken}
}
