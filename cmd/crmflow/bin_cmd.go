package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmflow/crmflow/api"
	"github.com/crmflow/crmflow/crm"
)

// The recycle bin, erasure and audit commands talk to the API (CRMFLOW_URL, CRMFLOW_TOKEN) like the
// other ops commands: bin list|restore, erase contacts, audit. Their results go to stdout, the
// summaries, next-page commands and failures to stderr.

// Limits of the API that these commands check before calling it.
const (
	// binPageMax is the largest page of GET /crm/v3/objects/{type} (its maxPageLimit).
	binPageMax = 100
	// restoreBatchMax is the most ids one POST .../batch/restore takes (the API's maxBatchInputs).
	restoreBatchMax = 100
	// auditPageMax is the largest page of GET /crm/v3/audit (its maxAuditLimit).
	auditPageMax = 1000
	// auditIDsShown is how many record ids an audit row shows before "+N more".
	auditIDsShown = 5
)

// recordIDRE is what a record id looks like (the API's numericID).
var recordIDRE = regexp.MustCompile(`^[0-9]{1,20}$`)

// apiPage is one page of a list endpoint of the API.
type apiPage[T any] struct {
	Results []T `json:"results"`
	Paging  *struct {
		Next struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging"`
}

// next is the cursor of the next page, "" on the last one.
func (p apiPage[T]) next() string {
	if p.Paging == nil {
		return ""
	}
	return p.Paging.Next.After
}

// binEntryView is a record of the recycle bin as the API shows it.
type binEntryView struct {
	ID                string            `json:"id"`
	Properties        map[string]string `json:"properties"`
	ArchivedAt        string            `json:"archivedAt"`
	ArchivedBy        string            `json:"archivedBy"`
	ArchivedVia       string            `json:"archivedVia"`
	ArchivedRef       string            `json:"archivedRef"`
	ArchivedActor     string            `json:"archivedActor"`
	ArchivedOperation string            `json:"archivedOperation"`
}

// binNameProperties are the properties a bin row's NAME is made of, by object type: the first
// name and last name, else the first of the others that is set.
var binNameProperties = []string{"firstname", "lastname", "name", "dealname", "subject", "hs_call_title", "email", "domain"}

// recordName is the name a person knows a record by, as the console shows it: firstname and
// lastname, else its name, deal name, subject, call title, email or domain; "-" for none.
func recordName(p map[string]string) string {
	if n := strings.TrimSpace(p["firstname"] + " " + p["lastname"]); n != "" {
		return oneLine(n)
	}
	for _, k := range binNameProperties[2:] {
		if v := strings.TrimSpace(p[k]); v != "" {
			return oneLine(v)
		}
	}
	return "-"
}

// typeRequired is the usage error of a command whose --type is missing.
func typeRequired(what string) error {
	std := make([]string, len(crm.StandardObjectTypes))
	for i, o := range crm.StandardObjectTypes {
		std[i] = string(o)
	}
	return usageErrorf("--type is required: the object type %s, one of %s, or a custom object type (crmflow admin schema export lists a tenant's)",
		what, strings.Join(std, ", "))
}

// shellWord quotes s for a POSIX shell when it needs it, for the commands printed to run next.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// commandLine is a crmflow command line to print, its arguments quoted for a shell.
func commandLine(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellWord(a)
	}
	return "crmflow " + strings.Join(q, " ")
}

// newBinCmd is "crmflow bin list|restore".
func newBinCmd(a *app) *cobra.Command {
	return group("bin", "List the recycle bin and restore records from it through the API (CRMFLOW_URL, CRMFLOW_TOKEN)",
		a.newBinListCmd(), a.newBinRestoreCmd())
}

func (a *app) newBinListCmd() *cobra.Command {
	var (
		o                     opsConfig
		typ, after, operation string
		by, via, since, until string
		limit                 int
	)
	cmd := &cobra.Command{
		Use:   "list --type TYPE [--limit N] [--after CURSOR] [--operation OP] [--by WHO] [--via HOW] [--since WHEN] [--until WHEN]",
		Short: "List the records of a type in the recycle bin: who deleted each, when, how, by which operation",
		Long: `List one page of the recycle bin of --type (GET /crm/v3/objects/{type}?archived=true): each record's
id, name, when it was deleted, by whom (for a workflow: "USER via workflow NAME (revision R)"), how
(api, bulk, list or workflow, with the job, list or workflow it names) and the operation that
deleted it, which "crmflow undo OPERATION" restores as a whole.

--limit records are read (1 to 100); when there are more, the command to print the next page is
printed on stderr. --operation pages through the records of one operation still in the bin
(the API's archivedOperation); "crmflow operations list" counts them. --by (a part of who deleted,
any case; for a workflow its name), --via (api, bulk, list or workflow), --since and --until (an
RFC 3339 time or a date; --since includes it, --until does not) filter the whole bin: a filtered
page reads at most 2,000 records of the bin, so it may show fewer than --limit and still have a
next page.

A record stays restorable for the retention period of the deployment (90 days by default). The API
does not say when that period ends for each record, so the list does not either: a restore past it
is refused with the date it ended. The token, of a user with the read permission, comes from the
environment variable CRMFLOW_TOKEN; the API is at --url (CRMFLOW_URL).`,
		Example: `  crmflow bin list --type contacts
  crmflow bin list --type contacts --limit 20 --after 1042
  crmflow bin list --type deals --operation job-17
  crmflow bin list --type contacts --via workflow --by stale-leads --since 2026-03-01`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			typ = strings.TrimSpace(typ)
			switch {
			case typ == "":
				return typeRequired("whose recycle bin to list")
			case limit < 1 || limit > binPageMax:
				return usageErrorf("--limit %d is out of range: use 1 to %d", limit, binPageMax)
			case cmd.Flags().Changed("operation") && strings.TrimSpace(operation) == "":
				return usageErrorf("--operation is empty: give an operation's id (a record's OPERATION, or from crmflow operations list), or leave it out")
			}
			operation = strings.TrimSpace(operation)
			if err := checkBinFilters(strings.TrimSpace(via), strings.TrimSpace(since), strings.TrimSpace(until)); err != nil {
				return err
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			q := url.Values{"archived": {"true"}, "limit": {strconv.Itoa(limit)}, "properties": {strings.Join(binNameProperties, ",")}}
			if after != "" {
				q.Set("after", after)
			}
			filters := map[string]string{"archivedOperation": operation, "archivedBy": strings.TrimSpace(by),
				"archivedVia": strings.TrimSpace(via), "archivedAfter": strings.TrimSpace(since), "archivedBefore": strings.TrimSpace(until)}
			for param, v := range filters {
				if v != "" {
					q.Set(param, v)
				}
			}
			var page apiPage[binEntryView]
			if err := c.do(cmd.Context(), http.MethodGet, "/crm/v3/objects/"+url.PathEscape(typ)+"?"+q.Encode(), nil, &page); err != nil {
				return typeHint(err, typ)
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tDELETED\tBY\tHOW\tOPERATION")
			shown := 0
			for _, r := range page.Results {
				shown++
				by := r.ArchivedActor
				if by == "" {
					by = r.ArchivedBy
				}
				how := strings.TrimSpace(r.ArchivedVia + " " + r.ArchivedRef)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, recordName(r.Properties), dash(r.ArchivedAt), dash(oneLine(by)),
					dash(oneLine(how)), dash(r.ArchivedOperation))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			switch {
			case operation == "" && q.Get("archivedBy")+q.Get("archivedVia")+q.Get("archivedAfter")+q.Get("archivedBefore") == "":
				fmt.Fprintf(a.stderr, "%s in the recycle bin on this page\n", countOf(int64(shown), typ))
			case operation == "":
				fmt.Fprintf(a.stderr, "%s in the recycle bin on this page %s the filters\n", countOf(int64(shown), typ), verbFor(int64(shown), "matches", "match"))
			default:
				fmt.Fprintf(a.stderr, "%s in the recycle bin on this page, deleted by operation %s\n", countOf(int64(shown), typ), operation)
			}
			if next := page.next(); next != "" {
				args := []string{"bin", "list", "--type", typ, "--limit", strconv.Itoa(limit)}
				for _, f := range []struct{ flag, param string }{{"--operation", "archivedOperation"}, {"--by", "archivedBy"},
					{"--via", "archivedVia"}, {"--since", "archivedAfter"}, {"--until", "archivedBefore"}} {
					if v := q.Get(f.param); v != "" {
						args = append(args, f.flag, v)
					}
				}
				fmt.Fprintf(a.stderr, "next page: %s\n", commandLine(append(args, "--after", next)...))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	fs.StringVar(&typ, "type", "", "object type of the bin: contacts, companies, deals, tickets, calls or a custom object (required)")
	fs.IntVar(&limit, "limit", binPageMax, fmt.Sprintf("how many records of the bin to read, 1 to %d", binPageMax))
	fs.StringVar(&after, "after", "", "go on from this cursor (printed after a page)")
	fs.StringVar(&operation, "operation", "", "show only the records this operation deleted that are still in the bin")
	fs.StringVar(&by, "by", "", "show only the records deleted by someone whose email (or workflow) contains this, any case")
	fs.StringVar(&via, "via", "", "show only the records deleted this way: api, bulk, list or workflow")
	fs.StringVar(&since, "since", "", "show only the records deleted at or after this time (RFC 3339) or date (YYYY-MM-DD, UTC)")
	fs.StringVar(&until, "until", "", "show only the records deleted before this time (RFC 3339) or date (YYYY-MM-DD, UTC)")
	return cmd
}

// restoreAnswer is the API's answer to POST .../batch/restore: the records restored and, with a
// 207, an error for each conflict and one for the ids that are not in the bin.
type restoreAnswer struct {
	Results []struct {
		ID string `json:"id"`
	} `json:"results"`
	Errors []struct {
		Category string              `json:"category"`
		Message  string              `json:"message"`
		Context  map[string][]string `json:"context"`
	} `json:"errors"`
}

// restoreFailureView is one id a restore did not bring back: why, and the live record in the way.
type restoreFailureView struct {
	reason   string
	blocking string
}

// failures returns the ids of typ the answer did not restore, with why.
func (ans restoreAnswer) failures(typ string) map[string]restoreFailureView {
	out := map[string]restoreFailureView{}
	for _, e := range ans.Errors {
		ids := e.Context["id"]
		if len(ids) > 1 || (len(ids) == 1 && e.Category == "OBJECT_NOT_FOUND") {
			for _, id := range ids {
				out[id] = restoreFailureView{reason: "not in the recycle bin (never deleted, restored already, or purged after the retention period)"}
			}
			continue
		}
		if len(ids) == 0 {
			continue
		}
		id := ids[0]
		// The message starts "could not restore TYPE ID: ", which the line printed says already.
		reason := strings.TrimPrefix(oneLine(e.Message), "could not restore "+typ+" "+id+": ")
		f := restoreFailureView{reason: reason}
		if b := e.Context["blockingId"]; len(b) > 0 {
			f.blocking = b[0]
		}
		out[id] = f
	}
	return out
}

// parseRecordIDs checks the ids given to a command: at least one, each a record id, none twice.
func parseRecordIDs(ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, usageErrorf("give the ids of the records to restore: as arguments (crmflow bin restore --type contacts 101 102) or --ids 101,102")
	}
	seen := map[string]bool{}
	var dups []string
	out := make([]string, 0, len(ids))
	for _, raw := range ids {
		id := strings.TrimSpace(raw)
		switch {
		case id == "":
			return nil, usageErrorf("an id is empty (two commas in a row in --ids?): give each record's id once")
		case !recordIDRE.MatchString(id):
			return nil, usageErrorf("id %q is not a record id: record ids are numbers, as the ID column of crmflow bin list shows them", raw)
		case seen[id]:
			if !slices.Contains(dups, id) {
				dups = append(dups, id)
			}
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	if len(dups) > 0 {
		return nil, usageErrorf("%s %s given more than once: give each record's id once", plural(len(dups), "id"), strings.Join(dups, ", "))
	}
	return out, nil
}

func (a *app) newBinRestoreCmd() *cobra.Command {
	var (
		o      opsConfig
		typ    string
		idList []string
	)
	cmd := &cobra.Command{
		Use:   "restore --type TYPE (ID... | --ids ID,...)",
		Short: "Restore records of a type from the recycle bin, saying which could not come back and why",
		Long: fmt.Sprintf(`Restore records of --type from the recycle bin (POST /crm/v3/objects/{type}/batch/restore), in
batches of at most %d. Each record is restored or not on its own: the id of each one restored is
printed on stdout; each one not restored is printed on stderr with the reason, and for a conflict
the id of the live record in the way: a contact whose email now belongs to a live contact, or a
record whose unique value now belongs to a live record, stays in the bin until that one is changed
or deleted. An id that is not in the bin (never deleted, restored already, purged) is reported too.
The exit code is 1 when any record was not restored, else 0.

The ids come as arguments or with --ids (comma-separated), not both; each is a record id, given
once. To restore everything one operation deleted, use "crmflow undo OPERATION". The token, of a
user with the restore permission, comes from the environment variable CRMFLOW_TOKEN; the API is at
--url (CRMFLOW_URL).`, restoreBatchMax),
		Example: `  crmflow bin restore --type contacts 101 102 103
  crmflow bin restore --type companies --ids 7,8,9
  crmflow bin list --type contacts --operation job-17   # then: crmflow undo job-17`,
		RunE: func(cmd *cobra.Command, args []string) error {
			typ = strings.TrimSpace(typ)
			if typ == "" {
				return typeRequired("of the records to restore")
			}
			if len(args) > 0 && cmd.Flags().Changed("ids") {
				return usageErrorf("give the ids as arguments or with --ids, not both")
			}
			raw := args
			if cmd.Flags().Changed("ids") {
				raw = idList
				if len(raw) == 0 {
					return usageErrorf("--ids is empty: give the ids to restore, comma-separated")
				}
			}
			ids, err := parseRecordIDs(raw)
			if err != nil {
				return err
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			return a.restore(cmd.Context(), c, typ, ids)
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	fs.StringVar(&typ, "type", "", "object type of the records: contacts, companies, deals, tickets, calls or a custom object (required)")
	fs.StringSliceVar(&idList, "ids", nil, "the ids of the records to restore, comma-separated (or give them as arguments)")
	return cmd
}

// restore restores ids of typ in batches, printing each one restored on stdout and each one not
// restored on stderr; it returns an exit error of code 1 when one was not restored.
func (a *app) restore(ctx context.Context, c *apiClient, typ string, ids []string) error {
	path := "/crm/v3/objects/" + url.PathEscape(typ) + "/batch/restore"
	restored, failed := 0, 0
	for start := 0; start < len(ids); start += restoreBatchMax {
		batch := ids[start:min(start+restoreBatchMax, len(ids))]
		inputs := make([]map[string]string, len(batch))
		for i, id := range batch {
			inputs[i] = map[string]string{"id": id}
		}
		var ans restoreAnswer
		if err := c.do(ctx, http.MethodPost, path, map[string]any{"inputs": inputs}, &ans); err != nil {
			if start == 0 {
				return typeHint(err, typ)
			}
			return fmt.Errorf("the restore stopped at the batch starting with id %s: %d restored (printed above), %d not restored "+
				"(listed above), and the %d ids from %s on may not have been restored: run the command again for them\n%w",
				batch[0], restored, failed, len(ids)-start, batch[0], err)
		}
		done := map[string]bool{}
		for _, r := range ans.Results {
			done[r.ID] = true
		}
		why := ans.failures(typ)
		for _, id := range batch {
			if done[id] {
				restored++
				if _, err := fmt.Fprintln(a.stdout, id); err != nil {
					return err
				}
				continue
			}
			failed++
			f, ok := why[id]
			if !ok {
				f.reason = "the API did not say why"
			}
			line := fmt.Sprintf("not restored: %s %s: %s", typ, id, f.reason)
			if f.blocking != "" {
				line += fmt.Sprintf("; blocking record: %s %s", typ, f.blocking)
			}
			fmt.Fprintln(a.stderr, line)
		}
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d %s restored, %d not restored (listed above)", restored, len(ids), typ, failed)}
	}
	fmt.Fprintf(a.stderr, "%d of %d %s restored\n", restored, len(ids), typ)
	return nil
}

// eraseConsequences is what a permanent delete does, for the refusals of an unconfirmed one.
const eraseConsequences = "erasing is permanent, for privacy law: the contact (with --email, every contact with that email), " +
	"live or in the recycle bin, is deleted for good; it does not go to the recycle bin and cannot be restored; its calls, " +
	"associations, list memberships and workflow history go with it; its email addresses are blocklisted; and a confirmation " +
	"email goes to the user of the token"

func newEraseCmd(a *app) *cobra.Command {
	var (
		o              opsConfig
		email, confirm string
	)
	cmd := &cobra.Command{
		Use:   "erase contacts (ID | --email EMAIL) --confirm VALUE",
		Short: "Permanently delete a contact for privacy law: no recycle bin, no restore, its emails blocklisted",
		Long: `Erase a contact for good, as privacy law requires (POST /crm/v3/objects/contacts/gdpr-delete): by its
id, or with --email every contact, live or in the recycle bin, whose primary or additional email it
is. There is no recycle bin and no restore: the record goes with every call associated with it
(including calls also associated with other records, which lose them), its associations, list
memberships and workflow history; its email addresses are blocklisted; the audit trail records the
erasure by id (crmflow audit --action permanent_delete); and a confirmation email goes to the user
of the token. An email that belongs to no contact is blocklisted all the same. An id that is no
contact, live or in the bin, is an error, and nothing changes.

--confirm must repeat the id or the email exactly: without it, or with another value, nothing is
erased. Only contacts can be erased; delete other records restorably with "crmflow delete". The
token, of a user with the permanent_delete permission, comes from the environment variable
CRMFLOW_TOKEN; the API is at --url (CRMFLOW_URL).`,
		Example: `  crmflow erase contacts 1042 --confirm 1042
  crmflow erase contacts --email jane@example.com --confirm jane@example.com`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usageErrorf("%s needs the object type, contacts, then the contact's ID or --email EMAIL\nUsage: %s", cmd.CommandPath(), cmd.UseLine())
			case recordIDRE.MatchString(args[0]) || strings.Contains(args[0], "@"):
				return usageErrorf("name the object type first: crmflow erase contacts %s ...\nUsage: %s", args[0], cmd.UseLine())
			case args[0] != string(crm.Contacts):
				return usageErrorf("only contacts can be erased, not %q: permanent delete is for a person's data; delete other records "+
					"restorably with crmflow delete --type %s --ids ID --confirm 1", args[0], args[0])
			case len(args) > 2:
				return usageErrorf("%s erases one contact, got extra %q\nUsage: %s", cmd.CommandPath(), args[2:], cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			byEmail := cmd.Flags().Changed("email")
			var target string
			switch {
			case len(args) == 2 && byEmail:
				return usageErrorf("give the contact's ID or --email EMAIL, not both")
			case len(args) == 2:
				target = strings.TrimSpace(args[1])
				if strings.Contains(target, "@") {
					return usageErrorf("%q is an email, not an id: erase the contacts of an email with --email %s --confirm %s", target, target, target)
				}
				if !recordIDRE.MatchString(target) {
					return usageErrorf("%q is not a contact id: contact ids are numbers; to erase by email use --email EMAIL", args[1])
				}
			case byEmail:
				target = strings.TrimSpace(email)
				if at := strings.Index(target, "@"); at <= 0 || at == len(target)-1 || strings.ContainsAny(target, " \t\n") {
					return usageErrorf("--email %q is not an email address: give the contact's email, e.g. jane@example.com", email)
				}
			default:
				return usageErrorf("give the contact to erase: its ID (crmflow erase contacts 1042 --confirm 1042) or --email EMAIL")
			}
			if !cmd.Flags().Changed("confirm") {
				return usageErrorf("--confirm is required: %s. If that is what you want, repeat %s exactly: --confirm %s",
					eraseConsequences, target, shellWord(target))
			}
			if confirm != target {
				return usageErrorf("--confirm %q does not repeat %q exactly, so nothing was erased: %s. To erase it, give --confirm %s",
					confirm, target, eraseConsequences, shellWord(target))
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			body := map[string]string{"objectId": target}
			if byEmail {
				body["idProperty"] = "email"
			}
			header, err := c.doHeader(cmd.Context(), http.MethodPost, "/crm/v3/objects/contacts/gdpr-delete", body, nil)
			if err != nil {
				var ae *apiError
				if !byEmail && errors.As(err, &ae) && ae.status == http.StatusNotFound {
					// The API's message says the same in the API's terms: this one names the flags.
					return fmt.Errorf("there is no contact %s, live or in the recycle bin, so nothing was erased "+
						"(erased or purged already, or another id?): find it with crmflow bin list --type contacts; to make sure "+
						"its email address stays blocklisted, erase by --email\n%s", target, ae.answer())
				}
				return err
			}
			calls := header.Get(api.HeaderCallsErased)
			if calls == "" {
				calls = "not said by the API"
			}
			if byEmail {
				_, err = fmt.Fprintf(a.stdout, "erased for good every contact with the email %s, live or in the recycle bin (none if no contact had it); "+
					"calls erased with them (shared ones included): %s; %s is blocklisted and a confirmation email goes to the user of the token\n",
					target, calls, target)
			} else {
				_, err = fmt.Fprintf(a.stdout, "erased contact %s for good, live or from the recycle bin; calls erased with it (shared ones "+
					"included): %s; its emails are blocklisted and a confirmation email goes to the user of the token\n", target, calls)
			}
			return err
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	fs.StringVar(&email, "email", "", "erase every contact with this primary or additional email, instead of one by ID")
	fs.StringVar(&confirm, "confirm", "", "repeat the ID or the --email exactly to confirm the permanent delete (required)")
	return cmd
}

// auditEntryView is one entry of the audit trail as the API shows it.
type auditEntryView struct {
	Action     string   `json:"action"`
	ObjectType string   `json:"objectType"`
	RecordIDs  []string `json:"recordIds"`
	Count      int      `json:"count"`
	By         string   `json:"by"`
	Via        string   `json:"via"`
	Ref        string   `json:"ref"`
	Actor      string   `json:"actor"`
	At         string   `json:"at"`
	User       string   `json:"user"`
	TokenID    string   `json:"tokenId"`
	Rule       string   `json:"rule"`
	Property   string   `json:"property"`
	// Changed, OptionsAdded and OptionsRemoved say what a property_update changed.
	Changed        []string `json:"changed"`
	OptionsAdded   *int     `json:"optionsAdded"`
	OptionsRemoved *int     `json:"optionsRemoved"`
	// CallsErased says, on a permanent_delete, how many calls associated with the contact were
	// erased with it.
	CallsErased *int `json:"callsErased"`
}

// what is the COUNT/IDS cell of an entry: its record ids (the first few, then "+N more"; for a
// permanent_delete that erased calls, "(3 calls erased)" after them), else its count, else
// the user, token, protection rule or property it concerns (with what a property_update changed:
// "property size changed label,options(+1-0)").
func (e auditEntryView) what() string {
	if n := len(e.RecordIDs); n > 0 {
		s := strings.Join(e.RecordIDs[:min(n, auditIDsShown)], ",")
		if n > auditIDsShown {
			s += fmt.Sprintf(" +%d more", n-auditIDsShown)
		}
		// An entry written before the counts existed has none: nothing is said rather than 0.
		if e.CallsErased != nil && *e.CallsErased > 0 {
			s += " (" + counted(*e.CallsErased, "call") + " erased)"
		}
		return s
	}
	if e.Count > 0 {
		return strconv.Itoa(e.Count)
	}
	var parts []string
	changed := strings.Join(e.Changed, ",")
	if e.OptionsAdded != nil && e.OptionsRemoved != nil {
		changed = strings.Replace(changed, "options", fmt.Sprintf("options(+%d-%d)", *e.OptionsAdded, *e.OptionsRemoved), 1)
	}
	for _, p := range [][2]string{{"user", e.User}, {"token", e.TokenID}, {"rule", e.Rule}, {"property", e.Property}, {"changed", changed}} {
		if p[1] != "" {
			parts = append(parts, p[0]+" "+p[1])
		}
	}
	return dash(strings.Join(parts, " "))
}

func newAuditCmd(a *app) *cobra.Command {
	var (
		o         opsConfig
		limit     int
		after, by string
		actions   []string
		newest    bool
	)
	cmd := &cobra.Command{
		Use:   "audit [--newest] [--limit N] [--after CURSOR] [--action ACTION] [--by EMAIL]",
		Short: "Show the audit trail: deletions, restores, permanent deletes, the admins' and the data model's changes",
		Long: fmt.Sprintf(`Show the tenant's audit trail (GET /crm/v3/audit), oldest first, or newest first with --newest:
when, the action, the object type, the records (their ids, the first %d then "+N more", and for a
permanent_delete how many calls associated with the contact were erased with it, including calls
also associated with other records; or their
count, which for workflow_erased is of the workflow's revisions erased; for a change of a user,
token, protection rule or property, which one, and for property_update the fields it changed and
how many options it added and removed), who made the change (for a
workflow: "USER via workflow NAME (revision R)"), how (api, bulk, list, workflow, undo) and what it
names (a job, list, workflow or operation). The actions: %s.

--limit entries a page (1 to %d); when there are more, the command to print the next page is
printed on stderr. --action (comma-separated) keeps those actions and --by the entries whose actor,
or the user they concern, contains it (ignoring case); the API filters, so a page holds up to
--limit matching entries. The token, of a user with the restore permission, comes from the
environment variable CRMFLOW_TOKEN; the API is at --url (CRMFLOW_URL).`, auditIDsShown, strings.Join(crm.AuditActions, ", "), auditPageMax),
		Example: `  crmflow audit --newest --limit 20
  crmflow audit --limit 50 --after 1767225600000-0
  crmflow audit --action permanent_delete,restore --by ops@acme.example`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > auditPageMax {
				return usageErrorf("--limit %d is out of range: use 1 to %d", limit, auditPageMax)
			}
			by = strings.TrimSpace(by)
			if cmd.Flags().Changed("by") && by == "" {
				return usageErrorf("--by is empty: give a user's email (or part of it), or leave --by out")
			}
			var acts []string
			for _, act := range actions {
				act = strings.TrimSpace(act)
				if !slices.Contains(crm.AuditActions, act) {
					return usageErrorf("--action %q is unknown: use one of %s (comma-separated for several)", act, strings.Join(crm.AuditActions, ", "))
				}
				if !slices.Contains(acts, act) {
					acts = append(acts, act)
				}
			}
			c, err := a.newAPIClient(o.url)
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			args := []string{"audit", "--limit", strconv.Itoa(limit)}
			order := "oldest first"
			if newest {
				q.Set("order", "newest")
				args = append(args, "--newest")
				order = "newest first"
			}
			if len(acts) > 0 {
				q.Set("action", strings.Join(acts, ","))
				args = append(args, "--action", strings.Join(acts, ","))
			}
			if by != "" {
				q.Set("by", by)
				args = append(args, "--by", by)
			}
			if after != "" {
				q.Set("after", after)
			}
			var page apiPage[auditEntryView]
			if err := c.do(cmd.Context(), http.MethodGet, "/crm/v3/audit?"+q.Encode(), nil, &page); err != nil {
				return err
			}
			if err := a.printAudit(page.Results); err != nil {
				return err
			}
			what := "audit entries"
			if len(acts) > 0 || by != "" {
				what = "audit entries that match the filters"
			}
			fmt.Fprintf(a.stderr, "%d %s on this page, %s\n", len(page.Results), what, order)
			if next := page.next(); next != "" {
				fmt.Fprintf(a.stderr, "next page: %s\n", commandLine(append(args, "--after", next)...))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	o.flags(fs)
	fs.BoolVar(&newest, "newest", false, "newest first")
	fs.IntVar(&limit, "limit", 100, fmt.Sprintf("entries a page, 1 to %d", auditPageMax))
	fs.StringVar(&after, "after", "", "go on from this cursor (printed after a page)")
	fs.StringSliceVar(&actions, "action", nil, "only entries of these actions, comma-separated")
	fs.StringVar(&by, "by", "", "only entries made by, or about, this user: an email or part of it")
	return cmd
}

// printAudit prints entries as a table on stdout.
func (a *app) printAudit(entries []auditEntryView) error {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "AT\tACTION\tTYPE\tCOUNT/IDS\tACTOR\tVIA\tREF")
	for _, e := range entries {
		actor := e.Actor
		if actor == "" {
			actor = e.By
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(e.At), dash(e.Action), dash(e.ObjectType), oneLine(e.what()),
			dash(oneLine(actor)), dash(e.Via), dash(oneLine(e.Ref)))
	}
	return w.Flush()
}

// binVias are the ways a record is deleted that --via takes.
var binVias = []string{string(crm.ViaAPI), string(crm.ViaBulk), string(crm.ViaList), string(crm.ViaWorkflow)}

// checkBinFilters checks bin list's --via, --since and --until as the API does, so that a mistake
// is named by its flag rather than by the API's parameter.
func checkBinFilters(via, since, until string) error {
	if via != "" && !slices.Contains(binVias, via) {
		return usageErrorf("--via %q is not a way records are deleted: use one of %s", via, strings.Join(binVias, ", "))
	}
	var at [2]time.Time
	for i, f := range []struct{ flag, v string }{{"--since", since}, {"--until", until}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, f.v); err != nil {
				return usageErrorf("%s %q is not a time: use an RFC 3339 time such as 2026-03-01T12:00:00Z, or a date such as 2026-03-01 (UTC)", f.flag, f.v)
			}
		}
		at[i] = t
	}
	if !at[0].IsZero() && !at[1].IsZero() && !at[0].Before(at[1]) {
		return usageErrorf("--since %s is not before --until %s: no deletion can match", since, until)
	}
	return nil
}
