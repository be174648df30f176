package redisstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

func associationMember(r crm.AssociationRef) string { return string(r.Type) + ":" + string(r.ID) }

// Associate implements Store.
func (s *Store) Associate(ctx context.Context, t crm.TenantID, from, to crm.AssociationRef) error {
	for _, r := range []crm.AssociationRef{from, to} {
		if _, err := s.Schema(ctx, t, r.Type); err != nil {
			return err
		}
	}
	if from == to {
		return &crm.ValidationError{Field: "toObjectId", Code: "SELF_ASSOCIATION", Message: "a record cannot be associated with itself"}
	}
	n, err := associateScript.run(ctx, s, associateCall{
		FromRecord: RecordKey(t, from.Type, from.ID), ToRecord: RecordKey(t, to.Type, to.ID),
		FromAssoc: AssocKey(t, from.Type, from.ID), ToAssoc: AssocKey(t, to.Type, to.ID),
		From: associationMember(from), To: associationMember(to), Max: s.cfg.MaxAssociations,
	}).Int()
	if err != nil {
		return fmt.Errorf("associate: %w", err)
	}
	switch n {
	case -1:
		return &crm.NotFoundError{Kind: "record", ID: string(from.Type) + "/" + string(from.ID)}
	case -2:
		return &crm.NotFoundError{Kind: "record", ID: string(to.Type) + "/" + string(to.ID)}
	case -3:
		return tooManyAssociations("fromObjectId", from, s.cfg.MaxAssociations)
	case -4:
		return tooManyAssociations("toObjectId", to, s.cfg.MaxAssociations)
	}
	return nil
}

// tooManyAssociations is the refusal of an association of r, which has max associations already.
func tooManyAssociations(field string, r crm.AssociationRef, max int) *crm.ValidationError {
	return &crm.ValidationError{Field: field, Code: "TOO_MANY_ASSOCIATIONS",
		Message: fmt.Sprintf("%s %s has %d associations, the most a record may have: remove some before adding another (nothing was associated)", r.Type, r.ID, max)}
}

// Dissociate implements Store.
func (s *Store) Dissociate(ctx context.Context, t crm.TenantID, from, to crm.AssociationRef) error {
	n, err := dissociateScript.run(ctx, s, dissociateCall{
		FromRecord: RecordKey(t, from.Type, from.ID), ToRecord: RecordKey(t, to.Type, to.ID),
		FromAssoc: AssocKey(t, from.Type, from.ID), ToAssoc: AssocKey(t, to.Type, to.ID),
		From: associationMember(from), To: associationMember(to),
	}).Int()
	if err != nil {
		return fmt.Errorf("dissociate: %w", err)
	}
	switch n {
	case -1:
		return &crm.NotFoundError{Kind: "record", ID: string(from.Type) + "/" + string(from.ID)}
	case -2:
		return &crm.NotFoundError{Kind: "record", ID: string(to.Type) + "/" + string(to.ID)}
	}
	return nil
}

// Associations implements Store.
func (s *Store) Associations(ctx context.Context, t crm.TenantID, from crm.AssociationRef, toType crm.ObjectType) ([]crm.RecordID, error) {
	if _, err := s.Record(ctx, t, from.Type, from.ID, &crm.ReadOpts{Properties: []string{"-"}}); err != nil {
		return nil, err
	}
	members, err := s.rdb.SMembers(ctx, AssocKey(t, from.Type, from.ID)).Result()
	if err != nil {
		return nil, fmt.Errorf("read associations: %w", err)
	}
	var ids []crm.RecordID
	for _, m := range members {
		typ, id, ok := strings.Cut(m, ":")
		if ok && crm.ObjectType(typ) == toType {
			ids = append(ids, crm.RecordID(id))
		}
	}
	sort.Slice(ids, func(i, j int) bool { return numLess(string(ids[i]), string(ids[j])) })
	return ids, nil
}

// AssociationsOf implements Store.
func (s *Store) AssociationsOf(ctx context.Context, t crm.TenantID, o crm.ObjectType, ids []crm.RecordID, toTypes []crm.ObjectType) (map[crm.RecordID]map[crm.ObjectType][]crm.RecordID, error) {
	out := make(map[crm.RecordID]map[crm.ObjectType][]crm.RecordID, len(ids))
	if len(ids) == 0 || len(toTypes) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.SMembers(ctx, AssocKey(t, o, id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read associations of %s: %w", o, err)
	}
	for i, id := range ids {
		for _, m := range cmds[i].Val() {
			typ, other, ok := strings.Cut(m, ":")
			if !ok || !slices.Contains(toTypes, crm.ObjectType(typ)) {
				continue
			}
			if out[id] == nil {
				out[id] = map[crm.ObjectType][]crm.RecordID{}
			}
			out[id][crm.ObjectType(typ)] = append(out[id][crm.ObjectType(typ)], crm.RecordID(other))
		}
		for _, linked := range out[id] {
			sort.Slice(linked, func(a, b int) bool { return numLess(string(linked[a]), string(linked[b])) })
		}
	}
	return out, nil
}

func numLess(a, b string) bool {
	x, _ := strconv.ParseUint(a, 10, 64)
	y, _ := strconv.ParseUint(b, 10, 64)
	return x < y
}
