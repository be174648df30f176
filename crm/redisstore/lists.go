package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// CreateList implements Store.
func (s *Store) CreateList(ctx context.Context, t crm.TenantID, name string, o crm.ObjectType) (crm.ListDef, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return crm.ListDef{}, &crm.ValidationError{Field: "name", Code: "INVALID_LIST_NAME", Message: "a list needs a name of 1 to 200 characters"}
	}
	if o != crm.Contacts && o != crm.Companies {
		return crm.ListDef{}, &crm.ValidationError{Field: "objectType", Code: "INVALID_LIST_TYPE",
			Message: fmt.Sprintf("lists hold contacts or companies, not %q", o)}
	}
	n, err := s.rdb.Incr(ctx, SeqKey(t, "lists")).Result()
	if err != nil {
		return crm.ListDef{}, fmt.Errorf("draw list id: %w", err)
	}
	id := crm.ListID(strconv.FormatInt(n, 10))
	now := s.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	had, err := createListScript.run(ctx, s, createListCall{
		Lists: ListsKey(t), List: ListKey(t, id), ID: id, Name: name, Type: o, At: now.UnixMilli(), Max: crm.MaxLists,
	}).Int()
	if err != nil {
		return crm.ListDef{}, fmt.Errorf("create list: %w", err)
	}
	if had < 0 {
		return crm.ListDef{}, &crm.ValidationError{Field: "name", Code: "TOO_MANY_LISTS",
			Message: fmt.Sprintf("list %q was not created: the tenant has %d lists, the most it may have; delete the lists no longer used (DELETE /crm/v3/lists/{listId}) first",
				name, -had)}
	}
	return crm.ListDef{ID: id, Name: name, ObjectType: o, CreatedAt: now}, nil
}

// List implements Store.
func (s *Store) List(ctx context.Context, t crm.TenantID, id crm.ListID) (crm.ListDef, error) {
	pipe := s.rdb.Pipeline()
	h := pipe.HGetAll(ctx, ListKey(t, id))
	size := pipe.ZCard(ctx, ListMembersKey(t, id))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return crm.ListDef{}, fmt.Errorf("read list %s: %w", id, err)
	}
	if len(h.Val()) == 0 {
		return crm.ListDef{}, &crm.NotFoundError{Kind: "list", ID: string(id)}
	}
	v := h.Val()
	return crm.ListDef{ID: id, Name: v["name"], ObjectType: crm.ObjectType(v["object_type"]), CreatedAt: parseMS(v["created_at"]), Size: size.Val()}, nil
}

// Lists implements Store. It reads every list and its size in one round trip after the ids.
func (s *Store) Lists(ctx context.Context, t crm.TenantID) ([]crm.ListDef, error) {
	ids, err := s.rdb.ZRange(ctx, ListsKey(t), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read lists: %w", err)
	}
	pipe := s.rdb.Pipeline()
	hs := make([]*redis.MapStringStringCmd, len(ids))
	sizes := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		hs[i] = pipe.HGetAll(ctx, ListKey(t, crm.ListID(id)))
		sizes[i] = pipe.ZCard(ctx, ListMembersKey(t, crm.ListID(id)))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read lists: %w", err)
	}
	out := make([]crm.ListDef, 0, len(ids))
	for i, id := range ids {
		v := hs[i].Val()
		if len(v) == 0 { // deleted between the two reads
			continue
		}
		out = append(out, crm.ListDef{ID: crm.ListID(id), Name: v["name"], ObjectType: crm.ObjectType(v["object_type"]),
			CreatedAt: parseMS(v["created_at"]), Size: sizes[i].Val()})
	}
	return out, nil
}

// DeleteList implements Store.
func (s *Store) DeleteList(ctx context.Context, t crm.TenantID, id crm.ListID) error {
	l, err := s.List(ctx, t, id)
	if err != nil {
		return err
	}
	n, err := deleteListScript.run(ctx, s, deleteListCall{
		Lists: ListsKey(t), List: ListKey(t, id), Members: ListMembersKey(t, id),
		ID: id, MemberOfPrefix: memberOfKeyPrefix(t, l.ObjectType),
	}).Int()
	if err != nil {
		return fmt.Errorf("delete list %s: %w", id, err)
	}
	if n == 0 {
		return &crm.NotFoundError{Kind: "list", ID: string(id)}
	}
	return nil
}

// AddListMembers implements Store.
func (s *Store) AddListMembers(ctx context.Context, t crm.TenantID, id crm.ListID, ids []crm.RecordID) (added, missing []crm.RecordID, err error) {
	if err := checkBatch(len(ids)); err != nil {
		return nil, nil, err
	}
	l, err := s.List(ctx, t, id)
	if err != nil {
		return nil, nil, err
	}
	for _, rid := range ids {
		if _, err := strconv.ParseUint(string(rid), 10, 64); err != nil {
			return nil, nil, &crm.ValidationError{Field: "recordIds", Code: "INVALID_ID", Message: fmt.Sprintf("record id %q is not a number", rid)}
		}
	}
	call := newAddListMembersCall(t, id, l.ObjectType, s.cfg.Clock.Now().UnixMilli(), ids)
	res, err := addListMembersScript.run(ctx, s, call).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, nil, &crm.NotFoundError{Kind: "list", ID: string(id)}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("add list members: %w", err)
	}
	if len(res) != 2 {
		return nil, nil, fmt.Errorf("add list members: the script answered %d arrays, want 2", len(res))
	}
	return scriptIDs(res[0]), scriptIDs(res[1]), nil
}

// RemoveListMembers implements Store.
func (s *Store) RemoveListMembers(ctx context.Context, t crm.TenantID, id crm.ListID, ids []crm.RecordID) ([]crm.RecordID, error) {
	if err := checkBatch(len(ids)); err != nil {
		return nil, err
	}
	l, err := s.List(ctx, t, id)
	if err != nil {
		return nil, err
	}
	call := removeListMembersCall{List: ListKey(t, id), Members: ListMembersKey(t, id), ID: id, IDs: ids}
	for _, rid := range ids {
		call.MemberOf = append(call.MemberOf, MemberOfKey(t, l.ObjectType, rid))
	}
	res, err := removeListMembersScript.run(ctx, s, call).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, &crm.NotFoundError{Kind: "list", ID: string(id)}
	}
	if err != nil {
		return nil, fmt.Errorf("remove list members: %w", err)
	}
	return scriptIDs(res), nil
}

// scriptIDs are the record ids of an array a script answered (nil for an empty one).
func scriptIDs(v any) []crm.RecordID {
	raw, _ := v.([]any)
	var out []crm.RecordID
	for _, m := range raw {
		out = append(out, crm.RecordID(fmt.Sprint(m)))
	}
	return out
}

// ListMembers implements Store.
func (s *Store) ListMembers(ctx context.Context, t crm.TenantID, id crm.ListID, opts *crm.ListOpts) ([]crm.RecordID, string, error) {
	if opts == nil {
		opts = &crm.ListOpts{}
	}
	if _, err := s.List(ctx, t, id); err != nil {
		return nil, "", err
	}
	return s.pageIDs(ctx, ListMembersKey(t, id), opts)
}

// listChunk is how many member ids one read of AllListMembers takes.
const listChunk = 10000

// AllListMembers returns every member id of a list, ascending, reading listChunk ids per round trip.
// A *NotFoundError for an unknown list.
func (s *Store) AllListMembers(ctx context.Context, t crm.TenantID, id crm.ListID) ([]crm.RecordID, error) {
	if _, err := s.List(ctx, t, id); err != nil {
		return nil, err
	}
	// By score (the numeric id) after the last id read, not by position: a member added or removed
	// meanwhile shifts no other member in or out of a page.
	var out []crm.RecordID
	for min := "-inf"; ; {
		raw, err := s.rdb.ZRangeByScore(ctx, ListMembersKey(t, id), &redis.ZRangeBy{Min: min, Max: "+inf", Count: listChunk}).Result()
		if err != nil {
			return nil, fmt.Errorf("read members of list %s: %w", id, err)
		}
		for _, m := range raw {
			out = append(out, crm.RecordID(m))
		}
		if len(raw) < listChunk {
			return out, nil
		}
		min = "(" + raw[len(raw)-1]
	}
}

// IsListMember reports whether a record is a member of a list (false for an unknown list).
func (s *Store) IsListMember(ctx context.Context, t crm.TenantID, id crm.ListID, rec crm.RecordID) (bool, error) {
	_, err := s.rdb.ZScore(ctx, ListMembersKey(t, id), string(rec)).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read list %s: %w", id, err)
	}
	return true, nil
}

// ListMembersAmong reports which of ids are members of list id, in one round trip; a list that
// does not exist has no members.
func (s *Store) ListMembersAmong(ctx context.Context, t crm.TenantID, id crm.ListID, ids []crm.RecordID) (map[crm.RecordID]bool, error) {
	out := map[crm.RecordID]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	members := make([]string, len(ids))
	for i, rid := range ids {
		members[i] = string(rid)
	}
	scores, err := s.rdb.ZMScore(ctx, ListMembersKey(t, id), members...).Result()
	if err != nil {
		return nil, fmt.Errorf("read list %s: %w", id, err)
	}
	for i, sc := range scores {
		if sc != 0 {
			out[ids[i]] = true
		}
	}
	return out, nil
}

// RecordLists implements Store: the record's member-of set (MemberOfKey), by list id.
func (s *Store) RecordLists(ctx context.Context, t crm.TenantID, o crm.ObjectType, id crm.RecordID) ([]crm.ListID, error) {
	raw, err := s.rdb.SMembers(ctx, MemberOfKey(t, o, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the lists of %s %s: %w", o, id, err)
	}
	slices.SortFunc(raw, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
	out := make([]crm.ListID, len(raw))
	for i, l := range raw {
		out[i] = crm.ListID(l)
	}
	return out, nil
}
