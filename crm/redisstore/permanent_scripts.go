package redisstore

import "github.com/crmflow/crmflow/crm"

// permanentDeleteScript removes contacts for good (privacy law). Each step first erases a batch of
// the calls their association sets and their BinLinksKey name, whether or not other records share
// them (never reading the rest of the bin); the step that finds no call left removes each contact, live or in the bin,
// its associations and list memberships, its enrollments and workflow history, its entries in the
// live and the bin email indexes, blocklists the salted hashes of their emails, writes the audit
// entries (ids and counts only) and the confirmation email to send.
// See lua/permanent_delete.lua for its KEYS and ARGV.
var permanentDeleteScript = newScript[permanentDeleteCall]("helpers", "index", "permanent_delete")

// permanentDeleteCall is a call of permanentDeleteScript (lua/permanent_delete.lua).
type permanentDeleteCall struct {
	EmailIndex, Changed, ChangedEvents, Audit, Blocklist, PendingMail string
	// Flows is the set of the tenant's workflows, whose enrollments and history a wiped record loses.
	Flows string
	// Contacts and Calls are the sets of the two types whose records it wipes.
	Contacts, Calls typeSets
	// ActiveFlows is the ActiveFlowsKey of contacts: without an active workflow, no change mark.
	ActiveFlows string
	// Records and MemberOf are the keys of each of IDs.
	Records  []recordKeys
	MemberOf []string

	At          int64          // unix ms
	IDs         []crm.RecordID // the contacts; none when only an email is blocklisted
	By          string         // the acting user
	AuditMaxLen string
	// RecordPrefix to MemberOfPrefix are the key prefixes of the calls associated with a contact.
	RecordPrefix, BinRecordPrefix string
	AssocPrefix, BinAssocPrefix   string
	MemberOfPrefix                string // without a type
	ListPrefix, ListMembersSuffix string
	MailID                        string
	Mail                          string // JSON
	// Read is each contact's emails as read, joined by ';', the contacts joined by '|' in the order
	// of IDs.
	Read                                           string
	FlowPrefix, EnrollmentsPrefix, HistoriesPrefix string
	BinAssocIDsPrefix                              string
	BinEmailDayPrefix                              string
	ContactsIndexSpec, CallsIndexSpec              string
	OperationPrefix                                string
	// Named is the email the delete named, "" for a delete by id.
	Named string
	// Batch is how many calls one step erases at most.
	Batch int
	// BinLinksPrefix is the prefix of the BinLinksKey of the contacts and the calls.
	BinLinksPrefix string
	Hashes         []string // the salted hashes to blocklist
}

func (c permanentDeleteCall) keys() []string {
	out := []string{c.EmailIndex, c.Changed, c.ChangedEvents, c.Audit, c.Blocklist, c.PendingMail, c.Flows,
		c.Contacts.Live, c.Contacts.Trash, c.Contacts.BinIDs, c.Contacts.BinAssocIDs,
		c.Calls.Live, c.Calls.Trash, c.Calls.BinIDs, c.Calls.BinAssocIDs, c.ActiveFlows}
	for i, r := range c.Records {
		out = append(out, r.Record, r.Bin, r.Assoc, r.BinAssoc, c.MemberOf[i])
	}
	return out
}

// typeSets are the sets of the ids of one object type: live, in the bin (by deletion time and by
// id) and with a bin association key.
type typeSets struct {
	Live, Trash, BinIDs, BinAssocIDs string
}

// typeSetsOf returns the typeSets of type o.
func typeSetsOf(t crm.TenantID, o crm.ObjectType) typeSets {
	return typeSets{Live: LiveKey(t, o), Trash: TrashKey(t, o), BinIDs: BinIDsKey(t, o), BinAssocIDs: BinAssocIDsKey(t, o)}
}

func (c permanentDeleteCall) argv() []any {
	out := []any{c.At, joinIDs(c.IDs), c.By, c.AuditMaxLen, c.RecordPrefix, c.BinRecordPrefix, c.AssocPrefix,
		c.BinAssocPrefix, c.MemberOfPrefix, c.ListPrefix, c.ListMembersSuffix, c.MailID, c.Mail, c.Read, c.FlowPrefix, c.EnrollmentsPrefix, c.HistoriesPrefix,
		c.BinAssocIDsPrefix, c.BinEmailDayPrefix, c.ContactsIndexSpec, c.CallsIndexSpec, c.OperationPrefix, c.Named, c.Batch, c.BinLinksPrefix}
	for _, h := range c.Hashes {
		out = append(out, h)
	}
	return out
}

// failPendingMailScript records that a pending email's delivery failed for good.
// See lua/fail_pending_mail.lua for its KEYS and ARGV.
var failPendingMailScript = newScript[pendingMailCall]("fail_pending_mail")

// retryPendingMailScript clears a failed pending email's failure and counts the retry.
// See lua/retry_pending_mail.lua for its KEYS and ARGV.
var retryPendingMailScript = newScript[pendingMailCall]("retry_pending_mail")

// discardPendingMailScript forgets a failed pending email.
// See lua/discard_pending_mail.lua for its KEYS and ARGV.
var discardPendingMailScript = newScript[pendingMailCall]("discard_pending_mail")

// pendingMailCall is a call of failPendingMailScript, retryPendingMailScript or
// discardPendingMailScript (lua/fail_pending_mail.lua, retry_pending_mail.lua,
// discard_pending_mail.lua), which share their KEYS and ARGV.
type pendingMailCall struct {
	Pending, State, Audit string

	MailID      string
	Arg         string // the failure (JSON) to record, or who retries or discards
	At          int64  // unix ms
	AuditMaxLen string
}

func (c pendingMailCall) keys() []string { return []string{c.Pending, c.State, c.Audit} }
func (c pendingMailCall) argv() []any    { return []any{c.MailID, c.Arg, c.At, c.AuditMaxLen} }
