package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// associationJSON is one link created by PUT .../associations/default/{toType}/{toId}.
type associationJSON struct {
	FromObjectTypeID string `json:"fromObjectTypeId"`
	FromObjectID     string `json:"fromObjectId"`
	ToObjectTypeID   string `json:"toObjectTypeId"`
	ToObjectID       string `json:"toObjectId"`
}

// associatedJSON is one record linked to the record of an association read.
type associatedJSON struct {
	ToObjectID string `json:"toObjectId"`
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
// it links two live records (both directions). Idempotent; 404 if either is not live.
func (s *Server) associate(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	from, to, err := s.associationPath(r, p.Tenant)
	if err != nil {
		return err
	}
	if err := s.store.Associate(r.Context(), p.Tenant, from, to); err != nil {
		return fmt.Errorf("associate %s %s with %s %s: %w", from.Type, from.ID, to.Type, to.ID, err)
	}
	writeJSON(w, http.StatusOK, associationJSON{FromObjectTypeID: string(from.Type), FromObjectID: string(from.ID),
		ToObjectTypeID: string(to.Type), ToObjectID: string(to.ID)})
	return nil
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

// listAssociations serves GET /crm/v4/objects/{fromType}/{fromId}/associations/{toType}: the ids of
// the linked records of toType, ascending; 404 if the record is not live.
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
	from := crm.AssociationRef{Type: fromType, ID: fromID}
	ids, err := s.store.Associations(r.Context(), p.Tenant, from, toType)
	if err != nil {
		return fmt.Errorf("read associations of %s %s: %w", fromType, fromID, err)
	}
	out := make([]associatedJSON, len(ids))
	for i, id := range ids {
		out[i] = associatedJSON{ToObjectID: string(id)}
	}
	writeJSON(w, http.StatusOK, pageJSON[associatedJSON]{Results: out})
	return nil
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
