package api

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// associationJSON is the answer of PUT .../associations/default/{toType}/{toId}: HubSpot's
// BatchResponsePublicDefaultAssociation (status, results, startedAt, completedAt), with crmflow's
// earlier fields naming the link beside it.
type associationJSON struct {
	Status      string                   `json:"status"`
	Results     []defaultAssociationJSON `json:"results"`
	StartedAt   string                   `json:"startedAt"`
	CompletedAt string                   `json:"completedAt"`

	FromObjectTypeID string `json:"fromObjectTypeId"`
	FromObjectID     string `json:"fromObjectId"`
	ToObjectTypeID   string `json:"toObjectTypeId"`
	ToObjectID       string `json:"toObjectId"`
}

// defaultAssociationJSON is one link made: HubSpot's PublicDefaultAssociation. AssociationSpec is
// nil between types without a default association type id (a custom object's).
type defaultAssociationJSON struct {
	From            objectIDJSON     `json:"from"`
	To              objectIDJSON     `json:"to"`
	AssociationSpec *associationType `json:"associationSpec,omitempty"`
}

type objectIDJSON struct {
	ID string `json:"id"`
}

// labelsBetweenJSON is the answer of PUT .../associations/{toType}/{toId}: HubSpot's
// LabelsBetweenObjectPair. Labels is always empty: crmflow keeps no labels.
type labelsBetweenJSON struct {
	FromObjectTypeID string   `json:"fromObjectTypeId"`
	FromObjectID     string   `json:"fromObjectId"`
	ToObjectTypeID   string   `json:"toObjectTypeId"`
	ToObjectID       string   `json:"toObjectId"`
	Labels           []string `json:"labels"`
}

// associatedJSON is one record linked to the record of an association read: HubSpot's
// MultiAssociatedObjectWithLabel. AssociationTypes holds the default (unlabeled) type of the pair
// of types, or nothing between types without one.
type associatedJSON struct {
	ToObjectID       string                `json:"toObjectId"`
	AssociationTypes []associationTypeJSON `json:"associationTypes"`
}

// associationTypeJSON is HubSpot's AssociationSpecWithLabel; Label is always null.
type associationTypeJSON struct {
	Category string  `json:"category"`
	TypeID   int     `json:"typeId"`
	Label    *string `json:"label"`
}

// primaryAssociationTypeIDs are the "primary" types among associationTypeIDs: each has an
// unlabeled twin between the same two types, which is the default one.
var primaryAssociationTypeIDs = map[int]bool{1: true, 2: true, 5: true, 6: true, 25: true, 26: true}

// defaultAssociationTypeID returns HubSpot's id of the unlabeled association type from from to
// to (279 from contacts to companies), and false between types without one (custom objects).
func defaultAssociationTypeID(from, to crm.ObjectType) (int, bool) {
	for _, id := range associationTypeIDsTo(from, to) {
		if !primaryAssociationTypeIDs[id] {
			return id, true
		}
	}
	return 0, false
}

// associationPath reads the two records of an association path.
func (s *Server) associationPath(r *http.Request, t crm.TenantID) (from, to crm.AssociationRef, err error) {
	if from.Type, err = s.objectType(r, t, "fromType"); err != nil {
		return from, to, err
	}
	if from.ID, err = pathRecordID(r, "fromId"); err != nil {
		return from, to, err
	}
	if to.Type, err = s.objectType(r, t, "toType"); err != nil {
		return from, to, err
	}
	if to.ID, err = pathRecordID(r, "toId"); err != nil {
		return from, to, err
	}
	return from, to, nil
}

// associate serves PUT /crm/v4/objects/{fromType}/{fromId}/associations/default/{toType}/{toId}:
// it links two live records (both directions), 200 with HubSpot's BatchResponsePublicDefaultAssociation.
// Idempotent; 404 if either is not live.
func (s *Server) associate(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	from, to, err := s.associationPath(r, p.Tenant)
	if err != nil {
		return err
	}
	started := crm.FormatDatetime(s.clock.Now())
	if err := s.store.Associate(r.Context(), p.Tenant, from, to); err != nil {
		return fmt.Errorf("associate %s %s with %s %s: %w", from.Type, from.ID, to.Type, to.ID, err)
	}
	made := defaultAssociationJSON{From: objectIDJSON{ID: string(from.ID)}, To: objectIDJSON{ID: string(to.ID)}}
	if id, ok := defaultAssociationTypeID(from.Type, to.Type); ok {
		made.AssociationSpec = &associationType{AssociationCategory: associationCategoryHubSpot, AssociationTypeID: &id}
	}
	writeJSON(w, http.StatusOK, associationJSON{Status: "COMPLETE", Results: []defaultAssociationJSON{made},
		StartedAt: started, CompletedAt: crm.FormatDatetime(s.clock.Now()),
		FromObjectTypeID: string(from.Type), FromObjectID: string(from.ID),
		ToObjectTypeID: string(to.Type), ToObjectID: string(to.ID)})
	return nil
}

// associateWithTypes serves PUT /crm/v4/objects/{fromType}/{fromId}/associations/{toType}/{toId}
// with a JSON array of association types (HubSpot's AssociationSpec): each must be one of HubSpot's
// default types from fromType to toType (category HUBSPOT_DEFINED), since crmflow keeps no labels;
// the link is the one the default path makes. 201 with HubSpot's LabelsBetweenObjectPair.
func (s *Server) associateWithTypes(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	from, to, err := s.associationPath(r, p.Tenant)
	if err != nil {
		return err
	}
	var specs []associationType
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &specs); err != nil {
		return err
	}
	if bad := checkAssociationSpecs(from.Type, to.Type, specs, "associationSpec", "the body", "PUT "+defaultAssociationPath(r)); bad != nil {
		return errInvalid("associationSpec", bad.Code, "%s", bad.Message)
	}
	if err := s.store.Associate(r.Context(), p.Tenant, from, to); err != nil {
		return fmt.Errorf("associate %s %s with %s %s: %w", from.Type, from.ID, to.Type, to.ID, err)
	}
	writeJSON(w, http.StatusCreated, labelsBetweenJSON{FromObjectTypeID: hubSpotTypeID(from.Type), FromObjectID: string(from.ID),
		ToObjectTypeID: hubSpotTypeID(to.Type), ToObjectID: string(to.ID), Labels: []string{}})
	return nil
}

// checkAssociationSpecs returns what is wrong with specs, the association types of a link from a
// record of type from to one of type to, or nil when each is one of HubSpot's default types
// between them (category HUBSPOT_DEFINED): crmflow keeps no labels. at names the types in the
// messages ("associationSpec", "inputs[3].types"), body the part of the request that holds them
// ("the body", "inputs[3].types"), and instead the request that links the two records without
// types ("PUT /crm/v4/objects/.../associations/default/...").
func checkAssociationSpecs(from, to crm.ObjectType, specs []associationType, at, body, instead string) *errorDetail {
	bad := func(code, format string, args ...any) *errorDetail {
		return &errorDetail{Code: code, In: at, Message: fmt.Sprintf(format, args...)}
	}
	ids := associationTypeIDsTo(from, to)
	if len(ids) == 0 {
		return bad("INVALID_ASSOCIATION_TYPE", "there is no association type from %s to %s in crmflow: link the two records with %s", from, to, instead)
	}
	fit := fmt.Sprintf("[{\"associationCategory\": %q, \"associationTypeId\": %s}]", associationCategoryHubSpot, joinInts(ids, " or "))
	if len(specs) == 0 {
		return bad("INVALID_ASSOCIATION_TYPE", "%s names no association type: send %s, or use %s", body, fit, instead)
	}
	for i, sp := range specs {
		switch {
		case sp.AssociationCategory != associationCategoryHubSpot:
			return bad("INVALID_ASSOCIATION_CATEGORY", "%s[%d].associationCategory %q is not supported: crmflow keeps no association labels; send %s",
				at, i, sp.AssociationCategory, fit)
		case sp.AssociationTypeID == nil:
			return bad("INVALID_ASSOCIATION_TYPE", "%s[%d] has no associationTypeId: send %s", at, i, fit)
		case !slices.Contains(ids, *sp.AssociationTypeID):
			return bad("INVALID_ASSOCIATION_TYPE", "%s[%d].associationTypeId %d is not an association type from %s to %s: send %s",
				at, i, *sp.AssociationTypeID, from, to, fit)
		}
	}
	return nil
}

// defaultAssociationPath is the default association path of the records of r's path.
func defaultAssociationPath(r *http.Request) string {
	return fmt.Sprintf("/crm/v4/objects/%s/%s/associations/default/%s/%s",
		r.PathValue("fromType"), r.PathValue("fromId"), r.PathValue("toType"), r.PathValue("toId"))
}

// associationTypeIDsTo returns HubSpot's default association type ids from from to to, ascending
// (279 and 1 from contacts to companies); none between types without one (custom objects).
func associationTypeIDsTo(from, to crm.ObjectType) []int {
	var ids []int
	for id, t := range associationTypeIDs[from] {
		if t == to {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// joinInts joins ids with sep, as "279 or 1".
func joinInts(ids []int, sep string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, sep)
}

// dissociate serves DELETE on the association paths: it removes the link (both directions), 204.
// Idempotent: removing a link that does not exist between two live records changes nothing and is
// not an error. 404 if either record is not live: one in the bin keeps its links for its restore.
func (s *Server) dissociate(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	from, to, err := s.associationPath(r, p.Tenant)
	if err != nil {
		return err
	}
	if err := s.store.Dissociate(r.Context(), p.Tenant, from, to); err != nil {
		return fmt.Errorf("dissociate %s %s from %s %s: %w", from.Type, from.ID, to.Type, to.ID, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxAssociationsPage is the largest limit of an association read, HubSpot's.
const maxAssociationsPage = 500

// listAssociations serves GET /crm/v4/objects/{fromType}/{fromId}/associations/{toType}?limit=&after=:
// the linked records of toType by ascending id, each with the default association type of the pair
// (HubSpot's MultiAssociatedObjectWithLabel); 404 if the record is not live. Without limit, every
// linked record (at most the 10,000 a record may have); with it (1 to 500) a page, whose
// paging.next.after, given as after, goes on after its last record.
func (s *Server) listAssociations(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	fromType, err := s.objectType(r, p.Tenant, "fromType")
	if err != nil {
		return err
	}
	fromID, err := pathRecordID(r, "fromId")
	if err != nil {
		return err
	}
	toType, err := s.objectType(r, p.Tenant, "toType")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxAssociationsPage {
			return errInvalid("limit", "INVALID_LIMIT", "limit %q is invalid: use a whole number from 1 to %d", v, maxAssociationsPage)
		}
	}
	after := q.Get("after")
	if after != "" && !numericID.MatchString(after) {
		return errInvalid("after", "INVALID_AFTER", "after %q is not a record id: give the paging.next.after of the page before", after)
	}
	from := crm.AssociationRef{Type: fromType, ID: fromID}
	ids, err := s.store.Associations(r.Context(), p.Tenant, from, toType)
	if err != nil {
		return fmt.Errorf("read associations of %s %s: %w", fromType, fromID, err)
	}
	ids, next := pageOfIDs(ids, after, limit)
	out := associatedOf(fromType, toType, ids)
	writeJSON(w, http.StatusOK, pageJSON[associatedJSON]{Results: out, Paging: paging(r, next)})
	return nil
}

// pageOfIDs returns the page of ids (ascending record ids) that starts after the id after ("" for
// the first page) and holds at most limit of them (0 for all of them), and the after of the next
// page, "" when there is none.
func pageOfIDs(ids []crm.RecordID, after string, limit int) (page []crm.RecordID, next string) {
	if after != "" {
		start, _ := slices.BinarySearchFunc(ids, crm.RecordID(after), compareRecordIDs)
		if start < len(ids) && ids[start] == crm.RecordID(after) {
			start++
		}
		ids = ids[start:]
	}
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
		next = string(ids[limit-1])
	}
	return ids, next
}

// associatedOf is the answer of an association read of records of type from: each of ids (records
// of type to) with the default association type of the pair of types (HubSpot's
// MultiAssociatedObjectWithLabel).
func associatedOf(from, to crm.ObjectType, ids []crm.RecordID) []associatedJSON {
	types := []associationTypeJSON{}
	if id, ok := defaultAssociationTypeID(from, to); ok {
		types = append(types, associationTypeJSON{Category: associationCategoryHubSpot, TypeID: id})
	}
	out := make([]associatedJSON, len(ids))
	for i, id := range ids {
		out[i] = associatedJSON{ToObjectID: string(id), AssociationTypes: types}
	}
	return out
}

// compareRecordIDs orders record ids as the numbers they are (they have no leading zeros).
func compareRecordIDs(a, b crm.RecordID) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(string(a), string(b))
}

// associationTypeIDs are HubSpot's ids of the association types between the standard object types
// (category HUBSPOT_DEFINED), by the type of the record they start from: each id names the type
// of the other record (449 to 452 link two records of one type). Both the unlabeled type and the
// "primary" one are accepted where HubSpot has both; crmflow keeps no labels, so either makes the
// same plain association.
var associationTypeIDs = map[crm.ObjectType]map[int]crm.ObjectType{
	crm.Contacts: {279: crm.Companies, 1: crm.Companies, 4: crm.Deals, 15: crm.Tickets, 193: crm.Calls, 449: crm.Contacts},
	crm.Companies: {280: crm.Contacts, 2: crm.Contacts, 342: crm.Deals, 6: crm.Deals, 340: crm.Tickets, 25: crm.Tickets,
		181: crm.Calls, 450: crm.Companies},
	crm.Deals:   {3: crm.Contacts, 341: crm.Companies, 5: crm.Companies, 27: crm.Tickets, 205: crm.Calls, 451: crm.Deals},
	crm.Tickets: {16: crm.Contacts, 339: crm.Companies, 26: crm.Companies, 28: crm.Deals, 219: crm.Calls, 452: crm.Tickets},
	crm.Calls:   {194: crm.Contacts, 182: crm.Companies, 206: crm.Deals, 220: crm.Tickets},
}

// associationCategoryHubSpot is the only association category crmflow knows.
const associationCategoryHubSpot = "HUBSPOT_DEFINED"

// inlineAssociation is one association of a create: {"to": {"id": ...}, "types": [...]}.
type inlineAssociation struct {
	To    *associationTo    `json:"to"`
	Types []associationType `json:"types"`
}

type associationTo struct {
	ID flexID `json:"id"`
}

// associationType is HubSpot's AssociationSpec: an association type by category and id, as a
// create's associations, PUT .../associations/{toType}/{toId} and the default link's answer give it.
type associationType struct {
	AssociationCategory string `json:"associationCategory"`
	AssociationTypeID   *int   `json:"associationTypeId"`
}

// inlineAssociations turns the associations of a create of a record of type o into the records to
// link; where names the input in errors ("" for a single create, "inputs[3]." in a batch). Every
// association needs its target's id and at least one type; the types must be HubSpot's default
// ones from o, and all of one association must name the same type of target.
func inlineAssociations(o crm.ObjectType, in []inlineAssociation, where string) ([]crm.AssociationRef, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]crm.AssociationRef, 0, len(in))
	for j, a := range in {
		at := fmt.Sprintf("%sassociations[%d]", where, j)
		if a.To == nil || a.To.ID == "" {
			return nil, errInvalid("associations", "INVALID_ASSOCIATION",
				"%s has no to.id: give the id of the record to associate, as {\"to\": {\"id\": \"123\"}, \"types\": [...]}", at)
		}
		if len(a.Types) == 0 {
			return nil, errInvalid("associations", "INVALID_ASSOCIATION",
				"%s has no types: give one, as {\"associationCategory\": \"HUBSPOT_DEFINED\", \"associationTypeId\": N}", at)
		}
		var target crm.ObjectType
		for k, ty := range a.Types {
			if ty.AssociationCategory != associationCategoryHubSpot {
				return nil, errInvalid("associations", "INVALID_ASSOCIATION_CATEGORY",
					"%s.types[%d].associationCategory %q is not supported: use %q with one of HubSpot's default association type ids (labels and custom association types are not supported)",
					at, k, ty.AssociationCategory, associationCategoryHubSpot)
			}
			if ty.AssociationTypeID == nil {
				return nil, errInvalid("associations", "INVALID_ASSOCIATION_TYPE", "%s.types[%d] has no associationTypeId", at, k)
			}
			to, ok := associationTypeIDs[o][*ty.AssociationTypeID]
			if !ok {
				return nil, errInvalid("associations", "INVALID_ASSOCIATION_TYPE",
					"%s.types[%d].associationTypeId %d is not a default association type from %s: use one of %s",
					at, k, *ty.AssociationTypeID, o, describeAssociationTypes(o))
			}
			if target != "" && to != target {
				return nil, errInvalid("associations", "INVALID_ASSOCIATION_TYPE",
					"%s names types to both %s and %s: one association links one record; give one association per record", at, target, to)
			}
			target = to
		}
		out = append(out, crm.AssociationRef{Type: target, ID: crm.RecordID(a.To.ID)})
	}
	return out, nil
}

// describeAssociationTypes lists the default association type ids from o, as "279 (companies), ...",
// ascending; "none" for a type without any.
func describeAssociationTypes(o crm.ObjectType) string {
	ids := make([]int, 0, len(associationTypeIDs[o]))
	for id := range associationTypeIDs[o] {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return "none (crmflow links custom object types only with PUT /crm/v4/objects/.../associations/default/...)"
	}
	slices.Sort(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%d (%s)", id, associationTypeIDs[o][id])
	}
	return strings.Join(parts, ", ")
}
