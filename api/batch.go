package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// batchJSON is the response of a batch endpoint. NumErrors and Errors are set on a 207, when some
// inputs failed and the others succeeded.
type batchJSON[T any] struct {
	Status      string           `json:"status"`
	Results     []T              `json:"results"`
	NumErrors   int              `json:"numErrors,omitempty"`
	Errors      []batchErrorJSON `json:"errors,omitempty"`
	StartedAt   string           `json:"startedAt"`
	CompletedAt string           `json:"completedAt"`
}

// batchErrorJSON is one failure inside a 207 batch response; Context names the failed ids.
type batchErrorJSON struct {
	Status   string              `json:"status"`
	Category string              `json:"category"`
	Message  string              `json:"message"`
	Context  map[string][]string `json:"context,omitempty"`
}

// MarshalJSON implements json.Marshaler. It writes the failure as HubSpot's StandardError, whose
// errors and links its clients' models require: both empty, since a failure's ids are in its context.
func (e batchErrorJSON) MarshalJSON() ([]byte, error) {
	type plain batchErrorJSON
	return json.Marshal(struct {
		plain
		Errors []errorDetail     `json:"errors"`
		Links  map[string]string `json:"links"`
	}{plain(e), []errorDetail{}, map[string]string{}})
}

// checkBatchSize refuses a batch of no inputs or of more than maxBatchInputs.
func checkBatchSize(n int) error { return checkBatchLimit(n, maxBatchInputs) }

// checkBatchLimit refuses a batch of no inputs or of more than limit.
func checkBatchLimit(n, limit int) error {
	switch {
	case n == 0:
		return errInvalid("inputs", "EMPTY_BATCH", "inputs is empty: send from 1 to %d inputs", limit)
	case n > limit:
		return errInvalid("inputs", "TOO_MANY_INPUTS",
			"inputs has %d entries, over the limit of %d per batch request: split it into batches of at most %d",
			n, limit, limit)
	}
	return nil
}

// batchIDs returns the ids of a batch without duplicates, in their first order.
func batchIDs(in []idInput) []crm.RecordID {
	out := make([]crm.RecordID, 0, len(in))
	for _, x := range in {
		if id := crm.RecordID(x.ID); !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// idInput is one input of batch/read (and of the batch deletes): {"id": "1"}.
type idInput struct {
	ID flexID `json:"id"`
}

type batchCreateInput struct {
	Inputs []createInput `json:"inputs"`
}

// batchCreate serves POST /crm/v3/objects/{objectType}/batch/create: all records or none, with
// their associations, 201.
func (s *Server) batchCreate(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	started := s.clock.Now()
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	var in batchCreateInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := checkBatchSize(len(in.Inputs)); err != nil {
		return err
	}
	inputs := make([]crm.RecordInput, len(in.Inputs))
	for i, x := range in.Inputs {
		if inputs[i], err = x.recordInput(o, fmt.Sprintf("inputs[%d].", i)); err != nil {
			return err
		}
	}
	recs, err := s.store.CreateRecords(r.Context(), p.Tenant, o, inputs, actor(p))
	if err != nil {
		return fmt.Errorf("batch create %s: %w", o, err)
	}
	out := toRecordsJSON(recs)
	for i := range out {
		out[i].ObjectWriteTraceID = in.Inputs[i].ObjectWriteTraceID
	}
	writeJSON(w, http.StatusCreated, s.batchResult(started, out))
	return nil
}

type batchReadInput struct {
	Inputs                []idInput `json:"inputs"`
	Properties            []string  `json:"properties"`
	PropertiesWithHistory []string  `json:"propertiesWithHistory"`
	IDProperty            string    `json:"idProperty"`
}

// batchRead serves POST /crm/v3/objects/{objectType}/batch/read?archived=: 200 when every id was
// found, 207 with the missing ids named in errors otherwise. With "idProperty": "email" the ids
// are contacts' emails, with a unique property its values (of live records only), all looked up
// in one round trip.
func (s *Server) batchRead(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	started := s.clock.Now()
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	archived, err := queryArchived(r)
	if err != nil {
		return err
	}
	var in batchReadInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := checkBatchSize(len(in.Inputs)); err != nil {
		return err
	}
	by, err := s.idProperty(r.Context(), p.Tenant, o, in.IDProperty)
	if err != nil {
		return err
	}
	byKey := by != ""
	switch {
	case by == idPropertyEmail && archived:
		return errInvalid("idProperty", "INVALID_ID_PROPERTY",
			"idProperty \"email\" reads live contacts only: read archived contacts by id, or one by email with GET /crm/v3/objects/contacts/{email}?idProperty=email&archived=true")
	case byKey && archived:
		return errInvalid("idProperty", "INVALID_ID_PROPERTY",
			"idProperty %q reads live %s records only: read archived records by id (leave idProperty out)", by, o)
	}
	ids := batchIDs(in.Inputs)
	var byID map[crm.RecordID][]string // with idProperty: the values of the inputs naming each id
	lookup := ids
	if byKey {
		emails := make([]string, len(ids))
		for i, id := range ids {
			emails[i] = string(id)
		}
		found, err := s.recordIDsBy(r.Context(), p.Tenant, o, by, emails)
		if err != nil {
			return fmt.Errorf("batch read %s: %w", o, err)
		}
		byID = map[crm.RecordID][]string{}
		lookup = nil
		for _, e := range emails {
			if id, ok := found[e]; ok {
				if byID[id] == nil {
					lookup = append(lookup, id)
				}
				byID[id] = append(byID[id], e)
			}
		}
	}
	// Ids that are not decimal cannot exist: they are reported missing without asking the store.
	lookup = slices.DeleteFunc(slices.Clone(lookup), func(id crm.RecordID) bool { return !numericID.MatchString(string(id)) })
	spec := readSpec{properties: splitNames(in.Properties), history: splitNames(in.PropertiesWithHistory)}
	var recs []crm.Record
	if len(lookup) > 0 {
		recs, err = s.store.Records(r.Context(), p.Tenant, o, lookup,
			&crm.ReadOpts{Archived: archived, Properties: spec.storeProperties()})
		if err != nil {
			return fmt.Errorf("batch read %s: %w", o, err)
		}
	}
	out := s.batchResult(started, spec.renderAll(recs))
	missing := missingIDs(ids, recs)
	if byKey {
		missing = missingEmails(ids, recs, byID)
	}
	if len(missing) > 0 {
		out.NumErrors = 1
		out.Errors = []batchErrorJSON{{
			Status:   "error",
			Category: categoryNotFound,
			Message: fmt.Sprintf("could not get some %s records, they may be deleted or not exist: check that the ids are valid (%d missing)",
				o, len(missing)),
			Context: map[string][]string{"ids": missing},
		}}
		writeJSON(w, http.StatusMultiStatus, out)
		return nil
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// missingIDs returns the ids of want that no record of got has.
func missingIDs(want []crm.RecordID, got []crm.Record) []string {
	found := make(map[crm.RecordID]bool, len(got))
	for _, rec := range got {
		found[rec.ID] = true
	}
	var out []string
	for _, id := range want {
		if !found[id] {
			out = append(out, string(id))
		}
	}
	return out
}

// missingEmails returns the values of want (the inputs of a read by email or another unique
// property) whose record is not among got; byID gives the values that named each id found in the
// property's index.
func missingEmails(want []crm.RecordID, got []crm.Record, byID map[crm.RecordID][]string) []string {
	found := map[string]bool{}
	for _, rec := range got {
		for _, e := range byID[rec.ID] {
			found[e] = true
		}
	}
	var out []string
	for _, e := range want {
		if !found[string(e)] {
			out = append(out, string(e))
		}
	}
	return out
}

type batchUpdateInput struct {
	Inputs []updateInput `json:"inputs"`
}

type updateInput struct {
	ID                 flexID         `json:"id"`
	IDProperty         string         `json:"idProperty"`
	Properties         propertyValues `json:"properties"`
	ObjectWriteTraceID string         `json:"objectWriteTraceId"`
}

// batchUpdate serves POST /crm/v3/objects/{objectType}/batch/update: all records or none, 200.
// One missing id refuses the whole batch with a 404 naming it. An input with "idProperty": "email"
// names a live contact by email, one with a unique property a live record by its value (all of
// them looked up in one round trip per idProperty).
func (s *Server) batchUpdate(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	started := s.clock.Now()
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	var in batchUpdateInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := checkBatchSize(len(in.Inputs)); err != nil {
		return err
	}
	updates := make([]crm.RecordUpdate, len(in.Inputs))
	byProp := map[string][]string{} // idProperty -> the ids of the inputs naming records by it
	props := make([]string, len(in.Inputs))
	resolved := map[string]string{} // each idProperty given, resolved once (a schema read)
	for i, x := range in.Inputs {
		if x.ID == "" {
			return errInvalid(fmt.Sprintf("inputs[%d].id", i), "MISSING_ID",
				`inputs[%d].id is missing: give the id of the %s record to update, as {"id": "123", "properties": {...}} (or its email or unique value with idProperty)`, i, o)
		}
		by, ok := resolved[x.IDProperty]
		if !ok {
			var err error
			if by, err = s.idProperty(r.Context(), p.Tenant, o, x.IDProperty); err != nil {
				return err
			}
			resolved[x.IDProperty] = by
		}
		if by != "" {
			props[i] = by
			byProp[by] = append(byProp[by], string(x.ID))
			continue
		}
		if !numericID.MatchString(string(x.ID)) {
			return errNotFound("record", string(x.ID))
		}
		updates[i] = crm.RecordUpdate{ID: crm.RecordID(x.ID), Properties: x.Properties}
	}
	for _, by := range slices.Sorted(maps.Keys(byProp)) { // sorted: the same 404 first every time
		found, err := s.recordIDsBy(r.Context(), p.Tenant, o, by, byProp[by])
		if err != nil {
			return fmt.Errorf("batch update %s: %w", o, err)
		}
		for i, x := range in.Inputs {
			if props[i] != by {
				continue
			}
			id, ok := found[string(x.ID)]
			if !ok {
				if by == idPropertyEmail {
					return errNotFound("contact with email", string(x.ID))
				}
				return errNotFound(fmt.Sprintf("%s record with %s", o, by), string(x.ID))
			}
			updates[i] = crm.RecordUpdate{ID: id, Properties: x.Properties}
		}
	}
	seen := make(map[crm.RecordID]int, len(updates))
	for i, u := range updates {
		if j, dup := seen[u.ID]; dup {
			return errInvalid(fmt.Sprintf("inputs[%d].id", i), "DUPLICATE_ID",
				"inputs[%d] (id %q) and inputs[%d] (id %q) both name %s record %s: merge them into one input",
				j, string(in.Inputs[j].ID), i, string(in.Inputs[i].ID), o, u.ID)
		}
		seen[u.ID] = i
	}
	recs, err := s.store.UpdateRecords(r.Context(), p.Tenant, o, updates, actor(p))
	if err != nil {
		return fmt.Errorf("batch update %s: %w", o, err)
	}
	out := toRecordsJSON(recs)
	for i := range out {
		if i < len(updates) && out[i].ID == string(updates[i].ID) {
			out[i].ObjectWriteTraceID = in.Inputs[i].ObjectWriteTraceID
		}
	}
	writeJSON(w, http.StatusOK, s.batchResult(started, out))
	return nil
}

// batchResult is a COMPLETE batch response of results, started at started and completed now.
func (s *Server) batchResult(started time.Time, results []recordJSON) batchJSON[recordJSON] {
	return batchJSON[recordJSON]{Status: "COMPLETE", Results: results,
		StartedAt: crm.FormatDatetime(started), CompletedAt: crm.FormatDatetime(s.clock.Now())}
}

type batchUpsertInput struct {
	Inputs []upsertInput `json:"inputs"`
}

// upsertInput is one input of batch/upsert: the record's id in IDProperty, and its properties.
type upsertInput struct {
	ID                 flexID         `json:"id"`
	IDProperty         string         `json:"idProperty"`
	Properties         propertyValues `json:"properties"`
	ObjectWriteTraceID string         `json:"objectWriteTraceId"`
}

// upsertedJSON is one result of batch/upsert: the record, and whether it was created.
type upsertedJSON struct {
	recordJSON
	New bool `json:"new"`
}

// batchUpsert serves POST /crm/v3/objects/{objectType}/batch/upsert: records named by a unique
// property (every input's "idProperty": "email" for contacts, or a property created with
// hasUniqueValue on any type) are updated, or created with that value when no live record has it;
// 200 with each record and "new". Each record is changed atomically, and the batch costs a few
// round trips whatever its size (see redisstore.Store.UpsertRecords). No idProperty, hs_object_id,
// a property that is not unique, or inputs naming different properties: 400.
func (s *Server) batchUpsert(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	started := s.clock.Now()
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	var in batchUpsertInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if err := checkBatchSize(len(in.Inputs)); err != nil {
		return err
	}
	ups := make([]crm.RecordUpsert, len(in.Inputs))
	var by string
	for i, x := range in.Inputs {
		if x.IDProperty == "" || x.IDProperty == idPropertyID {
			return errInvalid("idProperty", "INVALID_ID_PROPERTY",
				"inputs[%d].idProperty %q cannot upsert %s: upsert names records by a unique property (\"email\" for contacts, "+
					"or a property created with hasUniqueValue true); create records by id with batch/create and change them with batch/update",
				i, x.IDProperty, o)
		}
		if i > 0 && x.IDProperty != by {
			return errInvalid("idProperty", "INVALID_ID_PROPERTY",
				"inputs[%d].idProperty %q differs from inputs[0].idProperty %q: one upsert names all its records by the same property; send one upsert per idProperty",
				i, x.IDProperty, by)
		}
		by = x.IDProperty
		ups[i] = crm.RecordUpsert{ID: string(x.ID), Properties: x.Properties}
	}
	if len(ups) > 0 {
		if _, err := s.idProperty(r.Context(), p.Tenant, o, by); err != nil {
			return err
		}
	}
	recs, err := s.store.UpsertRecords(r.Context(), p.Tenant, o, by, ups, actor(p))
	if err != nil {
		return fmt.Errorf("batch upsert %s: %w", o, err)
	}
	out := make([]upsertedJSON, len(recs))
	for i, rec := range recs {
		out[i] = upsertedJSON{recordJSON: toRecordJSON(rec.Record), New: rec.Created}
		out[i].ObjectWriteTraceID = in.Inputs[i].ObjectWriteTraceID
	}
	writeJSON(w, http.StatusOK, batchJSON[upsertedJSON]{Status: "COMPLETE", Results: out,
		StartedAt: crm.FormatDatetime(started), CompletedAt: crm.FormatDatetime(s.clock.Now())})
	return nil
}
