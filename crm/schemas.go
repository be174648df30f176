package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// ObjectTypes implements Store.
func (s *RedisStore) ObjectTypes(ctx context.Context, t TenantID) ([]ObjectTypeDef, error) {
	h, err := s.rdb.HGetAll(ctx, ObjectTypesKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("read object types: %w", err)
	}
	out := make([]ObjectTypeDef, 0, len(h))
	for name, raw := range h {
		var d ObjectTypeDef
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			return nil, fmt.Errorf("decode object type %s: %w", name, err)
		}
		sch, err := s.Schema(ctx, t, ObjectType(name))
		if err != nil {
			return nil, err
		}
		d.Properties = d.Properties[:0]
		for _, n := range sch.Names() {
			d.Properties = append(d.Properties, sch.Properties[n])
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// AllObjectTypes implements Store.
func (s *RedisStore) AllObjectTypes(ctx context.Context, t TenantID) ([]ObjectType, error) {
	names, err := s.rdb.HKeys(ctx, ObjectTypesKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("read object types: %w", err)
	}
	sort.Strings(names)
	out := append([]ObjectType(nil), StandardObjectTypes...)
	for _, n := range names {
		out = append(out, ObjectType(n))
	}
	return out, nil
}

// CreateObjectType implements Store.
func (s *RedisStore) CreateObjectType(ctx context.Context, t TenantID, def ObjectTypeDef) (ObjectTypeDef, error) {
	if def.Label == "" {
		def.Label = def.Name
	}
	if def.PluralLabel == "" {
		def.PluralLabel = def.Label
	}
	for i := range def.Properties {
		def.Properties[i].Standard = false
		if def.Properties[i].Label == "" {
			def.Properties[i].Label = def.Properties[i].Name
		}
	}
	if err := def.Validate(); err != nil {
		return ObjectTypeDef{}, err
	}
	def.CreatedAt = s.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	head := def
	head.Properties = nil
	raw, err := json.Marshal(head)
	if err != nil {
		return ObjectTypeDef{}, fmt.Errorf("encode object type: %w", err)
	}
	args := []any{def.Name, string(raw)}
	for _, p := range def.Properties {
		pj, err := json.Marshal(p)
		if err != nil {
			return ObjectTypeDef{}, fmt.Errorf("encode property: %w", err)
		}
		args = append(args, p.Name, string(pj))
	}
	n, err := createObjectTypeScript.Run(ctx, s.rdb,
		[]string{ObjectTypesKey(t), SchemaKey(t, ObjectType(def.Name))}, args...).Int()
	if err != nil {
		return ObjectTypeDef{}, fmt.Errorf("create object type %s: %w", def.Name, err)
	}
	if n == 0 {
		return ObjectTypeDef{}, &ConflictError{Message: fmt.Sprintf("object type %q already exists: choose another name", def.Name)}
	}
	return def, nil
}

// Schema implements Store.
func (s *RedisStore) Schema(ctx context.Context, t TenantID, o ObjectType) (Schema, error) {
	sch, standard := StandardSchema(o)
	var h map[string]string
	if standard {
		var err error
		if h, err = s.rdb.HGetAll(ctx, SchemaKey(t, o)).Result(); err != nil {
			return Schema{}, fmt.Errorf("read schema of %s: %w", o, err)
		}
	} else {
		// A custom type's definition and properties in one round trip (same slot: the tenant's).
		var exists *redis.BoolCmd
		var props *redis.MapStringStringCmd
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			exists = p.HExists(ctx, ObjectTypesKey(t), string(o))
			props = p.HGetAll(ctx, SchemaKey(t, o))
			return nil
		}); err != nil {
			return Schema{}, fmt.Errorf("read schema of %s: %w", o, err)
		}
		if !exists.Val() {
			return Schema{}, &NotFoundError{Kind: "object type", ID: string(o)}
		}
		sch = Schema{Type: o, Properties: map[string]Property{}}
		h = props.Val()
	}
	for name, raw := range h {
		var p Property
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return Schema{}, fmt.Errorf("decode property %s.%s: %w", o, name, err)
		}
		sch.Properties[name] = p
	}
	return sch, nil
}

// CreateProperty implements Store.
func (s *RedisStore) CreateProperty(ctx context.Context, t TenantID, o ObjectType, p Property) (Property, error) {
	p.Standard = false
	if p.Label == "" {
		p.Label = p.Name
	}
	if err := p.Validate(); err != nil {
		return Property{}, err
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return Property{}, err
	}
	if _, ok := sch.Properties[p.Name]; ok {
		return Property{}, &ConflictError{Message: fmt.Sprintf("property %q already exists on %s: choose another name", p.Name, o)}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return Property{}, fmt.Errorf("encode property: %w", err)
	}
	ok, err := s.rdb.HSetNX(ctx, SchemaKey(t, o), p.Name, string(raw)).Result()
	if err != nil {
		return Property{}, fmt.Errorf("create property %s.%s: %w", o, p.Name, err)
	}
	if !ok {
		return Property{}, &ConflictError{Message: fmt.Sprintf("property %q already exists on %s: choose another name", p.Name, o)}
	}
	return p, nil
}
