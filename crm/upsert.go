package crm

import (
	"context"
	"errors"
	"fmt"
	"maps"
)

// ContactUpsert is one contact to create or update, named by its email.
type ContactUpsert struct {
	// Email names the contact: the live contact with that primary or additional email is updated;
	// when there is none, a contact with that primary email is created.
	Email string
	// Properties are set as in CreateRecords or UpdateRecords. An "email" among them must be Email.
	Properties map[string]string
}

// UpsertedRecord is the outcome of one ContactUpsert.
type UpsertedRecord struct {
	Record
	// Created says the record was created rather than updated.
	Created bool
}

// upsertAttempts is how often UpsertContacts looks the emails up again when another writer
// created or deleted one of its contacts between its look-up and its writes.
const upsertAttempts = 3

// UpsertContacts creates or updates contacts by email, in input order. It looks every email up in
// one round trip, then creates the new contacts in one script and updates the others in another:
// each contact is changed atomically, the creates all or none and the updates all or none. An
// invalid email, the same contact twice, a property refused by the schema or an "email" property
// other than the input's email refuse the whole call with *ValidationError before anything is
// written; the errors of CreateRecords and UpdateRecords apply to their parts (the creates are
// written first). A contact created or deleted by another writer meanwhile makes it look again,
// up to three times, and then fails with *ConflictError.
func (s *RedisStore) UpsertContacts(ctx context.Context, t TenantID, in []ContactUpsert, by Actor) ([]UpsertedRecord, error) {
	if err := checkBatch(len(in)); err != nil {
		return nil, err
	}
	sch, err := s.Schema(ctx, t, Contacts)
	if err != nil {
		return nil, err
	}
	norm := make([]string, len(in))
	seen := map[string]int{}
	var verrs ValidationErrors
	for i, u := range in {
		e, err := NormalizeEmail(u.Email)
		if err != nil {
			verrs = append(verrs, &ValidationError{Field: "id", Code: "INVALID_EMAIL",
				Message: fmt.Sprintf("inputs[%d]: id %q is not an email address: with idProperty email, id is the contact's email", i, u.Email)})
			continue
		}
		if j, dup := seen[e]; dup {
			verrs = append(verrs, &ValidationError{Field: "inputs", Code: "DUPLICATE_ID",
				Message: fmt.Sprintf("inputs[%d] and inputs[%d] both name %s: merge the two inputs", j, i, e)})
		}
		seen[e] = i
		norm[i] = e
		if v, ok := u.Properties["email"]; ok {
			if pe, err := NormalizeEmail(v); err != nil || pe != e {
				verrs = append(verrs, &ValidationError{Field: "email", Code: "EMAIL_MISMATCH",
					Message: fmt.Sprintf("inputs[%d]: properties.email %q is not the id %q: leave it out (the id is the email) or make them equal; to change a contact's email, update it by id", i, v, u.Email)})
			}
		}
		if _, err := sch.Normalize(u.Properties); err != nil {
			var ves ValidationErrors
			if !errors.As(batchErr(i, 2, err), &ves) {
				return nil, err
			}
			verrs = append(verrs, ves...)
		}
	}
	if len(verrs) > 0 {
		return nil, verrs
	}
	out := make([]UpsertedRecord, len(in))
	done := make([]bool, len(in))
	for attempt := 1; ; attempt++ {
		retry, err := s.upsertOnce(ctx, t, in, norm, done, out, by)
		if err != nil {
			return nil, err
		}
		if !retry {
			return out, nil
		}
		if attempt == upsertAttempts {
			return nil, &ConflictError{Message: fmt.Sprintf(
				"other writers created or deleted the same contacts during this upsert, %d times in a row: send it again", attempt)}
		}
	}
}

// upsertOnce runs one attempt of UpsertContacts over the inputs not yet done, filling out and
// done; retry says another writer got in the way and the rest must be looked up again.
func (s *RedisStore) upsertOnce(ctx context.Context, t TenantID, in []ContactUpsert, norm []string, done []bool, out []UpsertedRecord, by Actor) (retry bool, err error) {
	var todo []int
	for i := range in {
		if !done[i] {
			todo = append(todo, i)
		}
	}
	emails := make([]string, len(todo))
	for k, i := range todo {
		emails[k] = norm[i]
	}
	found, err := s.ContactsByEmails(ctx, t, emails)
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
	if len(creates) > 0 {
		recs := make([]RecordInput, len(creates))
		mine := map[string]bool{}
		for k, i := range creates {
			props := maps.Clone(in[i].Properties)
			if props == nil {
				props = map[string]string{}
			}
			props["email"] = norm[i]
			recs[k] = RecordInput{Properties: props}
			mine[norm[i]] = true
		}
		created, err := s.CreateRecords(ctx, t, Contacts, recs, by)
		var conflict *EmailConflictError
		switch {
		case errors.As(err, &conflict) && mine[conflict.Email]:
			return true, nil // created by another writer since the look-up: update it instead
		case err != nil:
			return false, err
		}
		for k, i := range creates {
			out[i] = UpsertedRecord{Record: created[k], Created: true}
			done[i] = true
		}
	}
	if len(updates) > 0 {
		ups := make([]RecordUpdate, len(updates))
		for k, i := range updates {
			ups[k] = RecordUpdate{ID: found[norm[i]], Properties: in[i].Properties}
		}
		updated, err := s.UpdateRecords(ctx, t, Contacts, ups, by)
		var nf *NotFoundError
		switch {
		case errors.As(err, &nf):
			return true, nil // deleted by another writer since the look-up: create it instead
		case err != nil:
			return false, err
		}
		byID := make(map[RecordID]Record, len(updated))
		for _, r := range updated {
			byID[r.ID] = r
		}
		for k, i := range updates {
			r, ok := byID[ups[k].ID]
			if !ok {
				return true, nil // deleted right after the update: look it up again
			}
			out[i] = UpsertedRecord{Record: r}
			done[i] = true
		}
	}
	return false, nil
}
