package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/crmflow/crmflow/crm"
	"github.com/redis/go-redis/v9"
)

// ObjectTypes implements Store.
func (s *Store) ObjectTypes(ctx context.Context, t crm.TenantID) ([]crm.ObjectTypeDef, error) {
	h, err := s.rdb.HGetAll(ctx, ObjectTypesKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("read object types: %w", err)
	}
	out := make([]crm.ObjectTypeDef, 0, len(h))
	for name, raw := range h {
		var d crm.ObjectTypeDef
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			return nil, fmt.Errorf("decode object type %s: %w", name, err)
		}
		sch, err := s.Schema(ctx, t, crm.ObjectType(name))
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
func (s *Store) AllObjectTypes(ctx context.Context, t crm.TenantID) ([]crm.ObjectType, error) {
	names, err := s.rdb.HKeys(ctx, ObjectTypesKey(t)).Result()
	if err != nil {
		return nil, fmt.Errorf("read object types: %w", err)
	}
	return objectTypes(names), nil
}

// objectTypes is the list AllObjectTypes answers: the standard object types, then the custom ones
// named (the fields of ObjectTypesKey), sorted. It sorts names in place.
func objectTypes(names []string) []crm.ObjectType {
	sort.Strings(names)
	out := append([]crm.ObjectType(nil), crm.StandardObjectTypes...)
	for _, n := range names {
		out = append(out, crm.ObjectType(n))
	}
	return out
}

// CreateObjectType implements Store.
func (s *Store) CreateObjectType(ctx context.Context, t crm.TenantID, def crm.ObjectTypeDef) (crm.ObjectTypeDef, error) {
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
		return crm.ObjectTypeDef{}, err
	}
	def.CreatedAt = s.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	head := def
	head.Properties = nil
	raw, err := json.Marshal(head)
	if err != nil {
		return crm.ObjectTypeDef{}, fmt.Errorf("encode object type: %w", err)
	}
	call := createObjectTypeCall{ObjectTypes: ObjectTypesKey(t), Schema: SchemaKey(t, crm.ObjectType(def.Name)),
		Name: def.Name, Definition: string(raw)}
	for _, p := range def.Properties {
		pj, err := json.Marshal(p)
		if err != nil {
			return crm.ObjectTypeDef{}, fmt.Errorf("encode property: %w", err)
		}
		call.Properties = append(call.Properties, p.Name, string(pj))
	}
	size := 0
	for _, v := range call.Properties {
		size += len(v)
	}
	if size > crm.MaxSchemaBytes {
		return crm.ObjectTypeDef{}, schemaTooLarge(crm.ObjectType(def.Name), size)
	}
	n, err := createObjectTypeScript.run(ctx, s, call).Int()
	if err != nil {
		return crm.ObjectTypeDef{}, fmt.Errorf("create object type %s: %w", def.Name, err)
	}
	if n == 0 {
		return crm.ObjectTypeDef{}, &crm.ConflictError{Message: fmt.Sprintf("object type %q already exists: choose another name", def.Name)}
	}
	return def, nil
}

// Schema implements Store.
func (s *Store) Schema(ctx context.Context, t crm.TenantID, o crm.ObjectType) (crm.Schema, error) {
	sch, standard := crm.StandardSchema(o)
	var h map[string]string
	if standard {
		var err error
		if h, err = s.rdb.HGetAll(ctx, SchemaKey(t, o)).Result(); err != nil {
			return crm.Schema{}, fmt.Errorf("read schema of %s: %w", o, err)
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
			return crm.Schema{}, fmt.Errorf("read schema of %s: %w", o, err)
		}
		if !exists.Val() {
			return crm.Schema{}, &crm.NotFoundError{Kind: "object type", ID: string(o)}
		}
		sch = crm.Schema{Type: o, Properties: map[string]crm.Property{}}
		h = props.Val()
	}
	for name, raw := range h {
		var p crm.Property
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return crm.Schema{}, fmt.Errorf("decode property %s.%s: %w", o, name, err)
		}
		sch.Properties[name] = p
	}
	return sch, nil
}

// CreateProperty implements Store.
func (s *Store) CreateProperty(ctx context.Context, t crm.TenantID, o crm.ObjectType, p crm.Property) (crm.Property, error) {
	p.Standard = false
	if p.Label == "" {
		p.Label = p.Name
	}
	if err := p.Validate(); err != nil {
		return crm.Property{}, err
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return crm.Property{}, err
	}
	if _, ok := sch.Properties[p.Name]; ok {
		return crm.Property{}, &crm.ConflictError{Message: fmt.Sprintf("property %q already exists on %s: choose another name", p.Name, o)}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return crm.Property{}, fmt.Errorf("encode property: %w", err)
	}
	n, err := createPropertyScript.run(ctx, s, createPropertyCall{Schema: SchemaKey(t, o), Name: p.Name,
		Definition: string(raw), Max: crm.MaxSchemaBytes}).Int()
	if err != nil {
		return crm.Property{}, fmt.Errorf("create property %s.%s: %w", o, p.Name, err)
	}
	switch {
	case n == 0:
		return crm.Property{}, &crm.ConflictError{Message: fmt.Sprintf("property %q already exists on %s: choose another name", p.Name, o)}
	case n < 0:
		return crm.Property{}, schemaTooLarge(o, -n)
	}
	return p, nil
}

// schemaTooLarge is the refusal of a property (or a custom type) whose definitions would take size
// bytes with those of type o, more than crm.MaxSchemaBytes.
func schemaTooLarge(o crm.ObjectType, size int) *crm.ValidationError {
	return &crm.ValidationError{Field: "properties", Code: "SCHEMA_TOO_LARGE",
		Message: fmt.Sprintf("the properties of %s would take %d bytes to define, over the %d an object type may have: define fewer or shorter options and labels (nothing was created)",
			o, size, crm.MaxSchemaBytes)}
}
