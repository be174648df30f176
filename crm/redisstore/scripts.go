package redisstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// createTenantScript creates a tenant unless it exists.
// See lua/create_tenant.lua for its KEYS and ARGV.
var createTenantScript = newScript[createTenantCall]("create_tenant")

// createTenantCall is a call of createTenantScript (lua/create_tenant.lua).
type createTenantCall struct {
	Tenant string

	Plan crm.Plan
	At   int64 // unix ms
}

func (c createTenantCall) keys() []string { return []string{c.Tenant} }
func (c createTenantCall) argv() []any    { return []any{string(c.Plan), c.At} }

// setDeletionLimitScript sets a tenant's default blast-radius limit, if the tenant exists.
// See lua/set_deletion_limit.lua for its KEYS and ARGV.
var setDeletionLimitScript = newScript[setDeletionLimitCall]("set_deletion_limit")

// setDeletionLimitCall is a call of setDeletionLimitScript (lua/set_deletion_limit.lua).
type setDeletionLimitCall struct {
	Tenant string

	Max int
	Per int64 // ms
}

func (c setDeletionLimitCall) keys() []string { return []string{c.Tenant} }
func (c setDeletionLimitCall) argv() []any    { return []any{c.Max, c.Per} }

// createUserScript adds a user to an existing tenant and writes the audit entry of it.
// See lua/create_user.lua for its KEYS and ARGV.
var createUserScript = newScript[createUserCall]("create_user")

// createUserCall is a call of createUserScript (lua/create_user.lua).
type createUserCall struct {
	Tenant, User, Users, Audit string

	Email       string
	Perms       string // comma-separated
	At          int64  // unix ms
	By          string // the acting admin
	AuditMaxLen string
}

func (c createUserCall) keys() []string { return []string{c.Tenant, c.User, c.Users, c.Audit} }
func (c createUserCall) argv() []any    { return []any{c.Email, c.Perms, c.At, c.By, c.AuditMaxLen} }

// setUserPermsScript replaces the permissions of an existing user and writes the audit entry of it.
// See lua/set_user_perms.lua for its KEYS and ARGV.
var setUserPermsScript = newScript[setUserPermsCall]("set_user_perms")

// setUserPermsCall is a call of setUserPermsScript (lua/set_user_perms.lua).
type setUserPermsCall struct {
	User, Audit string

	Email       string
	Perms       string // comma-separated
	At          int64  // unix ms
	By          string // the acting admin
	AuditMaxLen string
}

func (c setUserPermsCall) keys() []string { return []string{c.User, c.Audit} }
func (c setUserPermsCall) argv() []any    { return []any{c.Email, c.Perms, c.At, c.By, c.AuditMaxLen} }

// setUserDisabledScript disables or enables an existing user and writes the audit entry of the
// change.
// See lua/set_user_disabled.lua for its KEYS and ARGV.
var setUserDisabledScript = newScript[setUserDisabledCall]("set_user_disabled")

// setUserDisabledCall is a call of setUserDisabledScript (lua/set_user_disabled.lua).
type setUserDisabledCall struct {
	User, Audit string

	Email       string
	Disabled    bool   // sent as 1 or 0
	At          int64  // unix ms
	By          string // the acting admin
	AuditMaxLen string
}

func (c setUserDisabledCall) keys() []string { return []string{c.User, c.Audit} }
func (c setUserDisabledCall) argv() []any {
	return []any{c.Email, flag(c.Disabled), c.At, c.By, c.AuditMaxLen}
}

// createTokenScript stores a token's hash for an existing user that is not disabled, indexes it by
// its public id and writes the audit entry of it.
// See lua/create_token.lua for its KEYS and ARGV.
var createTokenScript = newScript[createTokenCall]("create_token")

// createTokenCall is a call of createTokenScript (lua/create_token.lua).
type createTokenCall struct {
	User, Token, Tokens, Audit string

	Email       string
	At          int64 // unix ms
	ExpiresAt   int64 // unix ms, 0 for never
	TTL         int64 // ms, 0 for none: Redis drops the token key itself after it
	ID          string
	Hash        string // sha256 of the token
	By          string // the acting admin
	AuditMaxLen string
}

func (c createTokenCall) keys() []string { return []string{c.User, c.Token, c.Tokens, c.Audit} }
func (c createTokenCall) argv() []any {
	return []any{c.Email, c.At, c.ExpiresAt, c.TTL, c.ID, c.Hash, c.By, c.AuditMaxLen}
}

// indexTokenScript indexes a token issued before tokens had public ids, at its first use.
// See lua/index_token.lua for its KEYS and ARGV.
var indexTokenScript = newScript[indexTokenCall]("index_token").quiet()

// indexTokenCall is a call of indexTokenScript (lua/index_token.lua).
type indexTokenCall struct {
	Token, Tokens string

	ID   string
	Hash string // sha256 of the token
}

func (c indexTokenCall) keys() []string { return []string{c.Token, c.Tokens} }
func (c indexTokenCall) argv() []any    { return []any{c.ID, c.Hash} }

// revokeTokenScript deletes a token for good, by its public id, and writes the audit entry of it.
// See lua/revoke_token.lua for its KEYS and ARGV.
var revokeTokenScript = newScript[revokeTokenCall]("revoke_token")

// revokeTokenCall is a call of revokeTokenScript (lua/revoke_token.lua).
type revokeTokenCall struct {
	Tokens, Audit string

	ID          string
	TokenPrefix string // the token id names the token key
	At          int64  // unix ms
	By          string // the acting admin
	AuditMaxLen string
}

func (c revokeTokenCall) keys() []string { return []string{c.Tokens, c.Audit} }
func (c revokeTokenCall) argv() []any    { return []any{c.ID, c.TokenPrefix, c.At, c.By, c.AuditMaxLen} }

// schemaAudit is what the scripts that change the data model write their audit entry with (see
// lua/schema_audit.lua), beside the type and the property: who made the change and when.
type schemaAudit struct {
	By          string // the acting user
	Now         int64  // unix ms
	AuditMaxLen string
}

// createPropertyScript adds properties to an object type's schema, all or none, within
// crm.MaxSchemaBytes, and writes their audit entries. See lua/create_property.lua for its KEYS and
// ARGV.
var createPropertyScript = newScript[createPropertyCall]("schema_audit", "create_property")

// createPropertyCall is a call of createPropertyScript (lua/create_property.lua).
type createPropertyCall struct {
	Schema, Archived, Audit string

	Type crm.ObjectType
	// Names and Definitions (JSON) are the properties', in their order.
	Names, Definitions []string
	Max                int // crm.MaxSchemaBytes
	schemaAudit
}

func (c createPropertyCall) keys() []string { return []string{c.Schema, c.Archived, c.Audit} }
func (c createPropertyCall) argv() []any {
	argv := []any{c.Max, string(c.Type), c.By, c.Now, c.AuditMaxLen}
	for i, name := range c.Names {
		argv = append(argv, name, c.Definitions[i])
	}
	return argv
}

// updatePropertyScript replaces a property's definition (crm.SchemaStore.UpdateProperty) and
// writes its audit entry. See lua/update_property.lua for its KEYS and ARGV.
var updatePropertyScript = newScript[updatePropertyCall]("schema_audit", "update_property")

// updatePropertyCall is a call of updatePropertyScript (lua/update_property.lua).
type updatePropertyCall struct {
	Schema, Archived, Audit string
	// RemovedOptions are the value SETs of the options the change removes; Drop the index keys
	// of the old type that the new one does not read.
	RemovedOptions, Drop []string

	Type     crm.ObjectType
	Name     string
	Old, New string // JSON
	Max      int    // crm.MaxSchemaBytes
	schemaAudit
	// Change is what the change changes, for its audit entry.
	Change crm.PropertyChange
}

func (c updatePropertyCall) keys() []string {
	return append(append([]string{c.Schema, c.Archived, c.Audit}, c.RemovedOptions...), c.Drop...)
}

func (c updatePropertyCall) argv() []any {
	return []any{c.Name, c.Old, c.New, c.Max, len(c.RemovedOptions), string(c.Type), c.By, c.Now, c.AuditMaxLen,
		strings.Join(c.Change.Fields, ","), c.Change.OptionsAdded, c.Change.OptionsRemoved}
}

// archivePropertyScript moves properties' definitions to the type's archived properties, all or
// none (crm.SchemaStore.ArchiveProperties), and writes their audit entries. See
// lua/archive_property.lua for its KEYS and ARGV.
var archivePropertyScript = newScript[archivePropertyCall]("schema_audit", "archive_property")

// archivePropertyCall is a call of archivePropertyScript: Moves are the properties', in their
// order.
type archivePropertyCall struct {
	Schema, Archived, Audit string

	Type  crm.ObjectType
	Moves []propertyMove
	schemaAudit
}

// propertyMove is one property an archive moves: From is the definition as the caller read it,
// To the one it becomes.
type propertyMove struct {
	Name, From, To string // From and To are JSON
}

func (c archivePropertyCall) keys() []string { return []string{c.Schema, c.Archived, c.Audit} }
func (c archivePropertyCall) argv() []any {
	argv := []any{string(c.Type), c.By, c.Now, c.AuditMaxLen}
	for _, m := range c.Moves {
		argv = append(argv, m.Name, m.From, m.To)
	}
	return argv
}

// restorePropertyScript moves an archived property's definition back to the type's schema
// (crm.SchemaStore.RestoreProperty) and writes its audit entry. See lua/restore_property.lua for
// its KEYS and ARGV.
var restorePropertyScript = newScript[movePropertyCall]("schema_audit", "restore_property")

// movePropertyCall is a call of restorePropertyScript: From is the
// definition as the caller read it, To the one it becomes.
type movePropertyCall struct {
	Schema, Archived, Audit string

	Type     crm.ObjectType
	Name     string
	From, To string // JSON
	schemaAudit
}

func (c movePropertyCall) keys() []string { return []string{c.Schema, c.Archived, c.Audit} }
func (c movePropertyCall) argv() []any {
	return []any{c.Name, c.From, c.To, string(c.Type), c.By, c.Now, c.AuditMaxLen}
}

// createObjectTypeScript defines a custom object type and its properties, and writes its audit
// entry. See lua/create_object_type.lua for its KEYS and ARGV.
var createObjectTypeScript = newScript[createObjectTypeCall]("schema_audit", "create_object_type")

// createObjectTypeCall is a call of createObjectTypeScript (lua/create_object_type.lua).
type createObjectTypeCall struct {
	ObjectTypes, Schema, Audit string

	Name       string
	Definition string // JSON, without the properties
	Max        int    // crm.MaxCustomObjectTypes
	schemaAudit
	// Properties are the property names and their JSON, by pairs.
	Properties []string
}

func (c createObjectTypeCall) keys() []string { return []string{c.ObjectTypes, c.Schema, c.Audit} }
func (c createObjectTypeCall) argv() []any {
	return append([]any{c.Name, c.Definition, c.Max, c.By, c.Now, c.AuditMaxLen}, strArgs(c.Properties)...)
}

// createRecordsScript creates records whose ids were drawn beforehand, all or none.
// See lua/create_records.lua for its KEYS and ARGV.
var createRecordsScript = newScript[createRecordsCall]("helpers", "index", "create_records")

// createRecordsCall is a call of createRecordsScript (lua/create_records.lua).
type createRecordsCall struct {
	Live, EmailIndex, Changed, ChangedEvents, Blocklist, TriggerReads string
	// ActiveFlows is the type's ActiveFlowsKey: without an active workflow, no change mark.
	ActiveFlows string
	// Records are the new records' keys, in the order of Payload, and Bins their keys in the bin.
	Records, Bins []string
	// Assocs are the association keys, of the new records and of their targets, that the Payload
	// names by their index in KEYS (from 1).
	Assocs []string

	At        int64 // unix ms
	Type      crm.ObjectType
	Payload   string // JSON, one entry per record
	IndexSpec string
	MaxAssoc  int // the most associations a record may have
	// DateScores is a JSON object: the records' datetime and date values -> their index score
	// (dateScore), for the values dateScore reads.
	DateScores string
}

// createRecordsFixedKeys is the number of KEYS of createRecordsScript before the record keys.
const createRecordsFixedKeys = 7

// nextKey is the index in KEYS (from 1) of the next key appended to Assocs.
func (c createRecordsCall) nextKey() int {
	return createRecordsFixedKeys + len(c.Records) + len(c.Bins) + len(c.Assocs) + 1
}

func (c createRecordsCall) keys() []string {
	out := make([]string, 0, createRecordsFixedKeys+len(c.Records)+len(c.Bins)+len(c.Assocs))
	out = append(out, c.Live, c.EmailIndex, c.Changed, c.ChangedEvents, c.Blocklist, c.TriggerReads, c.ActiveFlows)
	out = append(out, c.Records...)
	out = append(out, c.Bins...)
	return append(out, c.Assocs...)
}

func (c createRecordsCall) argv() []any {
	return []any{c.At, string(c.Type), c.Payload, c.IndexSpec, c.MaxAssoc, c.DateScores}
}

// updateRecordsScript changes properties of live records, all or none.
// See lua/update_records.lua for its KEYS and ARGV.
var updateRecordsScript = newScript[updateRecordsCall]("helpers", "index", "update_records")

// updateRecordsCall is a call of updateRecordsScript (lua/update_records.lua).
type updateRecordsCall struct {
	EmailIndex, Changed, ChangedEvents, Blocklist, TriggerReads string
	// ActiveFlows is the type's ActiveFlowsKey: without an active workflow, no change mark.
	ActiveFlows string
	// Records are the updated records' keys, in the order of Payload.
	Records []string

	At        int64 // unix ms
	Type      crm.ObjectType
	Contacts  bool   // whether Type is contacts, sent as 1 or 0
	Payload   string // JSON, one entry per update
	IndexSpec string
	CheckOnly bool // answer as the update would, and write nothing; sent as 1 or 0
}

func (c updateRecordsCall) keys() []string {
	return append([]string{c.EmailIndex, c.Changed, c.ChangedEvents, c.Blocklist, c.TriggerReads, c.ActiveFlows}, c.Records...)
}

func (c updateRecordsCall) argv() []any {
	return []any{c.At, string(c.Type), flag(c.Contacts), c.Payload, c.IndexSpec, flag(c.CheckOnly)}
}

// associateScript links pairs of live records, each in both directions.
// See lua/associate.lua for its KEYS and ARGV.
var associateScript = newScript[associateCall]("associate")

// associateCall is a call of associateScript (lua/associate.lua).
type associateCall struct {
	// Pairs are the four keys of each pair, in order (see pairKeys).
	Pairs []string

	Max     int      // the most associations a record may have
	Members []string // "<type>:<id>" of each pair's first record, then of its second
}

func (c associateCall) keys() []string { return c.Pairs }
func (c associateCall) argv() []any    { return append([]any{c.Max}, strArgs(c.Members)...) }

// dissociateScript removes the links between pairs of live records, all of them or none.
// See lua/dissociate.lua for its KEYS and ARGV.
var dissociateScript = newScript[dissociateCall]("dissociate")

// dissociateCall is a call of dissociateScript (lua/dissociate.lua).
type dissociateCall struct {
	// Pairs are the four keys of each pair, in order (see pairKeys).
	Pairs []string

	Members []string // "<type>:<id>" of each pair's first record, then of its second
}

func (c dissociateCall) keys() []string { return c.Pairs }
func (c dissociateCall) argv() []any    { return strArgs(c.Members) }

// pairKeys are the KEYS and ARGV of pairs in associateScript and dissociateScript: the record
// keys and the association keys of each pair's two records, and their members.
func pairKeys(t crm.TenantID, pairs []crm.AssociationPair) (keys, members []string) {
	keys, members = make([]string, 0, 4*len(pairs)), make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		keys = append(keys, RecordKey(t, p.From.Type, p.From.ID), RecordKey(t, p.To.Type, p.To.ID),
			AssocKey(t, p.From.Type, p.From.ID), AssocKey(t, p.To.Type, p.To.ID))
		members = append(members, associationMember(p.From), associationMember(p.To))
	}
	return keys, members
}

// readAssociationsScript reads the records of some types linked to each of some records, within
// a budget. See lua/read_associations.lua for its KEYS and ARGV.
var readAssociationsScript = newScript[readAssociationsCall]("read_associations").readOnly().quiet()

// readAssociationsCall is a call of readAssociationsScript (lua/read_associations.lua).
type readAssociationsCall struct {
	// Records are the record key and the association key of each record, in order.
	Records []string

	Max     int              // Config.AssociationReadBudget
	ToTypes []crm.ObjectType // each once
}

func (c readAssociationsCall) keys() []string { return c.Records }
func (c readAssociationsCall) argv() []any {
	args := make([]any, 0, 1+len(c.ToTypes))
	args = append(args, c.Max)
	for _, o := range c.ToTypes {
		args = append(args, string(o))
	}
	return args
}

// createListScript creates a static list.
// See lua/create_list.lua for its KEYS and ARGV.
var createListScript = newScript[createListCall]("create_list")

// createListCall is a call of createListScript (lua/create_list.lua).
type createListCall struct {
	Lists, List string

	ID   crm.ListID
	Name string
	Type crm.ObjectType
	At   int64 // unix ms
	Max  int   // crm.MaxLists
}

func (c createListCall) keys() []string { return []string{c.Lists, c.List} }
func (c createListCall) argv() []any    { return []any{string(c.ID), c.Name, string(c.Type), c.At, c.Max} }

// deleteListScript deletes a list and its memberships, never its members.
// See lua/delete_list.lua for its KEYS and ARGV.
var deleteListScript = newScript[deleteListCall]("delete_list")

// deleteListCall is a call of deleteListScript (lua/delete_list.lua).
type deleteListCall struct {
	Lists, List, Members string

	ID             crm.ListID
	MemberOfPrefix string // of the list's type
}

func (c deleteListCall) keys() []string { return []string{c.Lists, c.List, c.Members} }
func (c deleteListCall) argv() []any    { return []any{string(c.ID), c.MemberOfPrefix} }

// addListMembersScript adds live records to a list and answers the ids it added and those missing.
// See lua/add_list_members.lua for its KEYS and ARGV.
var addListMembersScript = newScript[addListMembersCall]("helpers", "add_list_members")

// addListMembersCall is a call of addListMembersScript (lua/add_list_members.lua).
type addListMembersCall struct {
	List, Members, Changed, ChangedEvents string
	// ActiveFlows is the type's ActiveFlowsKey: without an active workflow, no change mark.
	ActiveFlows string
	// Records and MemberOf are the record key and the member-of key of each of IDs.
	Records, MemberOf []string

	ID   crm.ListID
	Type crm.ObjectType
	At   int64 // unix ms
	IDs  []crm.RecordID
}

// newAddListMembersCall is the call of addListMembersScript that adds ids to list id of type o.
func newAddListMembersCall(t crm.TenantID, id crm.ListID, o crm.ObjectType, at int64, ids []crm.RecordID) addListMembersCall {
	c := addListMembersCall{
		List: ListKey(t, id), Members: ListMembersKey(t, id), Changed: ChangedKey(t), ChangedEvents: ChangedEventsKey(t),
		ActiveFlows: ActiveFlowsKey(t, o),
		Records:     make([]string, len(ids)), MemberOf: make([]string, len(ids)),
		ID: id, Type: o, At: at, IDs: ids,
	}
	for i, rid := range ids {
		c.Records[i], c.MemberOf[i] = RecordKey(t, o, rid), MemberOfKey(t, o, rid)
	}
	return c
}

func (c addListMembersCall) keys() []string {
	out := make([]string, 0, 5+2*len(c.Records))
	out = append(out, c.List, c.Members, c.Changed, c.ChangedEvents, c.ActiveFlows)
	for i := range c.Records {
		out = append(out, c.Records[i], c.MemberOf[i])
	}
	return out
}

func (c addListMembersCall) argv() []any {
	return append([]any{string(c.ID), string(c.Type), c.At}, idArgs(c.IDs)...)
}

// removeListMembersScript removes records from a list and answers the ids it removed.
// See lua/remove_list_members.lua for its KEYS and ARGV.
var removeListMembersScript = newScript[removeListMembersCall]("remove_list_members")

// removeListMembersCall is a call of removeListMembersScript (lua/remove_list_members.lua).
type removeListMembersCall struct {
	List, Members string
	// MemberOf is the member-of key of each of IDs.
	MemberOf []string

	ID  crm.ListID
	IDs []crm.RecordID
}

func (c removeListMembersCall) keys() []string {
	return append([]string{c.List, c.Members}, c.MemberOf...)
}

func (c removeListMembersCall) argv() []any {
	return append([]any{string(c.ID)}, idArgs(c.IDs)...)
}

// flag is the ARGV of a boolean: "1" or "0".
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// idArgs are record ids as ARGV, one each.
func idArgs(ids []crm.RecordID) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// strArgs are strings as ARGV, one each.
func strArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, v := range ss {
		out[i] = v
	}
	return out
}

// luaFiles holds the scripts' sources: one file a script, each opening with its KEYS/ARGV contract,
// plus the shared functions some of them start with (helpers, index, history, trigger_reads,
// mail_drop, schema_audit).
//
//go:embed lua/*.lua
var luaFiles embed.FS

// scriptCall is the call of one script: its KEYS and its ARGV, in the order of the contract in the
// header of the script's file.
type scriptCall interface {
	keys() []string
	argv() []any
}

// script is a Lua script whose calls are the typed A: each script has one call struct whose fields
// are its KEYS and ARGV, named, typed and in the order of its contract.
type script[A scriptCall] struct {
	s *redis.Script
	// silent says the script creates no work for the sweeps (it reads, acknowledges, leases or
	// expires), so that running it leaves its tenant's activity mark as it was (see quiet).
	silent bool
	// reads says the script changes nothing (see readOnly).
	reads bool
}

// readOnly returns the script marked as one that changes nothing: a call of it that gets no answer
// fails without crm.ErrOutcomeUnknown, as there is no change whose outcome is unknown.
func (sc script[A]) readOnly() script[A] {
	sc.reads = true
	return sc
}

// quiet returns the script marked as creating no work for the sweeps: its runs do not mark their
// tenant active. The sweeps' own scripts must be quiet, or a full walk would mark every tenant.
func (sc script[A]) quiet() script[A] {
	sc.silent = true
	return sc
}

// run runs the script with the call a (EVALSHA, then EVAL when the server does not know it) on the
// store's Redis; a script of a tenant that succeeds marks the tenant active (Store.touch).
func (sc script[A]) run(ctx context.Context, s *Store, a A) *redis.Cmd {
	keys := a.keys()
	sent := ctx.Err() == nil && !sc.reads
	cmd := sc.s.Run(ctx, s.rdb, keys, a.argv()...)
	unconfirmed(cmd, sent)
	if !sc.silent && (cmd.Err() == nil || errors.Is(cmd.Err(), redis.Nil)) {
		s.touch(ctx, keys)
	}
	return cmd
}

// runAcked runs the destructive script with the call a and waits for the replicas (Store.runAcked);
// a script that succeeds marks its tenant active, as run does.
func (sc script[A]) runAcked(ctx context.Context, s *Store, a A) (reply *redis.Cmd, acked error) {
	sent := ctx.Err() == nil && !sc.reads
	reply, acked = s.runAcked(ctx, sc.s, a)
	unconfirmed(reply, sent)
	if !sc.silent && (reply.Err() == nil || errors.Is(reply.Err(), redis.Nil)) {
		s.touch(ctx, a.keys())
	}
	return reply, acked
}

// unconfirmed marks the error of a script call that was sent (its context was live when it
// started) and got no answer, because Redis is in trouble or the context ended while it waited,
// with crm.ErrOutcomeUnknown: the script may have run, and its caller cannot tell. An error
// Redis answered with (a script's own, OOM, NOSCRIPT) is left as it is.
func unconfirmed(cmd *redis.Cmd, sent bool) {
	err := cmd.Err()
	if !sent || err == nil || errors.Is(err, crm.ErrOutcomeUnknown) || errors.Is(err, crm.ErrStoreFull) {
		return
	}
	if errors.Is(err, crm.ErrStoreUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		cmd.SetErr(fmt.Errorf("%w: %w", crm.ErrOutcomeUnknown, err))
	}
}

// newScript returns the script made of the named files of lua/, joined in order: the shared
// functions first, the script's own file last. It panics when a file is missing, which is a
// programmer error found by any test that loads the package.
func newScript[A scriptCall](names ...string) script[A] {
	var src strings.Builder
	for _, n := range names {
		b, err := luaFiles.ReadFile("lua/" + n + ".lua")
		if err != nil {
			panic(fmt.Sprintf("redisstore: script file %s: %v", n, err))
		}
		src.Write(b)
		src.WriteByte('\n')
	}
	return script[A]{s: redis.NewScript(src.String())}
}
