package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// enqueueTimeout bounds a call of Config.Tasks. The enqueue runs after the store has written the
// work, so it is detached from the request's cancellation: a client that hangs up does not lose
// the enqueue (and a lost one is picked up by the worker's sweep anyway).
const enqueueTimeout = 5 * time.Second

// enqueueContext is the context of a Tasks call made on behalf of r.
func enqueueContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), enqueueTimeout)
}

// archiveObject serves DELETE /crm/v3/objects/{objectType}/{id}: it moves one live record into the
// bin (restorable, SPEC S4) and answers 204. A record already in the bin answers 204 too (a
// retried delete, as in HubSpot), and changes nothing; one neither live nor in the bin is a 404; one that a
// protection rule protects is a 409 PROTECTED naming the rule, and nothing changes (SPEC S25).
func (s *Server) archiveObject(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	id, err := pathRecordID(r, "id")
	if err != nil {
		return err
	}
	res, err := s.archiveUnprotected(r, p.Tenant, o, []crm.RecordID{id}, actor(p))
	if err != nil {
		return fmt.Errorf("archive %s %s: %w", o, id, err)
	}
	if len(res.Archived) == 0 {
		// A record already in the bin is deleted: the answer is the same as the first delete's, as
		// in HubSpot, so that a client retrying a delete whose answer it lost is not told it failed.
		// The bin is read only here, on this rare path; nothing changes and nothing is audited.
		_, err := s.store.Record(r.Context(), p.Tenant, o, id, &crm.ReadOpts{Archived: true})
		var nf *crm.NotFoundError
		if errors.As(err, &nf) {
			return errNotFound("record", fmt.Sprintf("%s/%s", o, id))
		}
		if err != nil {
			return fmt.Errorf("read %s %s in the bin: %w", o, id, err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type batchIDsInput struct {
	Inputs []idInput `json:"inputs"`
}

// decodeBatchIDs reads the body of batch/restore: 1 to 100 inputs, returned without duplicates.
func (s *Server) decodeBatchIDs(w http.ResponseWriter, r *http.Request) ([]crm.RecordID, error) {
	var in batchIDsInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return nil, err
	}
	if err := checkBatchSize(len(in.Inputs)); err != nil {
		return nil, err
	}
	return batchIDs(in.Inputs), nil
}

// wellFormed returns the ids that can exist (decimal ones); the others can never be live nor in
// the bin.
func wellFormed(ids []crm.RecordID) []crm.RecordID {
	return slices.DeleteFunc(slices.Clone(ids), func(id crm.RecordID) bool { return !numericID.MatchString(string(id)) })
}

// batchArchive serves POST /crm/v3/objects/{objectType}/batch/archive: it moves up to 100 records
// into the bin in one step and answers 204. More than one record also needs bulk_delete (SPEC
// S2). As in HubSpot, well-formed ids that are not live are ignored; an input without an id, with
// one that is not a record id, or naming a record a second time is a 400 naming every such input,
// and nothing is deleted. When protection rules protect some of the records, the whole batch is
// refused with a 409 PROTECTED naming each of them with its rule, and nothing changes (SPEC S25).
func (s *Server) batchArchive(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	var in batchIDsInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := checkBatchSize(len(in.Inputs)); err != nil {
		return err
	}
	given := make([]flexID, len(in.Inputs))
	for i, x := range in.Inputs {
		given[i] = x.ID
	}
	if err := checkDeleteIDs(o, given, archiveInputs); err != nil {
		return err
	}
	ids := batchIDs(in.Inputs)
	if len(ids) > 1 {
		if err := requirePerms(p, crm.PermBulkDelete); err != nil {
			return err
		}
	}
	if _, err := s.archiveUnprotected(r, p.Tenant, o, ids, actor(p)); err != nil {
		return fmt.Errorf("batch archive %s: %w", o, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteIDsField says where a delete request names its record ids, for checkDeleteIDs.
type deleteIDsField struct {
	// noun is what the request calls its entries in a message: "inputs", "ids".
	noun string
	// at is the position of the i-th id, with %d for i: "inputs[%d].id", "ids[%d]".
	at string
	// example is one id as the request writes it: {"id": "123"}, "123".
	example string
	// repeats lets an id be given again; it then counts once, and only its first position is kept.
	repeats bool
}

// archiveInputs are the ids of batch/archive: {"id": "123"} each, none twice.
var archiveInputs = deleteIDsField{noun: "inputs", at: "inputs[%d].id", example: `{"id": "123"}`}

// bulkDeleteIDs are the ids of bulk-delete: "123" each; an id given twice counts once.
var bulkDeleteIDs = deleteIDsField{noun: "ids", at: "ids[%d]", example: `"123"`, repeats: true}

// checkDeleteIDs refuses the ids of a delete of records of type o (batch/archive, bulk-delete) when
// one is empty, is not an id a record can have (ids are whole numbers without leading zeros, as
// the store allocates them; see recordID), or repeats an earlier one where f forbids that: a 400
// with one error per such entry, in its position (f.at). A delete is not retried the way a read
// is, so a client that sent an email for an id, a typo, or the same record twice hears of it
// rather than getting a 204 or a job that does less than it meant. Well-formed ids of records that
// are not live pass: each caller decides what they do.
func checkDeleteIDs(o crm.ObjectType, ids []flexID, f deleteIDsField) error {
	var details []errorDetail
	first := make(map[flexID]int, len(ids))
	for i, id := range ids {
		at := fmt.Sprintf(f.at, i)
		j, dup := first[id]
		switch {
		case id == "":
			details = append(details, errorDetail{Code: "MISSING_ID", In: at,
				Message: fmt.Sprintf(`%s is missing: give the id of each %s record to delete, as %s`, at, o, f.example)})
		case !recordID.MatchString(string(id)):
			details = append(details, errorDetail{Code: "INVALID_ID", In: at,
				Message: fmt.Sprintf("%s %q is not a record id: ids are whole numbers without leading zeros or spaces, as the API returns them "+
					"(to delete records named by email or another unique property, read their ids with batch/read and idProperty first)", at, string(id))})
		case dup && !f.repeats:
			details = append(details, errorDetail{Code: "DUPLICATE_ID", In: at,
				Message: fmt.Sprintf("%s %q repeats %s: name each record once", at, string(id), fmt.Sprintf(f.at, j))})
		case !dup:
			first[id] = i
		}
	}
	if len(details) == 0 {
		return nil
	}
	msg := details[0].Message + ": nothing was deleted"
	if len(details) > 1 {
		msg = fmt.Sprintf("%d %s are invalid, nothing was deleted: %s (and %d more in errors)", len(details), f.noun, details[0].Message, len(details)-1)
	}
	return &apiError{status: http.StatusBadRequest, category: categoryValidation, message: msg, details: details}
}

// batchRestore serves POST /crm/v3/objects/{objectType}/batch/restore: it brings up to 100
// records back from the bin. Each input succeeds or fails on its own: 200 with the restored records
// when all were restored, else 207 whose errors say which failed and why (OBJECT_NOT_FOUND for ids
// not in the bin; CONFLICT, naming the blocking contact, for a contact whose email is now taken;
// CONFLICT, naming the property, for a contact with an email permanently deleted since).
func (s *Server) batchRestore(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	started := s.clock.Now()
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	ids, err := s.decodeBatchIDs(w, r)
	if err != nil {
		return err
	}
	var res crm.RestoreResult
	if lookup := wellFormed(ids); len(lookup) > 0 {
		if res, err = s.store.RestoreRecords(r.Context(), p.Tenant, o, lookup, actor(p)); err != nil {
			return fmt.Errorf("batch restore %s: %w", o, err)
		}
	}
	var recs []crm.Record
	if len(res.Restored) > 0 {
		if recs, err = s.store.Records(r.Context(), p.Tenant, o, res.Restored, nil); err != nil {
			return fmt.Errorf("read restored %s: %w", o, err)
		}
	}
	out := s.batchResult(started, toRecordsJSON(recs))
	out.Errors = restoreErrors(o, ids, res)
	if out.NumErrors = len(out.Errors); out.NumErrors > 0 {
		writeJSON(w, http.StatusMultiStatus, out)
		return nil
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// restoreErrors are the errors of a 207 restore: one per email conflict, naming the blocking
// contact, one per contact with an erased (blocklisted) email, and one for every id that was not
// in the bin (malformed ids included).
func restoreErrors(o crm.ObjectType, ids []crm.RecordID, res crm.RestoreResult) []batchErrorJSON {
	var out []batchErrorJSON
	var missing []string
	failed := map[crm.RecordID]error{}
	for _, f := range res.Failed {
		failed[f.ID] = f.Err
	}
	for _, id := range ids {
		if slices.Contains(res.Restored, id) {
			continue
		}
		var ec *crm.EmailConflictError
		var ee *crm.ErasedEmailError
		var uc *crm.UniqueConflictError
		var re *crm.RetentionExpiredError
		switch err := failed[id]; {
		case errors.As(err, &ee):
			out = append(out, batchErrorJSON{
				Status:   "error",
				Category: categoryConflict,
				Message:  fmt.Sprintf("could not restore %s %s: %s", o, id, ee.Error()),
				Context:  map[string][]string{"id": {string(id)}, "property": {ee.Property}},
			})
		case errors.As(err, &re):
			out = append(out, batchErrorJSON{
				Status:   "error",
				Category: categoryConflict,
				Message:  fmt.Sprintf("could not restore %s %s: %s", o, id, re.Error()),
				Context: map[string][]string{"id": {string(id)}, "deletedAt": {crm.FormatDatetime(re.DeletedAt)},
					"restorableUntil": {crm.FormatDatetime(re.ExpiredAt)}},
			})
		case errors.As(err, &ec):
			out = append(out, batchErrorJSON{
				Status:   "error",
				Category: categoryConflict,
				Message: fmt.Sprintf("could not restore %s %s: its email %s now belongs to the live contact %s: "+
					"change that contact's email or delete it, then restore again", o, id, ec.Email, ec.BlockingID),
				Context: map[string][]string{"id": {string(id)}, "blockingId": {string(ec.BlockingID)}},
			})
		case errors.As(err, &uc):
			out = append(out, batchErrorJSON{
				Status:   "error",
				Category: categoryConflict,
				Message: fmt.Sprintf("could not restore %s %s: its %s %q now belongs to the live record %s, and %s values are unique: "+
					"change that record's %s or delete it, then restore again", o, id, uc.Property, uc.Value, uc.BlockingID, uc.Property, uc.Property),
				Context: map[string][]string{"id": {string(id)}, "blockingId": {string(uc.BlockingID)},
					"property": {uc.Property}, "value": {uc.Value}},
			})
		default: // not in the bin: never deleted, purged, permanently deleted, restored already, or malformed
			missing = append(missing, string(id))
		}
	}
	if len(missing) > 0 {
		out = append(out, batchErrorJSON{
			Status:   "error",
			Category: categoryNotFound,
			Message: fmt.Sprintf("could not restore some %s records: they are not in the recycle bin (never deleted, "+
				"restored already, or purged after the retention period) (%d missing)", o, len(missing)),
			Context: map[string][]string{"id": missing},
		})
	}
	return out
}

// noContactToErase is the 404 of a permanent delete by an id that no contact has, live or in the
// bin. Erased or purged already is the likely cause when a privacy request is answered twice, and
// then the id can no longer blocklist the contact's emails: only its email can.
func noContactToErase(id string) error {
	msg := fmt.Sprintf("there is no contact %s, live or in the recycle bin, so nothing was erased: it was erased or purged "+
		"already, or the id is another; to make sure its email address stays blocklisted, erase by email "+
		"(\"objectId\": the address, \"idProperty\": \"email\")", id)
	return &apiError{status: http.StatusNotFound, category: categoryNotFound, message: msg,
		details: []errorDetail{{Message: msg, Code: "OBJECT_NOT_FOUND", In: "record"}}}
}

// gdprDeleteInput is the body of gdpr-delete, as in HubSpot.
type gdprDeleteInput struct {
	ObjectID   flexID `json:"objectId"`
	IDProperty string `json:"idProperty"`
}

// gdprDelete serves POST /crm/v3/objects/contacts/gdpr-delete: the permanent delete of one contact
// (SPEC S9-S12), by id or, with "idProperty": "email", by email; 204. It works on a live contact
// or one in the bin; an unknown email succeeds and is blocklisted; an unknown id is a 404. Any other
// object type is a 400: permanent delete is for contacts only.
//
// The store writes the confirmation email to the acting user in the same step as the delete; the
// handler then enqueues it with Config.Tasks. A failed enqueue is logged and the answer is still 204:
// the pending mail is durable, and the worker's sweep enqueues it again.
func (s *Server) gdprDelete(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	if v := r.PathValue("objectType"); v != string(crm.Contacts) && hubSpotTypeIDs[v] != crm.Contacts {
		return errInvalid("objectType", "CONTACTS_ONLY",
			"permanent delete is for contacts only, not %q: use POST /crm/v3/objects/contacts/gdpr-delete for a contact, "+
				"or delete other records restorably with DELETE /crm/v3/objects/%s/{id}", v, v)
	}
	var in gdprDeleteInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	params := crm.PermanentDeleteParams{By: p.User.Email}
	id := strings.TrimSpace(string(in.ObjectID))
	switch {
	case id == "":
		return errInvalid("objectId", "REQUIRED", "objectId is required: the contact's id, or its email with \"idProperty\": \"email\"")
	case in.IDProperty == "email":
		params.Email = id
	case in.IDProperty != "" && in.IDProperty != "hs_object_id":
		return errInvalid("idProperty", "INVALID_ID_PROPERTY",
			"idProperty %q is not supported: use \"email\", or leave it out to name the contact by id", in.IDProperty)
	case strings.Contains(id, "@"):
		return errInvalid("objectId", "INVALID_ID",
			"objectId %q looks like an email: add \"idProperty\": \"email\" to delete the contact of that email", id)
	case !numericID.MatchString(id):
		return noContactToErase(id)
	default:
		params.ID = crm.RecordID(id)
	}
	res, err := s.store.PermanentDeleteContact(r.Context(), p.Tenant, params)
	if params.ID != "" && errors.Is(err, crm.ErrNotFound) {
		return noContactToErase(id)
	}
	if err != nil {
		return fmt.Errorf("permanent delete: %w", err)
	}
	log := s.cfg.Logger.With(slog.String("tenant_id", string(p.Tenant)),
		slog.String("correlation_id", correlationID(r.Context())), slog.Any("mail", res.Mail))
	if s.cfg.Tasks == nil {
		log.WarnContext(r.Context(), "no task queue configured: the permanent delete's confirmation email stays pending until the worker's sweep")
	} else {
		ctx, cancel := enqueueContext(r)
		err := s.cfg.Tasks.EnqueueMail(ctx, p.Tenant, res.Mail)
		cancel()
		if err != nil {
			log.WarnContext(r.Context(), "enqueue the permanent delete's confirmation email failed: it stays pending until the worker's sweep",
				slog.String("error", err.Error()))
		}
	}
	// The answer stays HubSpot's 204, with no body; this header says how many calls went with it.
	w.Header().Set(HeaderCallsErased, strconv.Itoa(res.CallsErased))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// HeaderCallsErased is the header of a gdpr-delete's 204: how many calls associated with the
// contact were erased with it, including calls also associated with other records (SPEC S9).
const HeaderCallsErased = "Crmflow-Calls-Erased"
