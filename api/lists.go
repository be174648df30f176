package api

import (
	"fmt"
	"net/http"

	"github.com/crmflow/crmflow/crm"
)

// listJSON is a static list. Responses wrap one in {"list": ...} and several in {"lists": [...]},
// as HubSpot's lists API does.
type listJSON struct {
	ListID         string `json:"listId"`
	Name           string `json:"name"`
	ObjectType     string `json:"objectType"`
	ProcessingType string `json:"processingType"`
	Size           int64  `json:"size"`
	CreatedAt      string `json:"createdAt"`
}

type oneListJSON struct {
	List listJSON `json:"list"`
}

type listsJSON struct {
	Lists []listJSON `json:"lists"`
}

func toListJSON(l crm.ListDef) listJSON {
	return listJSON{ListID: string(l.ID), Name: l.Name, ObjectType: string(l.ObjectType), ProcessingType: "MANUAL",
		Size: l.Size, CreatedAt: crm.FormatDatetime(l.CreatedAt)}
}

// listInput is the body of POST /crm/v3/lists.
type listInput struct {
	Name       string `json:"name"`
	ObjectType string `json:"objectType"`
}

// createList serves POST /crm/v3/lists: 201 with the new list.
func (s *Server) createList(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	var in listInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	o := crm.ObjectType(in.ObjectType)
	if t, ok := hubSpotTypeIDs[in.ObjectType]; ok {
		o = t
	}
	l, err := s.store.CreateList(r.Context(), p.Tenant, in.Name, o)
	if err != nil {
		return fmt.Errorf("create list: %w", err)
	}
	writeJSON(w, http.StatusCreated, oneListJSON{List: toListJSON(l)})
	return nil
}

// listLists serves GET /crm/v3/lists: every list of the tenant.
func (s *Server) listLists(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	ls, err := s.store.Lists(r.Context(), p.Tenant)
	if err != nil {
		return fmt.Errorf("read lists: %w", err)
	}
	out := listsJSON{Lists: make([]listJSON, len(ls))}
	for i, l := range ls {
		out.Lists[i] = toListJSON(l)
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

// membershipsAddJSON is the response of memberships/add. Ids that are not live records of the
// list's type are named in RecordIDsMissing.
type membershipsAddJSON struct {
	NumAdded         int      `json:"numAdded"`
	RecordIDsMissing []string `json:"recordIdsMissing"`
}

type membershipsRemoveJSON struct {
	NumRemoved int `json:"numRemoved"`
}

// memberIDs decodes the body of a memberships change: a JSON array of record ids.
func (s *Server) memberIDs(w http.ResponseWriter, r *http.Request) ([]crm.RecordID, error) {
	var in []flexID
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return nil, err
	}
	ids := make([]crm.RecordID, len(in))
	for i, id := range in {
		ids[i] = crm.RecordID(id)
	}
	return ids, nil
}

// addListMembers serves PUT /crm/v3/lists/{listId}/memberships/add with a JSON array of ids.
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
	out := membershipsAddJSON{NumAdded: added, RecordIDsMissing: make([]string, len(missing))}
	for i, id := range missing {
		out.RecordIDsMissing[i] = string(id)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// removeListMembers serves PUT /crm/v3/lists/{listId}/memberships/remove with a JSON array of ids.
// It removes the memberships only, never the records.
func (s *Server) removeListMembers(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id, err := pathListID(r)
	if err != nil {
		return err
	}
	ids, err := s.memberIDs(w, r)
	if err != nil {
		return err
	}
	n, err := s.store.RemoveListMembers(r.Context(), p.Tenant, id, ids)
	if err != nil {
		return fmt.Errorf("remove members from list %s: %w", id, err)
	}
	writeJSON(w, http.StatusOK, membershipsRemoveJSON{NumRemoved: n})
	return nil
}

// memberJSON is one member of a list.
type memberJSON struct {
	RecordID string `json:"recordId"`
}

// listListMembers serves GET /crm/v3/lists/{listId}/memberships?limit=&after=.
func (s *Server) listListMembers(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	id, err := pathListID(r)
	if err != nil {
		return err
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

// recordListJSON is one static list a record is a member of.
type recordListJSON struct {
	ListID string `json:"listId"`
	Name   string `json:"name"`
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
			out.Results = append(out.Results, recordListJSON{ListID: string(l), Name: name})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
