package crm

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

func associationMember(r AssociationRef) string { return string(r.Type) + ":" + string(r.ID) }

// Associate implements Store.
func (s *RedisStore) Associate(ctx context.Context, t TenantID, from, to AssociationRef) error {
	for _, r := range []AssociationRef{from, to} {
		if _, err := s.Schema(ctx, t, r.Type); err != nil {
			return err
		}
	}
	if from == to {
		return &ValidationError{Field: "toObjectId", Code: "SELF_ASSOCIATION", Message: "a record cannot be associated with itself"}
	}
	n, err := associateScript.Run(ctx, s.rdb,
		[]string{RecordKey(t, from.Type, from.ID), RecordKey(t, to.Type, to.ID), AssocKey(t, from.Type, from.ID), AssocKey(t, to.Type, to.ID)},
		associationMember(from), associationMember(to)).Int()
	if err != nil {
		return fmt.Errorf("associate: %w", err)
	}
	switch n {
	case -1:
		return &NotFoundError{Kind: "record", ID: string(from.Type) + "/" + string(from.ID)}
	case -2:
		return &NotFoundError{Kind: "record", ID: string(to.Type) + "/" + string(to.ID)}
	}
	return nil
}

// Dissociate implements Store.
func (s *RedisStore) Dissociate(ctx context.Context, t TenantID, from, to AssociationRef) error {
	if err := dissociateScript.Run(ctx, s.rdb, []string{AssocKey(t, from.Type, from.ID), AssocKey(t, to.Type, to.ID)},
		associationMember(from), associationMember(to)).Err(); err != nil {
		return fmt.Errorf("dissociate: %w", err)
	}
	return nil
}

// Associations implements Store.
func (s *RedisStore) Associations(ctx context.Context, t TenantID, from AssociationRef, toType ObjectType) ([]RecordID, error) {
	if _, err := s.Record(ctx, t, from.Type, from.ID, &ReadOpts{Properties: []string{"-"}}); err != nil {
		return nil, err
	}
	members, err := s.rdb.SMembers(ctx, AssocKey(t, from.Type, from.ID)).Result()
	if err != nil {
		return nil, fmt.Errorf("read associations: %w", err)
	}
	var ids []RecordID
	for _, m := range members {
		typ, id, ok := strings.Cut(m, ":")
		if ok && ObjectType(typ) == toType {
			ids = append(ids, RecordID(id))
		}
	}
	sort.Slice(ids, func(i, j int) bool { return numLess(string(ids[i]), string(ids[j])) })
	return ids, nil
}

// AssociationsOf implements Store.
func (s *RedisStore) AssociationsOf(ctx context.Context, t TenantID, o ObjectType, ids []RecordID, toTypes []ObjectType) (map[RecordID]map[ObjectType][]RecordID, error) {
	out := make(map[RecordID]map[ObjectType][]RecordID, len(ids))
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
			if !ok || !slices.Contains(toTypes, ObjectType(typ)) {
				continue
			}
			if out[id] == nil {
				out[id] = map[ObjectType][]RecordID{}
			}
			out[id][ObjectType(typ)] = append(out[id][ObjectType(typ)], RecordID(other))
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
