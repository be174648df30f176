package api

import (
	"fmt"
	"net/http"

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
// Idempotent: removing a link that does not exist changes nothing and is not an error.
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
