package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// listJSON is a static list, with the fields HubSpot's PublicObjectList requires: objectTypeId
// (HubSpot's id of a standard type, "0-1" for contacts, or a custom type's name), processingType
// MANUAL, processingStatus COMPLETE (a static list is never being processed) and listVersion 1
// (crmflow keeps no versions of a list). ObjectType is crmflow's name of the type. Responses wrap
// one in {"list": ...} and several in {"lists": [...]}, as HubSpot's lists API does.
type listJSON struct {
	ListID           string `json:"listId"`
	Name             string `json:"name"`
	ObjectType       string `json:"objectType"`
	ObjectTypeID     string `json:"objectTypeId"`
	ProcessingType   string `json:"processingType"`
	ProcessingStatus string `json:"processingStatus"`
	ListVersion      int    `json:"listVersion"`
	Size             int64  `json:"size"`
	CreatedAt        string `json:"createdAt"`
}

type oneListJSON struct {
	List listJSON `json:"list"`
}

type listsJSON struct {
	Lists []listJSON `json:"lists"`
}

func toListJSON(l crm.ListDef) listJSON {
	return listJSON{ListID: string(l.ID), Name: l.Name, ObjectType: string(l.ObjectType),
		ObjectTypeID: hubSpotTypeID(l.ObjectType), ProcessingType: processingManual, ProcessingStatus: "COMPLETE",
		ListVersion: 1, Size: l.Size, CreatedAt: crm.FormatDatetime(l.CreatedAt)}
}

// processingManual is HubSpot's processing type of a static list, the only kind crmflow has.
const processingManual = "MANUAL"

// listInput is the body of POST /crm/v3/lists: HubSpot's ListCreateRequest ({"name",
// "objectTypeId", "processingType"}), or crmflow's earlier {"name", "objectType"}.
type listInput struct {
	Name           string `json:"name"`
	ObjectType     string `json:"objectType"`
	ObjectTypeID   string `json:"objectTypeId"`
	ProcessingType string `json:"processingType"`
}

// objectType is the type of the list in: objectTypeId or objectType, a type's name or HubSpot id.
// Both given and naming different types, or a processing type other than MANUAL, is a 400.
func (in listInput) objectType() (crm.ObjectType, error) {
	if in.ProcessingType != "" && in.ProcessingType != processingManual {
		return "", errInvalid("processingType", "INVALID_PROCESSING_TYPE",
			"processingType %q is not supported: crmflow's lists are static, use %q and add members with PUT /crm/v3/lists/{listId}/memberships/add",
			in.ProcessingType, processingManual)
	}
	resolve := func(v string) crm.ObjectType {
		if t, ok := hubSpotTypeIDs[v]; ok {
			return t
		}
		return crm.ObjectType(v)
	}
	o := resolve(in.ObjectTypeID)
	if in.ObjectTypeID == "" {
		o = resolve(in.ObjectType)
	} else if in.ObjectType != "" && resolve(in.ObjectType) != o {
		return "", errInvalid("objectTypeId", "CONFLICTING_OBJECT_TYPE",
			"objectTypeId %q and objectType %q name different types: give objectTypeId alone", in.ObjectTypeID, in.ObjectType)
	}
	return o, nil
}

// createList serves POST /crm/v3/lists (and /crm/v3/lists/, the path of HubSpot's clients): 200
// with the new list, as HubSpot answers.
func (s *Server) createList(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	var in listInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	o, err := in.objectType()
	if err != nil {
		return err
	}
	l, err := s.store.CreateList(r.Context(), p.Tenant, in.Name, o)
	if ve := (*crm.ValidationError)(nil); errors.As(err, &ve) && ve.Field == "objectType" && in.ObjectTypeID != "" {
		named := *ve // the caller named the type in objectTypeId: say so
		named.Field = "objectTypeId"
		err = &named
	}
	if err != nil {
		return fmt.Errorf("create list: %w", err)
	}
	writeJSON(w, http.StatusOK, oneListJSON{List: toListJSON(l)})
	return nil
}

// listLists serves GET /crm/v3/lists (and /crm/v3/lists/): every list of the tenant, or with
// ?listIds= (repeated) the lists among those ids, in the tenant's order; an id that names no list
// is left out, as HubSpot does.
func (s *Server) listLists(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	ls, err := s.store.Lists(r.Context(), p.Tenant)
	if err != nil {
		return fmt.Errorf("read lists: %w", err)
	}
	var only map[crm.ListID]bool
	if ids := r.URL.Query()["listIds"]; len(ids) > 0 {
		only = make(map[crm.ListID]bool, len(ids))
		for _, id := range ids {
			only[crm.ListID(id)] = true
		}
	}
	out := listsJSON{Lists: make([]listJSON, 0, len(ls))}
	for _, l := range ls {
		if only == nil || only[l.ID] {
			out.Lists = append(out.Lists, toListJSON(l))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// The bounds of a list search's page, HubSpot's: count lists from offset, 20 unless told, at most
// 500.
const (
	listSearchCount    = 20
	maxListSearchCount = 500
)

// processingTypes are HubSpot's processing types of a list. crmflow's lists are all MANUAL; a
// search may name the others, which match no list.
var processingTypes = []string{processingManual, "DYNAMIC", "SNAPSHOT"}

// listSearchInput is the body of POST /crm/v3/lists/search, HubSpot's ListSearchRequest. A field
// left out or null takes its default; Offset and Count that are no whole number are refused as
// every body's fields of the wrong kind are. ObjectTypeID (a type's HubSpot id or name) is a filter of the newer
// lists API that crmflow applies too. Sort is refused unless empty: HubSpot documents no value for
// it, and crmflow answers in one order only.
type listSearchInput struct {
	AdditionalProperties []string `json:"additionalProperties"`
	Count                *int64   `json:"count"`
	ListIDs              []flexID `json:"listIds"`
	ObjectTypeID         *string  `json:"objectTypeId"`
	Offset               *int64   `json:"offset"`
	ProcessingTypes      []string `json:"processingTypes"`
	Query                *string  `json:"query"`
	Sort                 *string  `json:"sort"`
}

// searchedListJSON is one list of a search's answer: HubSpot's PublicObjectListSearchResult, whose
// additionalProperties hold the list's size as hs_list_size (a string, as HubSpot's). The other
// properties HubSpot fetches by default (the last add and removal times, the folder, the
// reference count) and any other name asked for are left out: crmflow keeps no such value, and
// HubSpot leaves out a property a list has no value of.
type searchedListJSON struct {
	listJSON
	AdditionalProperties map[string]string `json:"additionalProperties"`
}

// listSearchJSON is the answer of a list search, HubSpot's ListSearchResponse: the lists of the
// page, total (how many match), offset (where the next page starts: the request's offset plus the
// lists answered) and hasMore (whether a list matches past this page).
type listSearchJSON struct {
	Offset  int                `json:"offset"`
	HasMore bool               `json:"hasMore"`
	Total   int                `json:"total"`
	Lists   []searchedListJSON `json:"lists"`
}

// listSearch is a list search's request as checked: its page and its filters.
type listSearch struct {
	offset, count int
	query         string // in lower case; "" matches every name
	ids           map[crm.ListID]bool
	manual        bool   // whether processingTypes lets MANUAL lists through
	objectType    string // a type's HubSpot id or name; "" for every type
}

// parseListSearch checks the body of a list search; each bad field is a 400 naming it and saying
// what to send. The offset is checked against the lists found later.
func parseListSearch(in listSearchInput) (listSearch, error) {
	q := listSearch{manual: true}
	count, offset := int64(listSearchCount), int64(0)
	if in.Count != nil {
		count = *in.Count
	}
	if count < 1 || count > maxListSearchCount {
		return q, errInvalid("count", "INVALID_COUNT", "count %d is out of range: use 1 to %d lists a page (%d when left out)",
			count, maxListSearchCount, listSearchCount)
	}
	if in.Offset != nil {
		offset = *in.Offset
	}
	if offset < 0 {
		return q, errInvalid("offset", "INVALID_OFFSET",
			"offset %d is negative: use 0 for the first page, then the offset of the previous answer", offset)
	}
	// An offset past every list a tenant may hold answers an empty page as any past the matches.
	q.count, q.offset = int(count), int(min(offset, crm.MaxLists+1))
	if in.Sort != nil && *in.Sort != "" {
		return q, errInvalid("sort", "UNSUPPORTED_SORT",
			"sort %s is not supported: crmflow answers lists by ascending listId (the order they were made in); leave sort out", crm.Echo(*in.Sort))
	}
	for i, pt := range in.ProcessingTypes {
		if !slices.Contains(processingTypes, pt) {
			return q, errInvalid(fmt.Sprintf("processingTypes[%d]", i), "INVALID_PROCESSING_TYPE",
				"processingTypes[%d] %s is not a processing type: use MANUAL, DYNAMIC or SNAPSHOT (crmflow's lists are all MANUAL)", i, crm.Echo(pt))
		}
	}
	if len(in.ProcessingTypes) > 0 {
		q.manual = slices.Contains(in.ProcessingTypes, processingManual)
	}
	if len(in.ListIDs) > 0 {
		q.ids = make(map[crm.ListID]bool, len(in.ListIDs))
		for _, id := range in.ListIDs {
			q.ids[crm.ListID(id)] = true
		}
	}
	if in.Query != nil {
		q.query = strings.ToLower(strings.TrimSpace(*in.Query))
	}
	if in.ObjectTypeID != nil {
		q.objectType = *in.ObjectTypeID
	}
	return q, nil
}

// matches reports whether list l is among the lists q asks for.
func (q listSearch) matches(l crm.ListDef) bool {
	switch {
	case !q.manual:
		return false
	case q.ids != nil && !q.ids[l.ID]:
		return false
	case q.objectType != "" && q.objectType != string(l.ObjectType) && q.objectType != hubSpotTypeID(l.ObjectType):
		return false
	}
	return strings.Contains(strings.ToLower(l.Name), q.query)
}

// searchLists serves POST /crm/v3/lists/search, HubSpot's list search: the lists whose name
// contains query (ignoring case; every list without one), among listIds, processingTypes and
// objectTypeId when given, by ascending listId, count of them from offset. An offset at or past
// the matches' end answers no lists, with the total.
//
// It reads every list of the tenant (at most crm.MaxLists) with Store.Lists, two Redis round trips
// whatever the page, and filters them here: the total needs every name anyway.
func (s *Server) searchLists(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	var in listSearchInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	q, err := parseListSearch(in)
	if err != nil {
		return err
	}
	ls, err := s.store.Lists(r.Context(), p.Tenant)
	if err != nil {
		return fmt.Errorf("read lists: %w", err)
	}
	found := slices.DeleteFunc(ls, func(l crm.ListDef) bool { return !q.matches(l) })
	// An offset past the matches (lists deleted while a client pages) answers no lists, total and
	// hasMore false: a client paging until hasMore is false ends there.
	start := min(q.offset, len(found))
	end := min(start+q.count, len(found))
	out := listSearchJSON{Offset: max(end, q.offset), HasMore: end < len(found), Total: len(found), Lists: make([]searchedListJSON, 0, end-start)}
	for _, l := range found[start:end] {
		out.Lists = append(out.Lists, searchedListJSON{listJSON: toListJSON(l),
			AdditionalProperties: map[string]string{"hs_list_size": strconv.FormatInt(l.Size, 10)}})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getList serves GET /crm/v3/lists/{listId}.
func (s *Server) getList(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id, err := pathListID(r)
	if err != nil {
		return err
	}
	l, err := s.store.List(r.Context(), p.Tenant, id)
	if err != nil {
		return fmt.Errorf("read list %s: %w", id, err)
	}
	writeJSON(w, http.StatusOK, oneListJSON{List: toListJSON(l)})
	return nil
}

// getListByName serves GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}, HubSpot's
// fetch by name (its clients' listsApi.getByName): {"list": ...} as getList answers. The name
// arrives URL-escaped (a space as %20, a slash as %2F) and matches a list's whole name ignoring
// case, as HubSpot's; objectTypeId is HubSpot's id of the type ("0-1") or crmflow's name of it.
// includeFilters is accepted: a static list has no filters to show. No such list is a 404 saying
// how to find the lists there are. crmflow lets two lists of a type share a name, and HubSpot's answer holds one list:
// a name several lists have is a 409 CONFLICT (code DUPLICATE_LIST_NAME) whose context names their
// listIds, rather than an answer that picks one of them.
//
// It reads every list of the tenant (at most crm.MaxLists) with Store.Lists, as a list search does.
func (s *Server) getListByName(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	typeID, name := r.PathValue("objectTypeId"), r.PathValue("listName")
	o := crm.ObjectType(typeID)
	if t, ok := hubSpotTypeIDs[typeID]; ok {
		o = t
	}
	ls, err := s.store.Lists(r.Context(), p.Tenant)
	if err != nil {
		return fmt.Errorf("read lists: %w", err)
	}
	var found []crm.ListDef
	for _, l := range ls {
		if l.ObjectType == o && strings.EqualFold(l.Name, name) {
			found = append(found, l)
		}
	}
	switch len(found) {
	case 0:
		return &crm.NotFoundError{Kind: "list", ID: strconv.Quote(name),
			Hint: fmt.Sprintf("no list of %s has that name (names match whole, ignoring case); POST /crm/v3/lists/search with a query finds lists by a part of their name", o)}
	case 1:
		writeJSON(w, http.StatusOK, oneListJSON{List: toListJSON(found[0])})
		return nil
	}
	ids := make([]string, len(found))
	for i, l := range found {
		ids[i] = string(l.ID)
	}
	msg := fmt.Sprintf("%d lists of %s are named %q (listIds %s): read the one you mean with GET /crm/v3/lists/{listId}, or delete the others to make the name unique",
		len(found), o, name, strings.Join(ids, ", "))
	ctx := map[string][]string{"listIds": ids}
	return &apiError{status: http.StatusConflict, category: categoryConflict, message: msg, context: ctx,
		details: []errorDetail{{Message: msg, Code: "DUPLICATE_LIST_NAME", In: "listName", Context: ctx}}}
}

// deleteList serves DELETE /crm/v3/lists/{listId}: 204. The members are never deleted (SPEC S15).
func (s *Server) deleteList(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id, err := pathListID(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteList(r.Context(), p.Tenant, id); err != nil {
		return fmt.Errorf("delete list %s: %w", id, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// membershipsJSON is the answer of memberships/add and memberships/remove, HubSpot's
// MembershipsUpdateResponse (its field recordsIdsAdded is spelled so): the ids given that became
// members, the ids given that were members and no longer are, and the ids given that are not live
// records of the list's type (an add only). Each is in the order given, once. NumAdded and
// NumRemoved are their counts, as crmflow answered before.
type membershipsJSON struct {
	RecordIDsAdded   []string `json:"recordsIdsAdded"`
	RecordIDsRemoved []string `json:"recordIdsRemoved"`
	RecordIDsMissing []string `json:"recordIdsMissing"`
	NumAdded         *int     `json:"numAdded,omitempty"`
	NumRemoved       *int     `json:"numRemoved,omitempty"`
}

// memberIDs decodes the body of a memberships change: a JSON array of record ids, each a string
// or a number; any other entry is a 400 naming its place ([i]). An id given twice counts once.
func (s *Server) memberIDs(w http.ResponseWriter, r *http.Request) ([]crm.RecordID, error) {
	var raw []json.RawMessage
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &raw); err != nil {
		return nil, err
	}
	ids := make([]crm.RecordID, 0, len(raw))
	seen := make(map[crm.RecordID]bool, len(raw))
	for i, b := range raw {
		var v flexID
		kind := jsonValueKind(b)
		if kind == "a string" || kind == "a number" {
			if err := json.Unmarshal(b, &v); err != nil {
				kind = "not a record id"
			}
		}
		if kind != "a string" && kind != "a number" {
			at := fmt.Sprintf("[%d]", i)
			return nil, errInvalid(at, "INVALID_ID", "%s is %s: give each record id as a string or a number, such as \"123\" (the body is the list of ids)", at, kind)
		}
		id := crm.RecordID(v)
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// idStrings returns ids as strings, never nil.
func idStrings(ids []crm.RecordID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// addListMembers serves PUT /crm/v3/lists/{listId}/memberships/add with a JSON array of ids. The
// store answers the ids it made members, so ids that already were, or that another request added
// meanwhile, are left out of recordsIdsAdded.
func (s *Server) addListMembers(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id, err := pathListID(r)
	if err != nil {
		return err
	}
	ids, err := s.memberIDs(w, r)
	if err != nil {
		return err
	}
	added, missing, err := s.store.AddListMembers(r.Context(), p.Tenant, id, ids)
	if err != nil {
		return fmt.Errorf("add members to list %s: %w", id, err)
	}
	n := len(added)
	out := membershipsJSON{
		RecordIDsAdded:   idStrings(added),
		RecordIDsRemoved: []string{},
		RecordIDsMissing: idStrings(missing),
		NumAdded:         &n,
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// removeListMembers serves PUT /crm/v3/lists/{listId}/memberships/remove with a JSON array of ids.
// It removes the memberships only, never the records. recordIdsRemoved is what the store answers:
// the ids that were members when it removed them.
func (s *Server) removeListMembers(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id, err := pathListID(r)
	if err != nil {
		return err
	}
	ids, err := s.memberIDs(w, r)
	if err != nil {
		return err
	}
	removed, err := s.store.RemoveListMembers(r.Context(), p.Tenant, id, ids)
	if err != nil {
		return fmt.Errorf("remove members from list %s: %w", id, err)
	}
	n := len(removed)
	out := membershipsJSON{
		RecordIDsAdded:   []string{},
		RecordIDsRemoved: idStrings(removed),
		RecordIDsMissing: []string{},
		NumRemoved:       &n,
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// memberJSON is one member of a list.
type memberJSON struct {
	RecordID string `json:"recordId"`
}

// listListMembers serves GET /crm/v3/lists/{listId}/memberships?limit=&after=. HubSpot's before
// (paging backward) is a 400, rather than a first page the caller would take for the one before.
func (s *Server) listListMembers(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id, err := pathListID(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Has("before") {
		return errInvalid("before", "PAGING_BACKWARD_UNSUPPORTED",
			"before is not supported: crmflow pages a list's members forward only; start from the first page and follow paging.next.after")
	}
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	ids, after, err := s.store.ListMembers(r.Context(), p.Tenant, id,
		&crm.ListOpts{After: r.URL.Query().Get("after"), Limit: limit})
	if err != nil {
		return fmt.Errorf("read members of list %s: %w", id, err)
	}
	out := pageJSON[memberJSON]{Results: make([]memberJSON, len(ids)), Paging: paging(r, after)}
	for i, id := range ids {
		out.Results[i] = memberJSON{RecordID: string(id)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// recordListJSON is one static list a record is a member of: HubSpot's RecordListMembership
// without its timestamps (crmflow keeps no membership times), with the list's name.
type recordListJSON struct {
	ListID      string `json:"listId"`
	ListVersion int    `json:"listVersion"`
	Name        string `json:"name"`
}

// recordMemberships serves GET /crm/v3/lists/records/{objectType}/{recordId}/memberships: the static
// lists a live record is a member of, by list id (HubSpot's shape, with each list's name).
func (s *Server) recordMemberships(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return err
	}
	v := r.PathValue("recordId")
	if !numericID.MatchString(v) {
		return errNotFound("record", v)
	}
	id := crm.RecordID(v)
	if _, err := s.store.Record(r.Context(), p.Tenant, o, id, &crm.ReadOpts{Properties: []string{"-"}}); err != nil {
		return fmt.Errorf("read %s %s: %w", o, id, err)
	}
	ids, err := s.store.RecordLists(r.Context(), p.Tenant, o, id)
	if err != nil {
		return err
	}
	defs, err := s.store.Lists(r.Context(), p.Tenant)
	if err != nil {
		return fmt.Errorf("read lists: %w", err)
	}
	names := make(map[crm.ListID]string, len(defs))
	for _, d := range defs {
		names[d.ID] = d.Name
	}
	out := resultsJSON[recordListJSON]{Results: make([]recordListJSON, 0, len(ids))}
	for _, l := range ids {
		if name, ok := names[l]; ok {
			out.Results = append(out.Results, recordListJSON{ListID: string(l), ListVersion: 1, Name: name})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
