package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/crmflow/crmflow/crm"
	"github.com/crmflow/crmflow/triggers"
)

// protectionPath is where the protection rules are served.
const protectionPath = "/crm/v3/protection"

// ProtectionRule is a protection rule as the API shows it (SPEC S25): the records of ObjectType
// for which When is true are protected. Clients of the API (crmflow's CLI among them) decode it.
type ProtectionRule struct {
	Name       string `json:"name"`
	ObjectType string `json:"objectType"`
	When       string `json:"when"`
	CreatedAt  string `json:"createdAt"`
	UpdatedAt  string `json:"updatedAt"`
	UpdatedBy  string `json:"updatedBy"`
}

// ProtectionRules is the answer of GET /crm/v3/protection: every rule of the tenant, by name.
type ProtectionRules struct {
	Results []ProtectionRule `json:"results"`
}

// ProtectionRuleInput is the body of PUT /crm/v3/protection/{name}. Clients of the API (crmflow's
// CLI among them) encode it.
type ProtectionRuleInput struct {
	ObjectType *string `json:"objectType"`
	When       *string `json:"when"`
}

func toProtectionJSON(r crm.ProtectionRule) ProtectionRule {
	return ProtectionRule{Name: r.Name, ObjectType: string(r.ObjectType), When: r.When,
		CreatedAt: crm.FormatDatetime(r.CreatedAt), UpdatedAt: crm.FormatDatetime(r.UpdatedAt), UpdatedBy: r.UpdatedBy}
}

// protectionRuleName reads and checks the {name} of the path: a 400 saying what is allowed.
func protectionRuleName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if err := crm.ValidateRuleName(name); err != nil {
		return "", err
	}
	return name, nil
}

// putProtection serves PUT /crm/v3/protection/{name}: it creates (201) or replaces (200) a
// protection rule, with its audit entry. The body is {"objectType", "when"}: when is compiled
// against the type's properties like a trigger, and one that does not compile is a 400 giving its
// line:column, with nothing changed. It needs the protect permission.
func (s *Server) putProtection(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name, err := protectionRuleName(r)
	if err != nil {
		return err
	}
	var in ProtectionRuleInput
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &in); err != nil {
		return err
	}
	if in.ObjectType == nil || strings.TrimSpace(*in.ObjectType) == "" {
		return errInvalid("objectType", "REQUIRED", "objectType is required: name the object type whose records the rule protects, e.g. \"contacts\"")
	}
	if in.When == nil || strings.TrimSpace(*in.When) == "" {
		return errInvalid("when", "REQUIRED",
			"when is required: write an expression over the properties of %s that is true for the records to protect, e.g. lifecyclestage == \"customer\"", *in.ObjectType)
	}
	o, err := s.ruleObjectType(r, p.Tenant, *in.ObjectType)
	if err != nil {
		return err
	}
	schema, err := s.store.Schema(r.Context(), p.Tenant, o)
	if err != nil {
		return fmt.Errorf("read schema of %s: %w", o, err)
	}
	if _, err := triggers.Compile(*in.When, schema); err != nil {
		var te *triggers.Error
		if errors.As(err, &te) {
			return errExpression("when", te)
		}
		return err
	}
	rule, created, err := s.store.PutProtectionRule(r.Context(), p.Tenant,
		crm.ProtectionRule{Name: name, ObjectType: o, When: *in.When}, p.User.Email)
	if err != nil {
		return fmt.Errorf("store protection rule %s: %w", name, err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", protectionPath+"/"+name)
	}
	writeJSON(w, status, toProtectionJSON(rule))
	return nil
}

// ruleObjectType resolves the objectType of a rule's body: a standard type (by name or HubSpot
// id) or a custom type of the tenant; anything else is a 400 naming it.
func (s *Server) ruleObjectType(r *http.Request, t crm.TenantID, v string) (crm.ObjectType, error) {
	if o, ok := hubSpotTypeIDs[v]; ok {
		return o, nil
	}
	o := crm.ObjectType(v)
	if o.IsStandard() {
		return o, nil
	}
	if _, err := s.store.Schema(r.Context(), t, o); err != nil {
		if errors.Is(err, crm.ErrNotFound) {
			return "", errInvalid("objectType", "UNKNOWN_OBJECT_TYPE",
				"objectType %q is not an object type of this tenant: use contacts, companies, deals, tickets, calls or one of the tenant's custom objects (GET /crm/v3/schemas)", v)
		}
		return "", fmt.Errorf("read schema of %s: %w", o, err)
	}
	return o, nil
}

// getProtection serves GET /crm/v3/protection/{name}: one rule, or a 404.
func (s *Server) getProtection(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name, err := protectionRuleName(r)
	if err != nil {
		return err
	}
	rule, err := s.store.ProtectionRule(r.Context(), p.Tenant, name)
	if err != nil {
		return fmt.Errorf("read protection rule %s: %w", name, err)
	}
	writeJSON(w, http.StatusOK, toProtectionJSON(rule))
	return nil
}

// listProtection serves GET /crm/v3/protection: every rule of the tenant, by name.
func (s *Server) listProtection(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	rules, err := s.store.ProtectionRules(r.Context(), p.Tenant)
	if err != nil {
		return fmt.Errorf("read protection rules: %w", err)
	}
	out := ProtectionRules{Results: make([]ProtectionRule, len(rules))}
	for i, rule := range rules {
		out.Results[i] = toProtectionJSON(rule)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteProtection serves DELETE /crm/v3/protection/{name}: it removes a rule, with its audit
// entry, and answers 204; a 404 for a rule that does not exist. It needs the protect permission.
func (s *Server) deleteProtection(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	name, err := protectionRuleName(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteProtectionRule(r.Context(), p.Tenant, name, p.User.Email); err != nil {
		return fmt.Errorf("delete protection rule %s: %w", name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkProtected reads the live records of ids with what the type's protection rules read and
// returns them with the version of the rules (crm.ProtectionStore.ProtectionVersion), or a
// *crm.ProtectedError naming each record a rule protects. Without rules it reads nothing and
// returns nil records.
func (s *Server) checkProtected(r *http.Request, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID) ([]crm.Record, int64, error) {
	set, err := triggers.LoadProtection(r.Context(), s.store, t, o)
	if err != nil {
		return nil, 0, fmt.Errorf("read protection rules of %s: %w", o, err)
	}
	if set.Empty() || len(ids) == 0 {
		return nil, set.Version(), nil
	}
	recs, err := s.store.Records(r.Context(), t, o, ids, &crm.ReadOpts{Properties: set.ReadProps(nil, false)})
	if err != nil {
		return nil, 0, fmt.Errorf("read %s for their protection rules: %w", o, err)
	}
	if prot, _ := set.Protected(recs, s.clock.Now()); len(prot) > 0 {
		s.logFailedRules(r.Context(), t, o, crm.FailedRules(prot))
		return nil, 0, &crm.ProtectedError{ObjectType: o, Records: prot}
	}
	if recs == nil {
		recs = []crm.Record{}
	}
	return recs, set.Version(), nil
}

// protectedRounds bounds how many times archiveUnprotected reads and checks again records written
// between its check and their move.
const protectedRounds = 3

// archiveUnprotected moves the live records of ids to the bin unless a protection rule protects
// one of them: then nothing moves and the answer is the *crm.ProtectedError naming each (SPEC S25).
// The records checked move all or none, and only if none was written, and no rule was written or
// removed, since the check (crm.BinStore.ArchiveChecked; without rules, the ids move while none is
// written); otherwise they are read and checked again, up to protectedRounds times, and then the
// answer is a 409 asking to try again.
func (s *Server) archiveUnprotected(r *http.Request, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, by crm.Actor) (crm.ArchiveResult, error) {
	for range protectedRounds {
		recs, version, err := s.checkProtected(r, t, o, ids)
		switch {
		case err != nil:
			return crm.ArchiveResult{}, err
		case recs == nil:
			recs = make([]crm.Record, len(ids))
			for i, id := range ids {
				recs[i] = crm.Record{ID: id, Type: o}
			}
		case len(recs) == 0:
			return crm.ArchiveResult{Missing: ids}, nil
		}
		res, err := s.store.ArchiveChecked(r.Context(), t, o, recs, by, crm.CheckedArchive{All: true, RulesVersion: version})
		if err != nil || len(res.Changed) == 0 {
			return res, err
		}
	}
	return crm.ArchiveResult{}, &crm.ConflictError{Message: fmt.Sprintf(
		"the records were written %d times while they were being deleted, so their protection rules could not be checked on what is stored: nothing was deleted; try again",
		protectedRounds)}
}

// logFailedRules warns that the protection rules of failed (counts of records by rule) could not be
// evaluated on some records of type o, which they therefore protect (protection fails closed), so
// that someone fixes them. It names the rules and counts only: no record data. Nothing for none.
func (s *Server) logFailedRules(ctx context.Context, t crm.TenantID, o crm.ObjectType, failed crm.ProtectedCounts) {
	if len(failed) == 0 {
		return
	}
	s.cfg.Logger.WarnContext(ctx, "protection rules cannot be evaluated on some records: they protect them until fixed",
		slog.String("tenant_id", string(t)), slog.String("object_type", string(o)),
		slog.String("rules", failed.String()), slog.String("correlation_id", correlationID(ctx)))
}
