package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kinko-pay/kinko/internal/audit"
)

// auditListLimitDefault is how many entries kinko audit list prints unless
// --limit says otherwise.
const auditListLimitDefault = 50

// cliActor is who the audit log says acted when a command of this CLI changes
// data: the operator at the command line. The services the commands call
// record each change in the change's own transaction.
var cliActor = audit.Actor{Type: audit.ActorSystem, ID: "cli"}

// runAudit dispatches kinko audit list.
func runAudit(ctx context.Context, e env, args []string) error {
	return subcommand(ctx, e, "audit", args, map[string]func(context.Context, env, []string) error{
		"list": runAuditList,
	}, "list [--db DB] [--subject TYPE:ID] [--org ORG_ID] [--limit N] [--before SEQ | --after SEQ] [--json]")
}

// runAuditList prints one page of the audit log: by default the newest
// entries, newest first; with --after, the entries after a seq, oldest
// first. When the page is full it says on stderr how to get the next one.
func runAuditList(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "audit list")
	db := dbFlag(fs, e)
	subject := fs.String("subject", "", "only entries about this subject, TYPE:ID (e.g. staff_user:stf_…) or TYPE alone")
	org := fs.String("org", "", "only entries of this organization")
	limit := fs.Int("limit", auditListLimitDefault, fmt.Sprintf("entries to print, 1 to %d", audit.PageLimitMax))
	before := fs.Int64("before", 0, "newest first, starting below this seq (the previous page's last)")
	after := fs.Int64("after", 0, "oldest first, starting above this seq (0: from the first entry)")
	asJSON := fs.Bool("json", false, "print one JSON object per entry and line, hashes in hex")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > audit.PageLimitMax {
		return usageError("audit list: --limit must be between 1 and %d", audit.PageLimitMax)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if (set["before"] && set["after"]) || (set["before"] && *before < 1) || *after < 0 {
		return usageError("audit list: give at most one of --before SEQ (at least 1) and --after SEQ (at least 0)")
	}
	f := audit.Filter{OrgID: *org, AfterSeq: *after, BeforeSeq: *before, Newest: !set["after"], Limit: *limit}
	if *subject != "" {
		var ok bool
		f.SubjectType, f.SubjectID, ok = strings.Cut(*subject, ":")
		if f.SubjectType == "" || (ok && f.SubjectID == "") {
			return usageError("audit list: --subject must be TYPE:ID or TYPE, e.g. staff_user:stf_Ab12")
		}
	}
	st, _, err := openStore(ctx, *db)
	if err != nil {
		return fmt.Errorf("audit list: %w", err)
	}
	defer st.Close()
	entries, err := audit.NewService(st, nil).FindEntries(ctx, f)
	if err != nil {
		return describe(err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false) // data is printed byte for byte as stored and hashed
		for _, x := range entries {
			if err := enc.Encode(newAuditEntryJSON(x)); err != nil {
				return fmt.Errorf("audit list: %w", err)
			}
		}
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tACTION\tSUBJECT\tORG\tDATA")
		for _, x := range entries {
			fmt.Fprintf(tw, "%d\t%s\t%s:%s\t%s\t%s:%s\t%s\t%s\n", x.Seq, x.At.Format(time.RFC3339), x.Actor.Type, x.Actor.ID,
				x.Action, x.Subject.Type, x.Subject.ID, dashIfEmpty(x.OrgID), x.Data)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(entries) == *limit {
		last := entries[len(entries)-1].Seq
		if f.Newest {
			fmt.Fprintf(e.stderr, "older entries: kinko audit list --before %d\n", last)
		} else {
			fmt.Fprintf(e.stderr, "newer entries: kinko audit list --after %d\n", last)
		}
	}
	return nil
}

// auditEntryJSON is an entry as kinko audit list --json prints it. at is
// RFC 3339 with microseconds; at_unix_micros is the value hashed.
type auditEntryJSON struct {
	Seq          int64           `json:"seq"`
	At           string          `json:"at"`
	AtUnixMicros int64           `json:"at_unix_micros"`
	Actor        auditPartyJSON  `json:"actor"`
	Action       string          `json:"action"`
	Subject      auditPartyJSON  `json:"subject"`
	OrgID        string          `json:"org_id"`
	Data         json.RawMessage `json:"data"`
	PrevHash     string          `json:"prev_hash"`
	Hash         string          `json:"hash"`
}

type auditPartyJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func newAuditEntryJSON(x audit.Entry) auditEntryJSON {
	return auditEntryJSON{
		Seq: x.Seq, At: x.At.Format("2006-01-02T15:04:05.000000Z07:00"), AtUnixMicros: x.At.UnixMicro(),
		Actor: auditPartyJSON{string(x.Actor.Type), x.Actor.ID}, Action: x.Action,
		Subject: auditPartyJSON{x.Subject.Type, x.Subject.ID}, OrgID: x.OrgID, Data: x.Data,
		PrevHash: hex.EncodeToString(x.PrevHash), Hash: hex.EncodeToString(x.Hash),
	}
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// auditVerifyLines returns what kinko verify reports of the audit log, one
// problem a line; none when the chain is intact.
func auditVerifyLines(r audit.Report) []string {
	var out []string
	if r.Broken != nil {
		out = append(out, "audit log: broken link at "+r.Broken.String())
		if more := r.BrokenLinks - 1; more > 0 {
			out = append(out, fmt.Sprintf("audit log: %d more broken links after the first", more))
		}
	}
	for _, g := range r.Gaps {
		out = append(out, "audit log: "+g.String())
	}
	var listed int64
	for _, g := range r.Gaps {
		listed += g.ToSeq - g.FromSeq + 1
	}
	if more := r.MissingEntries - listed; more > 0 {
		out = append(out, fmt.Sprintf("audit log: %d more seqs are missing", more))
	}
	return out
}
