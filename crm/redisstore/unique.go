package redisstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/crmflow/crmflow/crm"
)

// uniqueProperty returns the unique property prop of sch, or a *ValidationError saying why prop
// cannot name records: not a property of the type, or not unique.
func uniqueProperty(sch crm.Schema, prop string) (crm.Property, error) {
	p, ok := sch.Properties[prop]
	if !ok {
		return crm.Property{}, &crm.ValidationError{Field: "idProperty", Code: "INVALID_ID_PROPERTY",
			Message: fmt.Sprintf("idProperty %q is not a property of %s: use hs_object_id (the id) or one of its unique properties (%s)",
				prop, sch.Type, uniqueList(sch))}
	}
	if !p.Unique {
		return crm.Property{}, &crm.ValidationError{Field: "idProperty", Code: "INVALID_ID_PROPERTY",
			Message: fmt.Sprintf("idProperty %q cannot name %s records: it is not a unique property; use hs_object_id (the id) or one of its unique properties (%s)",
				prop, sch.Type, uniqueList(sch))}
	}
	return p, nil
}

// uniqueList names the properties that can name records of sch's type, for error messages.
func uniqueList(sch crm.Schema) string {
	names := sch.UniqueProperties()
	if sch.Type == crm.Contacts {
		names = append([]string{"email"}, names...)
	}
	if len(names) == 0 {
		return "it has none: create a property with hasUniqueValue true"
	}
	return strings.Join(names, ", ")
}

// RecordsByUnique implements Store.
func (s *Store) RecordsByUnique(ctx context.Context, t crm.TenantID, o crm.ObjectType, prop string, values []string) (map[string]crm.RecordID, error) {
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return nil, err
	}
	p, err := uniqueProperty(sch, prop)
	if err != nil {
		return nil, err
	}
	given := make([]string, 0, len(values))
	norm := make([]string, 0, len(values))
	for _, v := range values {
		if n, bad := crm.NormalizeValue(p, v); bad == nil && n != "" {
			given = append(given, v)
			norm = append(norm, n)
		}
	}
	found, err := s.recordsByUnique(ctx, t, o, prop, norm)
	if err != nil {
		return nil, err
	}
	out := make(map[string]crm.RecordID, len(found))
	for i, n := range norm {
		if id, ok := found[n]; ok {
			out[given[i]] = id
		}
	}
	return out, nil
}

// recordsByUnique looks the normalized values of the unique property prop up in one round trip:
// the ids of the live records holding them, keyed by value.
func (s *Store) recordsByUnique(ctx context.Context, t crm.TenantID, o crm.ObjectType, prop string, values []string) (map[string]crm.RecordID, error) {
	out := make(map[string]crm.RecordID, len(values))
	if len(values) == 0 {
		return out, nil
	}
	got, err := s.rdb.HMGet(ctx, UniqueIndexKey(t, o, prop), values...).Result()
	if err != nil {
		return nil, fmt.Errorf("find %s by %s: %w", o, prop, err)
	}
	for i, v := range got {
		if id, ok := v.(string); ok {
			out[values[i]] = crm.RecordID(id)
		}
	}
	return out, nil
}
