package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// emailHash is the salted hash under which an email is blocklisted.
func (s *Store) emailHash(t crm.TenantID, email string) string {
	sum := sha256.Sum256([]byte(s.cfg.EmailSalt + "\x00" + string(t) + "\x00" + email))
	return hex.EncodeToString(sum[:])
}

func batchErr(i, n int, err error) error {
	if n == 1 {
		return err
	}
	var ves crm.ValidationErrors
	if errors.As(err, &ves) {
		out := make(crm.ValidationErrors, len(ves))
		for j, ve := range ves {
			c := *ve
			c.Message = fmt.Sprintf("inputs[%d]: %s", i, ve.Message)
			out[j] = &c
		}
		return out
	}
	return err
}

// sharedValues refuses a batch in which two inputs give the same email (of contacts) or the same
// value of a unique property: one record at most can hold it. props are the inputs' normalized
// values to set, in input order. It returns crm.ValidationErrors naming both inputs of each
// value given twice, or nil.
func sharedValues(o crm.ObjectType, sch crm.Schema, props []map[string]string) error {
	if len(props) < 2 {
		return nil
	}
	var verrs crm.ValidationErrors
	emails := map[string]int{}
	values := map[string]int{}
	unique := sch.UniqueProperties()
	for i, p := range props {
		if o == crm.Contacts {
			for _, e := range crm.RecordEmails(map[string]string{"email": p["email"], "additional_emails": p["additional_emails"]}) {
				if j, dup := emails[e]; dup {
					verrs = append(verrs, &crm.ValidationError{Field: "inputs", Code: "DUPLICATE_EMAIL",
						Message: fmt.Sprintf("inputs[%d] and inputs[%d] both give the email %s, which one contact at most can have: give each its own email, or merge the two inputs", j, i, e)})
					continue
				}
				emails[e] = i
			}
		}
		for _, name := range unique {
			v := p[name]
			if v == "" {
				continue
			}
			key := name + "\x00" + v
			if j, dup := values[key]; dup {
				verrs = append(verrs, &crm.ValidationError{Field: "inputs", Code: "DUPLICATE_VALUE",
					Message: fmt.Sprintf("inputs[%d] and inputs[%d] both give %s %q, and %s is a unique property of %s: give each its own value, or merge the two inputs", j, i, name, v, name, o)})
				continue
			}
			values[key] = i
		}
	}
	if len(verrs) > 0 {
		return verrs
	}
	return nil
}

func checkBatch(n int) error {
	if n == 0 {
		return &crm.ValidationError{Field: "inputs", Code: "EMPTY_BATCH", Message: "no inputs given: send at least one"}
	}
	if n > crm.MaxScriptBatch {
		return &crm.ValidationError{Field: "inputs", Code: "TOO_MANY_INPUTS",
			Message: fmt.Sprintf("%d inputs in one call: send at most %d", n, crm.MaxScriptBatch)}
	}
	return nil
}

type createJSON struct {
	ID     string            `json:"id"`
	Props  map[string]string `json:"props"`
	Emails []string          `json:"emails"`
	Hashes []string          `json:"hashes"`
	// AssocKey is the index in KEYS of the new record's association set; 0 when it has none.
	AssocKey int         `json:"ak,omitempty"`
	Assoc    []assocJSON `json:"assoc,omitempty"`
}

// appendCreatePayload appends recs to buf as the JSON array that json.Marshal would make of them,
// give or take the order of each record's properties and escapes that decode to the same string:
// it is written for every batch created, without reflection or sorting.
func appendCreatePayload(buf []byte, recs []createJSON) ([]byte, error) {
	buf = append(buf, '[')
	for i, r := range recs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"id":`...)
		buf = appendJSONString(buf, r.ID)
		buf = append(buf, `,"props":{`...)
		first := true
		for k, v := range r.Props {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = appendJSONString(buf, k)
			buf = append(buf, ':')
			buf = appendJSONString(buf, v)
		}
		buf = append(buf, `},"emails":`...)
		buf = appendJSONStrings(buf, r.Emails)
		buf = append(buf, `,"hashes":`...)
		buf = appendJSONStrings(buf, r.Hashes)
		if r.AssocKey != 0 {
			buf = append(buf, `,"ak":`...)
			buf = strconv.AppendInt(buf, int64(r.AssocKey), 10)
		}
		if len(r.Assoc) > 0 {
			assoc, err := json.Marshal(r.Assoc)
			if err != nil {
				return nil, err
			}
			buf = append(buf, `,"assoc":`...)
			buf = append(buf, assoc...)
		}
		buf = append(buf, '}')
	}
	return append(buf, ']'), nil
}

// appendStringMap appends m as a JSON object, in no particular order.
func appendStringMap(buf []byte, m map[string]string) []byte {
	buf = append(buf, '{')
	first := true
	for k, v := range m {
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendJSONString(buf, k)
		buf = append(buf, ':')
		buf = appendJSONString(buf, v)
	}
	return append(buf, '}')
}

// appendJSONStrings appends ss as a JSON array of strings; nil as [] (the script iterates it).
func appendJSONStrings(buf []byte, ss []string) []byte {
	buf = append(buf, '[')
	for i, s := range ss {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, s)
	}
	return append(buf, ']')
}

// appendJSONString appends s as a JSON string: as it is between quotes when it is printable ASCII
// without a quote or backslash, else as encoding/json writes it (which also turns invalid UTF-8
// into U+FFFD, as the stored value always was).
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b, _ := json.Marshal(s) // a string: cannot fail
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// assocJSON is one inline association of a created record, for createRecordsScript.
type assocJSON struct {
	// Member is the target as a member of the new record's association set, "<type>:<id>".
	Member string `json:"m"`
	// RecordKey and AssocKey are the indexes in KEYS of the target's record hash and association set.
	RecordKey int `json:"rk"`
	AssocKey  int `json:"tak"`
}

// checkAssociations refuses inline associations to a type the tenant does not have, or to an id
// that cannot exist, naming the input and the association.
func (s *Store) checkAssociations(ctx context.Context, t crm.TenantID, in []crm.RecordInput) error {
	var verrs crm.ValidationErrors
	known := map[crm.ObjectType]bool{}
	for i, r := range in {
		if len(r.Associations) > s.cfg.MaxAssociations {
			verrs = append(verrs, assocFullError(i, s.cfg.MaxAssociations, len(in), s.cfg.MaxAssociations,
				fmt.Sprintf("the record would have %d associations", len(r.Associations))))
			continue
		}
		for j, a := range r.Associations {
			if !known[a.Type] {
				if _, err := s.Schema(ctx, t, a.Type); err != nil {
					var nf *crm.NotFoundError
					if !errors.As(err, &nf) {
						return err
					}
					verrs = append(verrs, assocError(i, j, len(in), fmt.Sprintf("object type %q does not exist", a.Type)))
					continue
				}
				known[a.Type] = true
			}
			if _, err := strconv.ParseUint(string(a.ID), 10, 64); err != nil {
				verrs = append(verrs, assocError(i, j, len(in), fmt.Sprintf("%s %q does not exist: ids are decimal numbers", a.Type, a.ID)))
			}
		}
	}
	if len(verrs) > 0 {
		return verrs
	}
	return nil
}

// assocError is the *ValidationError of association j of input i (of n inputs).
func assocError(i, j, n int, msg string) *crm.ValidationError {
	return &crm.ValidationError{Field: "associations", Code: "INVALID_ASSOCIATION_TARGET",
		Message: fmt.Sprintf("%s: %s: associate only records that exist and are not in the bin; nothing was created", assocWhere(i, j, n), msg)}
}

// assocFullError is the *ValidationError of association j of input i (of n inputs), which would
// take a record past max associations.
func assocFullError(i, j, n, max int, msg string) *crm.ValidationError {
	return &crm.ValidationError{Field: "associations", Code: "TOO_MANY_ASSOCIATIONS",
		Message: fmt.Sprintf("%s: %s, over the %d a record may have: associate fewer records; nothing was created", assocWhere(i, j, n), msg, max)}
}

// assocWhere names association j of input i (of n inputs) in an error.
func assocWhere(i, j, n int) string {
	where := fmt.Sprintf("associations[%d]", j)
	if n > 1 {
		where = fmt.Sprintf("inputs[%d].%s", i, where)
	}
	return where
}

// CreateRecords implements Store.
func (s *Store) CreateRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType, in []crm.RecordInput, by crm.Actor) ([]crm.Record, error) {
	if err := checkBatch(len(in)); err != nil {
		return nil, err
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return nil, err
	}
	recs := make([]createJSON, len(in))
	dates, scores := dateIndexFields(sch), map[string]string{}
	var verrs crm.ValidationErrors
	for i, r := range in {
		props, err := sch.Normalize(r.Properties)
		if err != nil {
			var ves crm.ValidationErrors
			if errors.As(batchErr(i, len(in), err), &ves) {
				verrs = append(verrs, ves...)
				continue
			}
			return nil, err
		}
		for k, v := range props {
			if v == "" {
				delete(props, k)
			}
		}
		recs[i].Props = props
		for _, f := range dates {
			if v := props[f]; v != "" && scores[v] == "" {
				if sc, ok := dateScore(v); ok {
					scores[v] = sc
				}
			}
		}
		recs[i].Emails = []string{}
		recs[i].Hashes = []string{}
		if o == crm.Contacts {
			for _, e := range crm.RecordEmails(props) {
				recs[i].Emails = append(recs[i].Emails, e)
				recs[i].Hashes = append(recs[i].Hashes, s.emailHash(t, e))
			}
		}
	}
	if len(verrs) > 0 {
		return nil, verrs
	}
	created := make([]map[string]string, len(recs))
	for i, r := range recs {
		created[i] = r.Props
	}
	if err := sharedValues(o, sch, created); err != nil {
		return nil, err
	}
	if err := s.checkAssociations(ctx, t, in); err != nil {
		return nil, err
	}
	last, err := s.rdb.IncrBy(ctx, SeqKey(t, string(o)), int64(len(in))).Result()
	if err != nil {
		return nil, fmt.Errorf("draw ids: %w", err)
	}
	call := createRecordsCall{
		Live: LiveKey(t, o), EmailIndex: EmailIndexKey(t), Changed: ChangedKey(t), ChangedEvents: ChangedEventsKey(t),
		Blocklist: BlocklistKey(t), TriggerReads: TriggerReadsKey(t, o), ActiveFlows: ActiveFlowsKey(t, o),
	}
	for i := range recs {
		recs[i].ID = strconv.FormatInt(last-int64(len(in))+1+int64(i), 10)
		call.Records = append(call.Records, RecordKey(t, o, crm.RecordID(recs[i].ID)))
		call.Bins = append(call.Bins, BinRecordKey(t, o, crm.RecordID(recs[i].ID)))
	}
	for i, r := range in {
		if len(r.Associations) == 0 {
			continue
		}
		recs[i].AssocKey = call.nextKey()
		call.Assocs = append(call.Assocs, AssocKey(t, o, crm.RecordID(recs[i].ID)))
		for _, a := range r.Associations {
			rk := call.nextKey()
			call.Assocs = append(call.Assocs, RecordKey(t, a.Type, a.ID), AssocKey(t, a.Type, a.ID))
			recs[i].Assoc = append(recs[i].Assoc, assocJSON{Member: associationMember(a), RecordKey: rk, AssocKey: rk + 1})
		}
	}
	payload, err := appendCreatePayload(make([]byte, 0, 512*len(recs)), recs)
	if err != nil {
		return nil, fmt.Errorf("encode records: %w", err)
	}
	now := s.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	call.At, call.Type, call.Payload = now.UnixMilli(), o, string(payload)
	call.IndexSpec, call.MaxAssoc = indexSpec(t, sch), s.cfg.MaxAssociations
	call.DateScores = string(appendStringMap(make([]byte, 0, 40*len(scores)), scores))
	res, err := createRecordsScript.run(ctx, s, call).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", o, err)
	}
	if len(res) == 4 && res[0] == "assoc_full" {
		i, _ := strconv.Atoi(res[1])
		j, _ := strconv.Atoi(res[2])
		a := in[i].Associations[j]
		return nil, crm.ValidationErrors{assocFullError(i, j, len(in), s.cfg.MaxAssociations,
			fmt.Sprintf("%s %s has %s associations, and this request would add more", a.Type, a.ID, res[3]))}
	}
	if len(res) == 3 && res[0] == "assoc_missing" {
		i, _ := strconv.Atoi(res[1])
		j, _ := strconv.Atoi(res[2])
		a := in[i].Associations[j]
		return nil, crm.ValidationErrors{assocError(i, j, len(in), fmt.Sprintf("%s %s does not exist or is in the bin", a.Type, a.ID))}
	}
	if err := scriptRefusal(o, res); err != nil {
		return nil, err
	}
	out := make([]crm.Record, len(recs))
	for i, r := range recs {
		out[i] = crm.Record{ID: crm.RecordID(r.ID), Type: o, Properties: r.Props, CreatedAt: now, UpdatedAt: now}
	}
	return out, nil
}

// scriptRefusal turns a script's refusal reply, for records of type o, into the error it stands for.
func scriptRefusal(o crm.ObjectType, res []string) error {
	if len(res) == 0 {
		return errors.New("crm: empty script reply")
	}
	switch res[0] {
	case "ok":
		return nil
	case "conflict":
		return &crm.EmailConflictError{Email: res[1], BlockingID: crm.RecordID(res[2])}
	case "blocked":
		return &crm.BlockedEmailError{Email: res[1]}
	case "unique":
		return &crm.UniqueConflictError{Type: o, Property: res[1], Value: res[2], BlockingID: crm.RecordID(res[3])}
	case "missing":
		return &crm.NotFoundError{Kind: "record", ID: res[1]}
	}
	return fmt.Errorf("crm: unexpected script reply %q", res)
}

type updateJSON struct {
	ID     string            `json:"id"`
	Set    map[string]string `json:"set"`
	Del    []string          `json:"del"`
	Hashes map[string]string `json:"hashes"`
}

// UpdateRecords implements Store.
func (s *Store) UpdateRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType, in []crm.RecordUpdate, by crm.Actor) ([]crm.Record, error) {
	call, err := s.updateCall(ctx, t, o, in)
	if err != nil {
		return nil, err
	}
	res, err := updateRecordsScript.run(ctx, s, call).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("update %s: %w", o, err)
	}
	if err := scriptRefusal(o, res); err != nil {
		return nil, err
	}
	ids := make([]crm.RecordID, len(in))
	for i, u := range in {
		ids[i] = u.ID
	}
	return s.Records(ctx, t, o, ids, nil)
}

// checkUpdates answers as UpdateRecords would answer in, when it refuses it, and writes nothing:
// nil when in would be written now. An upsert asks it before it creates its new records, so that a
// refusal of its updates leaves no record created.
func (s *Store) checkUpdates(ctx context.Context, t crm.TenantID, o crm.ObjectType, in []crm.RecordUpdate) error {
	call, err := s.updateCall(ctx, t, o, in)
	if err != nil {
		return err
	}
	call.CheckOnly = true
	res, err := updateRecordsScript.run(ctx, s, call).StringSlice()
	if err != nil {
		return fmt.Errorf("check update of %s: %w", o, err)
	}
	return scriptRefusal(o, res)
}

// updateCall validates the updates in of records of type o and returns the call of
// updateRecordsScript that writes them.
func (s *Store) updateCall(ctx context.Context, t crm.TenantID, o crm.ObjectType, in []crm.RecordUpdate) (updateRecordsCall, error) {
	if err := checkBatch(len(in)); err != nil {
		return updateRecordsCall{}, err
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return updateRecordsCall{}, err
	}
	ups := make([]updateJSON, len(in))
	call := updateRecordsCall{
		EmailIndex: EmailIndexKey(t), Changed: ChangedKey(t), ChangedEvents: ChangedEventsKey(t),
		Blocklist: BlocklistKey(t), TriggerReads: TriggerReadsKey(t, o), ActiveFlows: ActiveFlowsKey(t, o),
	}
	var verrs crm.ValidationErrors
	seen := map[crm.RecordID]bool{}
	for i, u := range in {
		if _, err := strconv.ParseUint(string(u.ID), 10, 64); err != nil {
			return updateRecordsCall{}, &crm.NotFoundError{Kind: "record", ID: string(u.ID)}
		}
		if seen[u.ID] {
			return updateRecordsCall{}, &crm.ValidationError{Field: "inputs", Code: "DUPLICATE_ID",
				Message: fmt.Sprintf("record %s appears twice in one batch: merge the two inputs", u.ID)}
		}
		seen[u.ID] = true
		props, err := sch.Normalize(u.Properties)
		if err != nil {
			var ves crm.ValidationErrors
			if errors.As(batchErr(i, len(in), err), &ves) {
				verrs = append(verrs, ves...)
				continue
			}
			return updateRecordsCall{}, err
		}
		up := updateJSON{ID: string(u.ID), Set: map[string]string{}, Del: []string{}, Hashes: map[string]string{}}
		for k, v := range props {
			if v == "" {
				up.Del = append(up.Del, k)
			} else {
				up.Set[k] = v
			}
		}
		slices.Sort(up.Del)
		if o == crm.Contacts {
			for _, e := range crm.RecordEmails(map[string]string{"email": up.Set["email"], "additional_emails": up.Set["additional_emails"]}) {
				up.Hashes[e] = s.emailHash(t, e)
			}
		}
		ups[i] = up
		call.Records = append(call.Records, RecordKey(t, o, u.ID))
	}
	if len(verrs) > 0 {
		return updateRecordsCall{}, verrs
	}
	set := make([]map[string]string, len(ups))
	for i, up := range ups {
		set[i] = up.Set
	}
	if err := sharedValues(o, sch, set); err != nil {
		return updateRecordsCall{}, err
	}
	payload, err := json.Marshal(ups)
	if err != nil {
		return updateRecordsCall{}, fmt.Errorf("encode updates: %w", err)
	}
	// cjson encodes an empty Lua table as an object; the script only iterates, so that is harmless.
	now := s.cfg.Clock.Now()
	call.At, call.Type, call.Contacts, call.Payload, call.IndexSpec = now.UnixMilli(), o, o == crm.Contacts, string(payload), indexSpec(t, sch)
	return call, nil
}

// Records implements Store. The names of the type's archived properties are read in the same
// round trip, and their values left out of what it returns.
func (s *Store) Records(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, opts *crm.ReadOpts) ([]crm.Record, error) {
	if opts == nil {
		opts = &crm.ReadOpts{}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if len(opts.Properties) > maxNamedFields {
		return s.namedProperties(ctx, t, o, ids, opts)
	}
	if len(opts.Properties) > 0 {
		return s.someProperties(ctx, t, o, ids, opts)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		key := RecordKey(t, o, id)
		if opts.Archived {
			key = BinRecordKey(t, o, id)
		}
		cmds[i] = pipe.HGetAll(ctx, key)
	}
	archived := pipe.HKeys(ctx, ArchivedPropertiesKey(t, o))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read %s: %w", o, err)
	}
	out := make([]crm.Record, 0, len(ids))
	for i, c := range cmds {
		h := c.Val()
		if len(h) == 0 {
			continue
		}
		for _, name := range archived.Val() {
			delete(h, name)
		}
		out = append(out, recordFromHash(o, ids[i], h, opts.Archived))
	}
	return out, nil
}

// maxNamedFields is the most properties a read asks Redis for by name (HMGET). HMGET costs Redis
// a lookup per name and record, so a read of a page that names more (a client may name 100,000 in
// one request) reads each record whole and keeps the properties named: its cost is then the
// records' size, as a read of all properties would be.
const maxNamedFields = 100

// namedProperties is Records for more than maxNamedFields properties: each record is read whole
// and keeps only the properties of opts.Properties.
func (s *Store) namedProperties(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, opts *crm.ReadOpts) ([]crm.Record, error) {
	named := make(map[string]bool, len(opts.Properties))
	for _, p := range opts.Properties {
		named[p] = true
	}
	whole := *opts
	whole.Properties = nil
	recs, err := s.Records(ctx, t, o, ids, &whole)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		maps.DeleteFunc(r.Properties, func(name, _ string) bool { return !named[name] })
	}
	return recs, nil
}

// bookkeeping are the fields of a record's hash that are not properties, in the order
// someProperties reads them. _created is in every record's hash.
var bookkeeping = []string{"_created", "_updated", "_deleted_at", "_deleted_by", "_deleted_via", "_deleted_ref", "_deleted_rev", "_deleted_operation"}

// someProperties is Records for opts.Properties: it reads those fields alone (HMGET), which costs
// less than the whole hash when a caller needs a few.
func (s *Store) someProperties(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, opts *crm.ReadOpts) ([]crm.Record, error) {
	fields := make([]string, 0, len(bookkeeping)+len(opts.Properties))
	fields = append(fields, bookkeeping[:2]...)
	if opts.Archived {
		fields = append(fields, bookkeeping[2:]...)
	}
	nbook := len(fields)
	for _, p := range opts.Properties {
		if !strings.HasPrefix(p, "_") {
			fields = append(fields, p)
		}
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		key := RecordKey(t, o, id)
		if opts.Archived {
			key = BinRecordKey(t, o, id)
		}
		cmds[i] = pipe.HMGet(ctx, key, fields...)
	}
	archived := pipe.HKeys(ctx, ArchivedPropertiesKey(t, o))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read %s: %w", o, err)
	}
	var hidden map[string]bool // the archived properties: their values stay stored, unread
	for _, name := range archived.Val() {
		if hidden == nil {
			hidden = map[string]bool{}
		}
		hidden[name] = true
	}
	out := make([]crm.Record, 0, len(ids))
	for i, c := range cmds {
		vals := c.Val()
		if len(vals) != len(fields) || vals[0] == nil {
			continue // no _created: no such record
		}
		str := func(k int) string { v, _ := vals[k].(string); return v }
		r := crm.Record{ID: ids[i], Type: o, Properties: make(map[string]string, len(fields)-nbook), Archived: opts.Archived,
			CreatedAt: parseMS(str(0)), UpdatedAt: parseMS(str(1))}
		if opts.Archived {
			r.Deletion = &crm.Deletion{At: parseMS(str(2)), By: str(3), Via: crm.Via(str(4)), Ref: str(5), Revision: parseRev(str(6)), Operation: str(7)}
		}
		for k := nbook; k < len(fields); k++ {
			if v, ok := vals[k].(string); ok && !hidden[fields[k]] {
				r.Properties[fields[k]] = v
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// recordFromHash makes a record of a record's hash, which it takes over: the properties are h
// itself once the bookkeeping fields (those starting with _) are out.
func recordFromHash(o crm.ObjectType, id crm.RecordID, h map[string]string, archived bool) crm.Record {
	r := crm.Record{ID: id, Type: o, Properties: h, Archived: archived}
	r.CreatedAt = parseMS(h["_created"])
	r.UpdatedAt = parseMS(h["_updated"])
	if archived {
		r.Deletion = &crm.Deletion{At: parseMS(h["_deleted_at"]), By: h["_deleted_by"], Via: crm.Via(h["_deleted_via"]), Ref: h["_deleted_ref"],
			Revision: parseRev(h["_deleted_rev"]), Operation: h["_deleted_operation"]}
	}
	for k := range h {
		if strings.HasPrefix(k, "_") {
			delete(h, k)
		}
	}
	return r
}

// Record implements Store.
func (s *Store) Record(ctx context.Context, t crm.TenantID, o crm.ObjectType, id crm.RecordID, opts *crm.ReadOpts) (crm.Record, error) {
	recs, err := s.Records(ctx, t, o, []crm.RecordID{id}, opts)
	if err != nil {
		return crm.Record{}, err
	}
	if len(recs) == 0 {
		if _, err := s.Schema(ctx, t, o); err != nil {
			return crm.Record{}, err
		}
		return crm.Record{}, &crm.NotFoundError{Kind: "record", ID: fmt.Sprintf("%s/%s", o, id)}
	}
	return recs[0], nil
}

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return 10, nil
	case n < 0 || n > 100:
		return 0, &crm.ValidationError{Field: "limit", Code: "INVALID_LIMIT",
			Message: fmt.Sprintf("limit %d is out of range: use 1 to 100", n)}
	}
	return n, nil
}

func parseAfter(after string) (string, error) {
	if after == "" {
		return "-inf", nil
	}
	if _, err := strconv.ParseUint(after, 10, 64); err != nil {
		return "", &crm.ValidationError{Field: "after", Code: "INVALID_CURSOR",
			Message: fmt.Sprintf("cursor %q is invalid: pass the paging.next.after value of the previous page", after)}
	}
	return "(" + after, nil
}

// ListRecords implements Store.
func (s *Store) ListRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType, opts *crm.ListOpts) (crm.Page, error) {
	if opts == nil {
		opts = &crm.ListOpts{}
	}
	if _, err := s.Schema(ctx, t, o); err != nil {
		return crm.Page{}, err
	}
	index := LiveKey(t, o)
	switch {
	case opts.Operation != "" && !opts.Archived:
		return crm.Page{}, &crm.ValidationError{Field: "archivedOperation", Code: "INVALID_FILTER",
			Message: "archivedOperation filters the recycle bin: add archived=true"}
	case !opts.Deleted.IsZero() && !opts.Archived:
		return crm.Page{}, &crm.ValidationError{Field: "archivedBy,archivedVia,archivedAfter,archivedBefore", Code: "INVALID_FILTER",
			Message: "the archived filters filter the recycle bin: add archived=true"}
	case opts.Operation != "":
		index = OperationBinKey(t, opts.Operation)
	case opts.Archived:
		index = BinIDsKey(t, o)
	}
	if !opts.Deleted.IsZero() {
		return s.filteredBinPage(ctx, t, o, index, opts)
	}
	ids, next, err := s.pageIDs(ctx, index, opts)
	if err != nil {
		return crm.Page{}, err
	}
	recs, err := s.Records(ctx, t, o, ids, &crm.ReadOpts{Archived: opts.Archived, Properties: opts.Properties})
	if err != nil {
		return crm.Page{}, err
	}
	if opts.Operation != "" {
		// The operation's bin index holds bare ids: a record of another type with the same id, or
		// deleted again since by another operation, is not one of the operation's.
		recs = slices.DeleteFunc(recs, func(r crm.Record) bool { return r.Deletion == nil || r.Deletion.Operation != opts.Operation })
	}
	return crm.Page{Records: recs, After: next}, nil
}

// filteredBinPage is a page of the bin (index: the type's or an operation's) of the records whose
// deletion opts.Deleted matches: the bin is read 100 records a round trip, in id order, until
// opts.Limit match or crm.MaxBinScan were read. The cursor is the last id read, so the next page
// goes on from there whether this one filled up or ran out of reads.
func (s *Store) filteredBinPage(ctx context.Context, t crm.TenantID, o crm.ObjectType, index string, opts *crm.ListOpts) (crm.Page, error) {
	limit, err := pageLimit(opts.Limit)
	if err != nil {
		return crm.Page{}, err
	}
	var out []crm.Record
	after := opts.After
	for read := 0; read < crm.MaxBinScan; {
		chunk := &crm.ListOpts{After: after, Limit: 100}
		ids, next, err := s.pageIDs(ctx, index, chunk)
		if err != nil {
			return crm.Page{}, err
		}
		read += len(ids)
		recs, err := s.Records(ctx, t, o, ids, &crm.ReadOpts{Archived: true, Properties: opts.Properties})
		if err != nil {
			return crm.Page{}, err
		}
		for _, r := range recs {
			if r.Deletion == nil || (opts.Operation != "" && r.Deletion.Operation != opts.Operation) || !opts.Deleted.Matches(r.Deletion) {
				continue
			}
			out = append(out, r)
			if len(out) == limit {
				// Full: the next page starts after this record, if any record follows it.
				if r.ID == ids[len(ids)-1] && next == "" {
					return crm.Page{Records: out}, nil
				}
				return crm.Page{Records: out, After: string(r.ID)}, nil
			}
		}
		if next == "" {
			return crm.Page{Records: out}, nil
		}
		after = next
	}
	return crm.Page{Records: out, After: after}, nil
}

// NextRecords implements Store.
func (s *Store) NextRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType, after string, n int, props []string) ([]crm.Record, string, error) {
	if n < 1 || n > crm.MaxScriptBatch {
		return nil, "", &crm.ValidationError{Field: "limit", Code: "INVALID_LIMIT",
			Message: fmt.Sprintf("limit %d is out of range: use 1 to %d", n, crm.MaxScriptBatch)}
	}
	min, err := parseAfter(after)
	if err != nil {
		return nil, "", err
	}
	raw, err := s.rdb.ZRangeByScore(ctx, LiveKey(t, o), &redis.ZRangeBy{Min: min, Max: "+inf", Count: int64(n)}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("scan %s: %w", o, err)
	}
	next := ""
	if len(raw) == n {
		next = raw[n-1]
	}
	ids := make([]crm.RecordID, len(raw))
	for i, id := range raw {
		ids[i] = crm.RecordID(id)
	}
	recs, err := s.Records(ctx, t, o, ids, &crm.ReadOpts{Properties: props})
	return recs, next, err
}

// pageIDs reads one page of ids from a ZSET scored by the numeric id.
func (s *Store) pageIDs(ctx context.Context, index string, opts *crm.ListOpts) ([]crm.RecordID, string, error) {
	limit, err := pageLimit(opts.Limit)
	if err != nil {
		return nil, "", err
	}
	min, err := parseAfter(opts.After)
	if err != nil {
		return nil, "", err
	}
	raw, err := s.rdb.ZRangeByScore(ctx, index, &redis.ZRangeBy{Min: min, Max: "+inf", Count: int64(limit + 1)}).Result()
	if err != nil {
		return nil, "", fmt.Errorf("page %s: %w", index, err)
	}
	next := ""
	if len(raw) > limit {
		raw = raw[:limit]
		next = raw[limit-1]
	}
	ids := make([]crm.RecordID, len(raw))
	for i, id := range raw {
		ids[i] = crm.RecordID(id)
	}
	return ids, next, nil
}

// ContactByEmail implements Store.
func (s *Store) ContactByEmail(ctx context.Context, t crm.TenantID, email string) (crm.RecordID, error) {
	e, err := crm.NormalizeEmail(email)
	if err != nil {
		return "", &crm.ValidationError{Field: "email", Code: "INVALID_EMAIL", Message: fmt.Sprintf("%q is not an email address", email)}
	}
	id, err := s.rdb.HGet(ctx, EmailIndexKey(t), e).Result()
	if errors.Is(err, redis.Nil) {
		return "", &crm.NotFoundError{Kind: "contact with email", ID: e}
	}
	if err != nil {
		return "", fmt.Errorf("find contact by email: %w", err)
	}
	return crm.RecordID(id), nil
}

// ContactsByEmails implements Store.
func (s *Store) ContactsByEmails(ctx context.Context, t crm.TenantID, emails []string) (map[string]crm.RecordID, error) {
	given := make([]string, 0, len(emails))
	norm := make([]string, 0, len(emails))
	for _, e := range emails {
		if n, err := crm.NormalizeEmail(e); err == nil {
			given = append(given, e)
			norm = append(norm, n)
		}
	}
	out := make(map[string]crm.RecordID, len(norm))
	if len(norm) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, EmailIndexKey(t), norm...).Result()
	if err != nil {
		return nil, fmt.Errorf("find contacts by email: %w", err)
	}
	for i, v := range vals {
		if id, ok := v.(string); ok {
			out[given[i]] = crm.RecordID(id)
		}
	}
	return out, nil
}

// parseRev reads a stored workflow revision; "" or a bad value is 0.
func parseRev(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
