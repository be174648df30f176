package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/crmflow/crmflow/crm"
)

func associationMember(r crm.AssociationRef) string { return string(r.Type) + ":" + string(r.ID) }

// Associate implements Store: AssociatePairs of the one pair.
func (s *Store) Associate(ctx context.Context, t crm.TenantID, from, to crm.AssociationRef) error {
	errs, err := s.AssociatePairs(ctx, t, []crm.AssociationPair{{From: from, To: to}})
	if err != nil {
		return err
	}
	var ve *crm.ValidationError
	if errors.As(errs[0], &ve) {
		return &crm.ValidationError{Field: ve.Field, Code: ve.Code, Message: ve.Message + " (nothing was associated)"}
	}
	return errs[0]
}

// AssociatePairs implements Store. It checks each object type of the pairs once, then links them
// all with one script call, however many they are.
func (s *Store) AssociatePairs(ctx context.Context, t crm.TenantID, pairs []crm.AssociationPair) ([]error, error) {
	if err := s.checkPairTypes(ctx, t, pairs); err != nil {
		return nil, err
	}
	for _, p := range pairs {
		if p.From == p.To {
			return nil, &crm.ValidationError{Field: "toObjectId", Code: "SELF_ASSOCIATION",
				Message: fmt.Sprintf("%s %s cannot be associated with itself", p.From.Type, p.From.ID)}
		}
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	keys, members := pairKeys(t, pairs)
	codes, err := associateScript.run(ctx, s, associateCall{Pairs: keys, Max: s.cfg.MaxAssociations, Members: members}).Int64Slice()
	return s.pairErrors("associate", pairs, codes, err)
}

// pairErrors turns the codes an association script answered for pairs into an error per pair:
// -1 and -2 its first or second record is not live, -3 and -4 that record has the most
// associations it may have; what answered nothing (0 or more) is nil. err, the script's, is
// returned as what of the call failed.
func (s *Store) pairErrors(what string, pairs []crm.AssociationPair, codes []int64, err error) ([]error, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(codes) != len(pairs) {
		return nil, fmt.Errorf("%s: %d answers for %d pairs", what, len(codes), len(pairs))
	}
	out := make([]error, len(pairs))
	for i, p := range pairs {
		switch codes[i] {
		case -1:
			out[i] = notLive(p.From)
		case -2:
			out[i] = notLive(p.To)
		case -3:
			out[i] = tooManyAssociations("fromObjectId", p.From, s.cfg.MaxAssociations)
		case -4:
			out[i] = tooManyAssociations("toObjectId", p.To, s.cfg.MaxAssociations)
		}
	}
	return out, nil
}

// checkPairTypes checks that each object type of pairs is one of tenant t (a custom one must be
// defined), reading each type's schema once.
func (s *Store) checkPairTypes(ctx context.Context, t crm.TenantID, pairs []crm.AssociationPair) error {
	seen := map[crm.ObjectType]bool{}
	for _, p := range pairs {
		for _, o := range []crm.ObjectType{p.From.Type, p.To.Type} {
			if seen[o] {
				continue
			}
			seen[o] = true
			if _, err := s.Schema(ctx, t, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// notLive is the error of a record r that is not live: it does not exist, or is in the bin.
func notLive(r crm.AssociationRef) *crm.NotFoundError {
	return &crm.NotFoundError{Kind: "record", ID: string(r.Type) + "/" + string(r.ID)}
}

// tooManyAssociations is the refusal of an association of r, which has max associations already.
func tooManyAssociations(field string, r crm.AssociationRef, max int) *crm.ValidationError {
	return &crm.ValidationError{Field: field, Code: "TOO_MANY_ASSOCIATIONS",
		Message: fmt.Sprintf("%s %s has %d associations, the most a record may have: remove some before adding another", r.Type, r.ID, max)}
}

// Dissociate implements Store: DissociatePairs of the one pair.
func (s *Store) Dissociate(ctx context.Context, t crm.TenantID, from, to crm.AssociationRef) error {
	errs, err := s.DissociatePairs(ctx, t, []crm.AssociationPair{{From: from, To: to}})
	if err != nil {
		return err
	}
	return errs[0]
}

// DissociatePairs implements Store, with one script call however many the pairs are.
func (s *Store) DissociatePairs(ctx context.Context, t crm.TenantID, pairs []crm.AssociationPair) ([]error, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	keys, members := pairKeys(t, pairs)
	codes, err := dissociateScript.run(ctx, s, dissociateCall{Pairs: keys, Members: members}).Int64Slice()
	return s.pairErrors("dissociate", pairs, codes, err)
}

// Associations implements Store: ReadAssociations of the one record, whose absence is a
// *crm.NotFoundError.
func (s *Store) Associations(ctx context.Context, t crm.TenantID, from crm.AssociationRef, toType crm.ObjectType) ([]crm.RecordID, error) {
	linked, err := s.ReadAssociations(ctx, t, from.Type, []crm.RecordID{from.ID}, toType)
	if err != nil {
		return nil, err
	}
	ids, ok := linked[from.ID]
	if !ok {
		return nil, notLive(from)
	}
	return ids, nil
}

// ReadAssociations implements Store, with one script call however many the records are.
func (s *Store) ReadAssociations(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, toType crm.ObjectType) (map[crm.RecordID][]crm.RecordID, error) {
	if _, err := s.Schema(ctx, t, o); err != nil {
		return nil, err
	}
	linked, over, err := s.readLinked(ctx, t, o, ids, []crm.ObjectType{toType})
	if err != nil {
		return nil, err
	}
	if over > 0 {
		return nil, s.tooManyAssociationsRead("inputs", len(ids), o, over, "read fewer records at a time")
	}
	out := make(map[crm.RecordID][]crm.RecordID, len(linked))
	for id, lists := range linked {
		out[id] = lists[0]
	}
	return out, nil
}

// AssociationsOf implements Store, with one script call however many the records and the types
// are.
func (s *Store) AssociationsOf(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, toTypes []crm.ObjectType) (map[crm.RecordID]map[crm.ObjectType][]crm.RecordID, error) {
	out := make(map[crm.RecordID]map[crm.ObjectType][]crm.RecordID, len(ids))
	if len(ids) == 0 || len(toTypes) == 0 {
		return out, nil
	}
	var types []crm.ObjectType
	for _, to := range toTypes {
		if !slices.Contains(types, to) {
			types = append(types, to)
		}
	}
	linked, over, err := s.readLinked(ctx, t, o, ids, types)
	if err != nil {
		return nil, err
	}
	if over > 0 {
		return nil, s.tooManyAssociationsRead("associations", len(ids), o, over,
			"read fewer records at a time, or each record's associations a page at a time")
	}
	for id, lists := range linked {
		for k, others := range lists {
			if len(others) == 0 {
				continue
			}
			if out[id] == nil {
				out[id] = map[crm.ObjectType][]crm.RecordID{}
			}
			out[id][types[k]] = others
		}
	}
	return out, nil
}

// readLinked reads, with one call of readAssociationsScript, the records of each of toTypes
// (distinct) linked to each of ids that is a live record of type o: by record, one list per type
// of toTypes, in their order, each ascending. When the records have more associations in all
// than Config.AssociationReadBudget, it reads none and over is their number.
func (s *Store) readLinked(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, toTypes []crm.ObjectType) (linked map[crm.RecordID][][]crm.RecordID, over int64, err error) {
	linked = make(map[crm.RecordID][][]crm.RecordID, len(ids))
	if len(ids) == 0 {
		return linked, 0, nil
	}
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, RecordKey(t, o, id), AssocKey(t, o, id))
	}
	reply, err := readAssociationsScript.run(ctx, s, readAssociationsCall{Records: keys, Max: s.cfg.AssociationReadBudget, ToTypes: toTypes}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("read associations of %s: %w", o, err)
	}
	entries, ok := reply.([]any)
	if !ok {
		total, _ := reply.(int64)
		return nil, total, nil
	}
	if len(entries) != len(ids) {
		return nil, 0, fmt.Errorf("read associations of %s: %d answers for %d records", o, len(entries), len(ids))
	}
	for i, e := range entries {
		lists, ok := e.([]any)
		if !ok {
			continue // not live
		}
		if len(lists) != len(toTypes) {
			return nil, 0, fmt.Errorf("read associations of %s: %d lists for %d types", o, len(lists), len(toTypes))
		}
		byType := make([][]crm.RecordID, len(toTypes))
		for k, l := range lists {
			members, _ := l.([]any)
			others := make([]crm.RecordID, 0, len(members))
			for _, m := range members {
				if id, ok := m.(string); ok {
					others = append(others, crm.RecordID(id))
				}
			}
			sort.Slice(others, func(a, b int) bool { return numLess(string(others[a]), string(others[b])) })
			byType[k] = others
		}
		linked[ids[i]] = byType
	}
	return linked, 0, nil
}

// tooManyAssociationsRead is the refusal of a read of the associations of n records of type o,
// which have total associations in all, more than Config.AssociationReadBudget; todo says what
// to do instead.
func (s *Store) tooManyAssociationsRead(field string, n int, o crm.ObjectType, total int64, todo string) *crm.ValidationError {
	return &crm.ValidationError{Field: field, Code: crm.CodeTooManyAssociationsRead,
		Message: fmt.Sprintf("the %d %s records read have %d associations in all, more than the %d one read may look at: %s",
			n, o, total, s.cfg.AssociationReadBudget, todo)}
}

func numLess(a, b string) bool {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	return x < y
}
