package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// upsertAttempts is how often UpsertContacts looks the emails up again when another writer
// created or deleted one of its contacts between its look-up and its writes.
const upsertAttempts = 3

// UpsertContacts creates or updates contacts by email, in input order. It looks every email up in
// one round trip, then creates the new contacts in one script and updates the others in another:
// each contact is changed atomically, the creates all or none and the updates all or none. An
// invalid email, the same contact twice, a property refused by the schema or an "email" property
// other than the input's email refuse the whole call with *ValidationError before anything is
// written; the errors of CreateRecords and UpdateRecords apply to their parts. The creates are
// written first, after a check that the updates would be written too: a refusal of either part
// leaves nothing changed, unless another writer changes the same records between the two. A
// contact created or deleted by another writer meanwhile makes it look again, up to three times,
// and then fails with *ConflictError.
func (s *Store) UpsertContacts(ctx context.Context, t crm.TenantID, in []crm.ContactUpsert, by crm.Actor) ([]crm.UpsertedRecord, error) {
	if err := checkBatch(len(in)); err != nil {
		return nil, err
	}
	sch, err := s.Schema(ctx, t, crm.Contacts)
	if err != nil {
		return nil, err
	}
	norm := make([]string, len(in))
	seen := map[string]int{}
	var verrs crm.ValidationErrors
	for i, u := range in {
		e, err := crm.NormalizeEmail(u.Email)
		if err != nil {
			verrs = append(verrs, &crm.ValidationError{Field: "id", Code: "INVALID_EMAIL",
				Message: fmt.Sprintf("inputs[%d]: id %q is not an email address: with idProperty email, id is the contact's email", i, u.Email)})
			continue
		}
		if j, dup := seen[e]; dup {
			verrs = append(verrs, &crm.ValidationError{Field: "inputs", Code: "DUPLICATE_ID",
				Message: fmt.Sprintf("inputs[%d] and inputs[%d] both name %s: merge the two inputs", j, i, e)})
		}
		seen[e] = i
		norm[i] = e
		if v, ok := u.Properties["email"]; ok {
			if pe, err := crm.NormalizeEmail(v); err != nil || pe != e {
				verrs = append(verrs, &crm.ValidationError{Field: "email", Code: "EMAIL_MISMATCH",
					Message: fmt.Sprintf("inputs[%d]: properties.email %q is not the id %q: leave it out (the id is the email) or make them equal; to change a contact's email, update it by id", i, v, u.Email)})
			}
		}
		if _, err := sch.Normalize(u.Properties); err != nil {
			var ves crm.ValidationErrors
			if !errors.As(batchErr(i, 2, err), &ves) {
				return nil, err
			}
			verrs = append(verrs, ves...)
		}
	}
	if len(verrs) > 0 {
		return nil, verrs
	}
	props := make([]map[string]string, len(in))
	for i, u := range in {
		props[i] = u.Properties
	}
	return s.upsert(ctx, t, upsertKey{o: crm.Contacts, prop: "email", keys: norm,
		lookup: func(ctx context.Context, keys []string) (map[string]crm.RecordID, error) {
			return s.ContactsByEmails(ctx, t, keys)
		},
		raced: func(err error, mine map[string]bool) bool {
			var conflict *crm.EmailConflictError
			return errors.As(err, &conflict) && mine[conflict.Email]
		}}, props, by)
}

// UpsertRecords creates or updates records of type o by the unique property prop
// (Property.Unique), in input order, as UpsertContacts does by email: one round trip looks every
// value up, one script creates the new records and another updates the others. A property that is
// not unique, an empty or invalid id (a number property takes numbers), the same id twice, a
// property refused by the schema or a value of prop other than the id refuse the whole call with
// *ValidationError before anything is written. A record created or deleted by another writer
// meanwhile makes it look again, up to three times, and then fails with *ConflictError. Contacts
// by "email" go to UpsertContacts. It is safe for concurrent use.
func (s *Store) UpsertRecords(ctx context.Context, t crm.TenantID, o crm.ObjectType, prop string, in []crm.RecordUpsert, by crm.Actor) ([]crm.UpsertedRecord, error) {
	if o == crm.Contacts && prop == "email" {
		cu := make([]crm.ContactUpsert, len(in))
		for i, u := range in {
			cu[i] = crm.ContactUpsert{Email: u.ID, Properties: u.Properties}
		}
		return s.UpsertContacts(ctx, t, cu, by)
	}
	if err := checkBatch(len(in)); err != nil {
		return nil, err
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return nil, err
	}
	p, err := uniqueProperty(sch, prop)
	if err != nil {
		return nil, err
	}
	norm := make([]string, len(in))
	props := make([]map[string]string, len(in))
	seen := map[string]int{}
	var verrs crm.ValidationErrors
	for i, u := range in {
		v, bad := crm.NormalizeValue(p, u.ID)
		if strings.TrimSpace(u.ID) == "" || bad != nil {
			verrs = append(verrs, &crm.ValidationError{Field: "id", Code: "INVALID_ID",
				Message: fmt.Sprintf("inputs[%d]: id %q is not a valid %s value of %s: with idProperty %s, id is the record's %s", i, u.ID, p.Type, prop, prop, prop)})
			continue
		}
		if j, dup := seen[v]; dup {
			verrs = append(verrs, &crm.ValidationError{Field: "inputs", Code: "DUPLICATE_ID",
				Message: fmt.Sprintf("inputs[%d] and inputs[%d] both name %s %q: merge the two inputs", j, i, prop, v)})
		}
		seen[v] = i
		norm[i] = v
		if pv, ok := u.Properties[prop]; ok {
			if got, bad := crm.NormalizeValue(p, pv); bad != nil || got != v {
				verrs = append(verrs, &crm.ValidationError{Field: prop, Code: "ID_PROPERTY_MISMATCH",
					Message: fmt.Sprintf("inputs[%d]: properties.%s %q is not the id %q: leave it out (the id is the %s) or make them equal; to change it, update the record by id", i, prop, pv, u.ID, prop)})
			}
		}
		if _, err := sch.Normalize(u.Properties); err != nil {
			var ves crm.ValidationErrors
			if !errors.As(batchErr(i, 2, err), &ves) {
				return nil, err
			}
			verrs = append(verrs, ves...)
		}
		props[i] = u.Properties
	}
	if len(verrs) > 0 {
		return nil, verrs
	}
	return s.upsert(ctx, t, upsertKey{o: o, prop: prop, keys: norm,
		lookup: func(ctx context.Context, keys []string) (map[string]crm.RecordID, error) {
			return s.recordsByUnique(ctx, t, o, prop, keys)
		},
		raced: func(err error, mine map[string]bool) bool {
			var conflict *crm.UniqueConflictError
			return errors.As(err, &conflict) && conflict.Property == prop && mine[conflict.Value]
		}}, props, by)
}

// upsertKey is what an upsert names its records by: the property prop of type o, each input's
// value of it in keys (normalized), how to look those up in one round trip (lookup, keyed by the
// value), and how to tell a create refused because another writer took one of mine meanwhile.
type upsertKey struct {
	o      crm.ObjectType
	prop   string
	keys   []string
	lookup func(ctx context.Context, keys []string) (map[string]crm.RecordID, error)
	raced  func(err error, mine map[string]bool) bool
}

// upsert runs the attempts of an upsert of validated inputs (props, parallel to k.keys).
func (s *Store) upsert(ctx context.Context, t crm.TenantID, k upsertKey, props []map[string]string, by crm.Actor) ([]crm.UpsertedRecord, error) {
	out := make([]crm.UpsertedRecord, len(props))
	done := make([]bool, len(props))
	for attempt := 1; ; attempt++ {
		retry, err := s.upsertOnce(ctx, t, k, props, done, out, by)
		if err != nil {
			return nil, err
		}
		if !retry {
			return out, nil
		}
		if attempt == upsertAttempts {
			return nil, &crm.ConflictError{Message: fmt.Sprintf(
				"other writers created or deleted the same %s during this upsert, %d times in a row: send it again", k.o, attempt)}
		}
	}
}

// upsertOnce runs one attempt of an upsert over the inputs not yet done, filling out and done;
// retry says another writer got in the way and the rest must be looked up again.
func (s *Store) upsertOnce(ctx context.Context, t crm.TenantID, k upsertKey, in []map[string]string, done []bool, out []crm.UpsertedRecord, by crm.Actor) (retry bool, err error) {
	norm := k.keys
	var todo []int
	for i := range in {
		if !done[i] {
			todo = append(todo, i)
		}
	}
	keys := make([]string, len(todo))
	for n, i := range todo {
		keys[n] = norm[i]
	}
	found, err := k.lookup(ctx, keys)
	if err != nil {
		return false, err
	}
	var creates, updates []int
	for _, i := range todo {
		if _, ok := found[norm[i]]; ok {
			updates = append(updates, i)
		} else {
			creates = append(creates, i)
		}
	}
	ups := make([]crm.RecordUpdate, len(updates))
	seen := make(map[crm.RecordID]int, len(updates))
	for n, i := range updates {
		id := found[norm[i]]
		if j, dup := seen[id]; dup { // a contact's primary email and an additional one
			return false, &crm.ValidationError{Field: "inputs", Code: "DUPLICATE_ID",
				Message: fmt.Sprintf("inputs[%d] (%s) and inputs[%d] (%s) both name %s record %s: merge them into one input", j, norm[j], i, norm[i], k.o, id)}
		}
		seen[id] = i
		ups[n] = crm.RecordUpdate{ID: id, Properties: in[i]}
	}
	if len(creates) > 0 && len(updates) > 0 {
		// The creates are written first: ask now whether the updates would be refused (a taken
		// email or unique value, the same record named twice), so that such a refusal leaves no
		// record created. Only a writer racing this call can still refuse them after the creates.
		var nf *crm.NotFoundError
		switch err := s.checkUpdates(ctx, t, k.o, ups); {
		case errors.As(err, &nf):
			return true, nil // deleted by another writer since the look-up: create it instead
		case err != nil:
			return false, err
		}
	}
	if len(creates) > 0 {
		recs := make([]crm.RecordInput, len(creates))
		mine := map[string]bool{}
		for n, i := range creates {
			props := maps.Clone(in[i])
			if props == nil {
				props = map[string]string{}
			}
			props[k.prop] = norm[i]
			recs[n] = crm.RecordInput{Properties: props}
			mine[norm[i]] = true
		}
		created, err := s.CreateRecords(ctx, t, k.o, recs, by)
		switch {
		case k.raced(err, mine):
			return true, nil // created by another writer since the look-up: update it instead
		case err != nil:
			return false, err
		}
		for n, i := range creates {
			out[i] = crm.UpsertedRecord{Record: created[n], Created: true}
			done[i] = true
		}
	}
	if len(updates) > 0 {
		updated, err := s.UpdateRecords(ctx, t, k.o, ups, by)
		var nf *crm.NotFoundError
		switch {
		case errors.As(err, &nf):
			return true, nil // deleted by another writer since the look-up: create it instead
		case err != nil:
			return false, err
		}
		byID := make(map[crm.RecordID]crm.Record, len(updated))
		for _, r := range updated {
			byID[r.ID] = r
		}
		for n, i := range updates {
			r, ok := byID[ups[n].ID]
			if !ok {
				return true, nil // deleted right after the update: look it up again
			}
			out[i] = crm.UpsertedRecord{Record: r}
			done[i] = true
		}
	}
	return false, nil
}
