package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// recordJSON is a record as HubSpot shows it. The archived* fields are set for a record read from
// the recycle bin.
type recordJSON struct {
	ID          string            `json:"id"`
	Properties  map[string]string `json:"properties"`
	CreatedAt   string            `json:"createdAt"`
	UpdatedAt   string            `json:"updatedAt"`
	Archived    bool              `json:"archived"`
	ArchivedAt  string            `json:"archivedAt,omitempty"`
	ArchivedBy  string            `json:"archivedBy,omitempty"`
	ArchivedVia string            `json:"archivedVia,omitempty"`
	ArchivedRef string            `json:"archivedRef,omitempty"`
	// ArchivedRevision is the revision of the workflow (archivedRef) that deleted the record.
	ArchivedRevision int64 `json:"archivedRevision,omitempty"`
	// ArchivedActor says who deleted it, as "USER via workflow NAME (revision R)" for a workflow.
	ArchivedActor string `json:"archivedActor,omitempty"`
	// ArchivedOperation is the operation that deleted it (SPEC S26): GET /crm/v3/operations/{id},
	// and POST /crm/v3/operations/{id}/undo to restore what it deleted.
	ArchivedOperation string `json:"archivedOperation,omitempty"`
	// ObjectWriteTraceID echoes the input's objectWriteTraceId in the results of a batch write.
	ObjectWriteTraceID string `json:"objectWriteTraceId,omitempty"`
	// PropertiesWithHistory is set for a read that asks for it (see valueJSON).
	PropertiesWithHistory map[string][]valueJSON `json:"propertiesWithHistory,omitempty"`
	// Associations is set for a read that names types in ?associations=.
	Associations associationsJSON `json:"associations,omitempty"`
}

func toRecordJSON(rec crm.Record) recordJSON {
	out := recordJSON{
		ID:         string(rec.ID),
		Properties: rec.Properties,
		CreatedAt:  crm.FormatDatetime(rec.CreatedAt),
		UpdatedAt:  crm.FormatDatetime(rec.UpdatedAt),
		Archived:   rec.Archived,
	}
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	if d := rec.Deletion; d != nil {
		out.Archived = true
		out.ArchivedAt = crm.FormatDatetime(d.At)
		out.ArchivedBy = d.By
		out.ArchivedVia = string(d.Via)
		out.ArchivedRef = d.Ref
		out.ArchivedRevision = d.Revision
		out.ArchivedActor = d.Describe()
		out.ArchivedOperation = d.Operation
	}
	return out
}

func toRecordsJSON(recs []crm.Record) []recordJSON {
	out := make([]recordJSON, len(recs))
	for i, rec := range recs {
		out[i] = toRecordJSON(rec)
	}
	return out
}

// actor is who a principal's API calls act as.
func actor(p crm.Principal) crm.Actor { return crm.Actor{User: p.User.Email, Via: crm.ViaAPI} }

// propertiesInput is the body of an update: {"properties": {...}}.
type propertiesInput struct {
	Properties propertyValues `json:"properties"`
}

// createInput is the body of a create, and one input of a batch create: the properties, the
// associations to make with the record (see inlineAssociations), and objectWriteTraceId, which
// a batch's results echo so a caller can tell them apart.
type createInput struct {
	Properties         propertyValues      `json:"properties"`
	Associations       []inlineAssociation `json:"associations"`
	ObjectWriteTraceID string              `json:"objectWriteTraceId"`
	// ID is decoded only to refuse it with a reason: the store gives each new record its id.
	ID json.RawMessage `json:"id"`
}

// recordInput turns a create's input into the store's, where naming it in errors (see inlineAssociations).
func (in createInput) recordInput(o crm.ObjectType, where string) (crm.RecordInput, error) {
	if in.ID != nil && string(in.ID) != "null" {
		return crm.RecordInput{}, errInvalid(where+"id", "ID_NOT_ALLOWED",
			"%sid is given, but a create cannot choose the new record's id (crmflow gives each %s record its own): leave id out; "+
				"to change a record that exists, use PATCH /crm/v3/objects/%s/{id} or batch/update, or batch/upsert by a unique property", where, o, o)
	}
	assocs, err := inlineAssociations(o, in.Associations, where)
	if err != nil {
		return crm.RecordInput{}, err
	}
	return crm.RecordInput{Properties: in.Properties, Associations: assocs}, nil
}

// createObject serves POST /crm/v3/objects/{objectType}: 201 with the new record, linked in the
// same step with the records its associations name.
func (s *Server) createObject(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	var in createInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	rec, err := in.recordInput(o, "")
	if err != nil {
		return err
	}
	recs, err := s.store.CreateRecords(r.Context(), p.Tenant, o, []crm.RecordInput{rec}, actor(p))
	if err != nil {
		return fmt.Errorf("create %s: %w", o, err)
	}
	if len(recs) != 1 {
		return fmt.Errorf("create %s: store returned %d records for 1 input", o, len(recs))
	}
	out := toRecordJSON(recs[0])
	out.ObjectWriteTraceID = in.ObjectWriteTraceID
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// getObject serves GET /crm/v3/objects/{objectType}/{id}?properties=&propertiesWithHistory=
// &associations=&archived=&idProperty=. With idProperty=email, {id} is a contact's email; with
// a unique property, that property's value of a live record.
func (s *Server) getObject(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	archived, err := queryArchived(r)
	if err != nil {
		return err
	}
	id, err := s.pathObjectID(r, p.Tenant, o, archived)
	if err != nil {
		return err
	}
	assocTypes, err := s.queryAssociationTypes(r, p.Tenant)
	if err != nil {
		return err
	}
	if archived && len(assocTypes) > 0 {
		return errArchivedAssociations()
	}
	spec := queryReadSpec(r)
	rec, err := s.store.Record(r.Context(), p.Tenant, o, id,
		&crm.ReadOpts{Archived: archived, Properties: spec.storeProperties()})
	if err != nil {
		return fmt.Errorf("read %s %s: %w", o, id, err)
	}
	out := []recordJSON{spec.render(rec)}
	if err := s.addAssociations(r.Context(), p.Tenant, o, out, assocTypes); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

// updateObject serves PATCH /crm/v3/objects/{objectType}/{id}?idProperty=: 200 with the changed
// record. With idProperty=email, {id} is a live contact's email; with a unique property, that
// property's value of a live record.
func (s *Server) updateObject(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	id, err := s.pathObjectID(r, p.Tenant, o, false)
	if err != nil {
		return err
	}
	var in propertiesInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	recs, err := s.store.UpdateRecords(r.Context(), p.Tenant, o,
		[]crm.RecordUpdate{{ID: id, Properties: in.Properties}}, actor(p))
	if err != nil {
		return fmt.Errorf("update %s %s: %w", o, id, err)
	}
	if len(recs) != 1 { // archived between the update and the read-back: it is no longer there
		return errNotFound("record", fmt.Sprintf("%s/%s", o, id))
	}
	writeJSON(w, http.StatusOK, toRecordJSON(recs[0]))
	return nil
}

// pageJSON is one page of a list endpoint; Paging is left out on the last page.
type pageJSON[T any] struct {
	Results []T         `json:"results"`
	Paging  *pagingJSON `json:"paging,omitempty"`
}

type pagingJSON struct {
	Next nextJSON `json:"next"`
}

type nextJSON struct {
	After string `json:"after"`
	Link  string `json:"link"`
}

// paging returns the paging of a page whose next cursor is after, or nil on the last page. Its
// link is the request's own URL with the cursor replaced.
func paging(r *http.Request, after string) *pagingJSON {
	if after == "" {
		return nil
	}
	q := r.URL.Query()
	q.Set("after", after)
	link := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	return &pagingJSON{Next: nextJSON{After: after, Link: link.String()}}
}

// listObjects serves GET /crm/v3/objects/{objectType}?limit=&after=&properties=
// &propertiesWithHistory=&associations=&archived=&archivedOperation=&archivedBy=&archivedVia=
// &archivedAfter=&archivedBefore=. The associations of a page's records are read with one script
// call, within the store's budget (see addAssociations); with archived=true, ?associations= is a
// 400, archivedOperation keeps the records of that operation still in the bin, and the other
// archived filters those deleted by whom, how and when (see queryDeletionFilter): a filtered page
// reads at most crm.MaxBinScan records of the bin, so it may hold fewer than limit while
// paging.next goes on.
func (s *Server) listObjects(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	assocTypes, err := s.queryAssociationTypes(r, p.Tenant)
	if err != nil {
		return err
	}
	spec := queryReadSpec(r)
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	archived, err := queryArchived(r)
	if err != nil {
		return err
	}
	if archived && len(assocTypes) > 0 {
		return errArchivedAssociations()
	}
	op := r.URL.Query().Get("archivedOperation")
	if op != "" && !operationIDPattern.MatchString(op) {
		return errInvalid("archivedOperation", "INVALID_OPERATION", "archivedOperation %q is not an operation id: use a record's archivedOperation", op)
	}
	deleted, err := queryDeletionFilter(r)
	if err != nil {
		return err
	}
	page, err := s.store.ListRecords(r.Context(), p.Tenant, o, &crm.ListOpts{
		After: r.URL.Query().Get("after"), Limit: limit, Archived: archived, Properties: spec.storeProperties(), Operation: op,
		Deleted: deleted,
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", o, err)
	}
	out := spec.renderAll(page.Records)
	if err := s.addAssociations(r.Context(), p.Tenant, o, out, assocTypes); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageJSON[recordJSON]{Results: out, Paging: paging(r, page.After)})
	return nil
}

// binVias are the values of archivedVia a filter of the bin takes.
var binVias = []crm.Via{crm.ViaAPI, crm.ViaBulk, crm.ViaList, crm.ViaWorkflow}

// queryDeletionFilter reads the bin's filters: ?archivedBy= (a part of who deleted, any case; for
// a workflow its name), ?archivedVia= (api, bulk, list or workflow), ?archivedAfter= and
// ?archivedBefore= (an RFC 3339 time or a date, which is its midnight UTC; after includes it,
// before does not).
func queryDeletionFilter(r *http.Request) (crm.DeletionFilter, error) {
	q := r.URL.Query()
	f := crm.DeletionFilter{By: strings.TrimSpace(q.Get("archivedBy")), Via: crm.Via(strings.TrimSpace(q.Get("archivedVia")))}
	if f.Via != "" && !slices.Contains(binVias, f.Via) {
		return f, errInvalid("archivedVia", "INVALID_FILTER", "archivedVia %q is not a way records are deleted: use one of %s", f.Via, joinVias(binVias))
	}
	var err error
	if f.Since, err = queryTime(q.Get("archivedAfter"), "archivedAfter"); err != nil {
		return f, err
	}
	if f.Until, err = queryTime(q.Get("archivedBefore"), "archivedBefore"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, errInvalid("archivedAfter,archivedBefore", "INVALID_FILTER",
			"archivedAfter %s is not before archivedBefore %s: no deletion can match", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	return f, nil
}

func joinVias(vs []crm.Via) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// queryTime reads a time parameter: an RFC 3339 time, or a date (YYYY-MM-DD) for its midnight UTC.
func queryTime(v, name string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, errInvalid(name, "INVALID_TIME", "%s %q is not a time: use an RFC 3339 time such as 2026-03-01T12:00:00Z, or a date such as 2026-03-01", name, v)
}

// operationIDPattern is the shape of an operation id (job-<id>, wf-<name>-<ms>, wf-<name>-<ms>_<n>,
// or a call's id).
var operationIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)
