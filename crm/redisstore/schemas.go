package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
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
		d, err := s.objectTypeDef(ctx, t, crm.ObjectType(name), raw)
		if err != nil {
			return nil, err
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

// CreateObjectType implements Store: one script defines the type and writes its audit entry.
func (s *Store) CreateObjectType(ctx context.Context, t crm.TenantID, def crm.ObjectTypeDef, by string) (crm.ObjectTypeDef, error) {
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
	call := createObjectTypeCall{ObjectTypes: ObjectTypesKey(t), Schema: SchemaKey(t, crm.ObjectType(def.Name)), Audit: AuditKey(t),
		Name: def.Name, Definition: string(raw), Max: crm.MaxCustomObjectTypes,
		schemaAudit: schemaAudit{By: by, Now: def.CreatedAt.UnixMilli(), AuditMaxLen: auditMaxLen}}
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
		return crm.ObjectTypeDef{}, schemaTooLarge(crm.ObjectType(def.Name), size, "created")
	}
	n, err := createObjectTypeScript.run(ctx, s, call).Int()
	if err != nil {
		return crm.ObjectTypeDef{}, fmt.Errorf("create object type %s: %w", def.Name, err)
	}
	if n == 0 {
		return crm.ObjectTypeDef{}, &crm.ConflictError{Message: fmt.Sprintf("object type %q already exists: choose another name", def.Name)}
	}
	if n < 0 {
		return crm.ObjectTypeDef{}, &crm.ValidationError{Field: "name", Code: "TOO_MANY_OBJECT_TYPES",
			Message: fmt.Sprintf("object type %q was not created: the tenant has %d custom object types, the most it may have; "+
				"add properties to a type it has instead (POST /crm/v3/properties/{objectType})", def.Name, -n)}
	}
	return def, nil
}

// ObjectType implements Store.
func (s *Store) ObjectType(ctx context.Context, t crm.TenantID, o crm.ObjectType) (crm.ObjectTypeDef, error) {
	raw, err := s.rdb.HGet(ctx, ObjectTypesKey(t), string(o)).Result()
	if errors.Is(err, redis.Nil) {
		return crm.ObjectTypeDef{}, &crm.NotFoundError{Kind: "object type", ID: string(o)}
	}
	if err != nil {
		return crm.ObjectTypeDef{}, fmt.Errorf("read object type %s: %w", o, err)
	}
	return s.objectTypeDef(ctx, t, o, raw)
}

// objectTypeDef decodes the definition raw of custom type o and gives it the type's properties.
func (s *Store) objectTypeDef(ctx context.Context, t crm.TenantID, o crm.ObjectType, raw string) (crm.ObjectTypeDef, error) {
	var d crm.ObjectTypeDef
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return crm.ObjectTypeDef{}, fmt.Errorf("decode object type %s: %w", o, err)
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return crm.ObjectTypeDef{}, err
	}
	d.Properties = d.Properties[:0]
	for _, n := range sch.Names() {
		d.Properties = append(d.Properties, sch.Properties[n])
	}
	return d, nil
}

// Schema implements Store. It reads the type's properties and its archived ones in one round
// trip (with the type's definition, for a custom type: the same slot, the tenant's).
func (s *Store) Schema(ctx context.Context, t crm.TenantID, o crm.ObjectType) (crm.Schema, error) {
	sch, standard := crm.StandardSchema(o)
	var exists *redis.BoolCmd
	var props, archived *redis.MapStringStringCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if !standard {
			exists = p.HExists(ctx, ObjectTypesKey(t), string(o))
		}
		props = p.HGetAll(ctx, SchemaKey(t, o))
		archived = p.HGetAll(ctx, ArchivedPropertiesKey(t, o))
		return nil
	}); err != nil {
		return crm.Schema{}, fmt.Errorf("read schema of %s: %w", o, err)
	}
	if !standard {
		if !exists.Val() {
			return crm.Schema{}, &crm.NotFoundError{Kind: "object type", ID: string(o)}
		}
		sch = crm.Schema{Type: o, Properties: map[string]crm.Property{}}
	}
	for name, raw := range props.Val() {
		var p crm.Property
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return crm.Schema{}, fmt.Errorf("decode property %s.%s: %w", o, name, err)
		}
		sch.Properties[name] = p
	}
	for name, raw := range archived.Val() {
		var p crm.Property
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return crm.Schema{}, fmt.Errorf("decode archived property %s.%s: %w", o, name, err)
		}
		if sch.Archived == nil {
			sch.Archived = map[string]crm.Property{}
		}
		sch.Archived[name] = p
	}
	return sch, nil
}

// CreateProperty implements Store: one script adds the property and writes its audit entry.
func (s *Store) CreateProperty(ctx context.Context, t crm.TenantID, o crm.ObjectType, p crm.Property, by string) (crm.Property, error) {
	made, err := s.CreateProperties(ctx, t, o, []crm.Property{p}, by)
	if err != nil {
		return crm.Property{}, err
	}
	return made[0], nil
}

// CreateProperties implements Store: one script adds them all, or none, and writes their audit
// entries (lua/create_property.lua).
func (s *Store) CreateProperties(ctx context.Context, t crm.TenantID, o crm.ObjectType, ps []crm.Property, by string) ([]crm.Property, error) {
	if len(ps) == 0 {
		return nil, &crm.ValidationError{Field: "properties", Code: "NO_PROPERTIES", Message: "no property to create: give at least one"}
	}
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return nil, err
	}
	out := make([]crm.Property, len(ps))
	call := createPropertyCall{Schema: SchemaKey(t, o), Archived: ArchivedPropertiesKey(t, o), Audit: AuditKey(t),
		Type: o, Max: crm.MaxSchemaBytes, schemaAudit: s.schemaAudit(by)}
	for i, p := range ps {
		p.Standard = false
		if p.Label == "" {
			p.Label = p.Name
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if slices.Contains(call.Names, p.Name) {
			return nil, &crm.ValidationError{Field: "name", Code: "DUPLICATE_NAME",
				Message: fmt.Sprintf("property %q is given twice: create each property once (nothing was created)", p.Name)}
		}
		if _, ok := sch.Properties[p.Name]; ok {
			return nil, propertyExists(o, p.Name)
		}
		if a, ok := sch.Archived[p.Name]; ok {
			return nil, archivedNameTaken(o, a)
		}
		raw, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode property: %w", err)
		}
		call.Names, call.Definitions = append(call.Names, p.Name), append(call.Definitions, string(raw))
		out[i] = p
	}
	reply, err := createPropertyScript.run(ctx, s, call).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("create properties %s.%s: %w", o, strings.Join(call.Names, ","), err)
	}
	switch code, i := reply[0], reply[1]; {
	case code == 0:
		return nil, propertyExists(o, call.Names[i-1])
	case code == 2:
		return nil, archivedNameTaken(o, crm.Property{Name: call.Names[i-1]})
	case code < 0:
		return nil, schemaTooLarge(o, int(-code), "created")
	}
	return out, nil
}

// propertyExists is the refusal of a new property named as live property name of type o.
func propertyExists(o crm.ObjectType, name string) *crm.ConflictError {
	return &crm.ConflictError{Message: fmt.Sprintf("property %q already exists on %s: choose another name", name, o)}
}

// schemaAudit is the audit entry of a change of the data model by by, now.
func (s *Store) schemaAudit(by string) schemaAudit {
	return schemaAudit{By: by, Now: s.cfg.Clock.Now().UnixMilli(), AuditMaxLen: auditMaxLen}
}

// archivedNameTaken is the refusal of a new property named as archived property a of type o.
func archivedNameTaken(o crm.ObjectType, a crm.Property) *crm.ConflictError {
	since := ""
	if !a.ArchivedAt.IsZero() {
		since = fmt.Sprintf(" (since %s, by %s)", crm.FormatDatetime(a.ArchivedAt), a.ArchivedBy)
	}
	return &crm.ConflictError{Code: "PROPERTY_ARCHIVED",
		Message: fmt.Sprintf("property %q of %s is archived%s, and its records keep their values of it: restore it (POST /crm/v3/properties/%s/%s/restore) to use it again with those values, "+
			"or choose another name (nothing was created)", a.Name, o, since, o, a.Name)}
}

// schemaTooLarge is the refusal of a property (or a custom type) whose definitions would take size
// bytes with those of type o, more than crm.MaxSchemaBytes; what was refused was to be done
// ("created", "changed"), and nothing was.
func schemaTooLarge(o crm.ObjectType, size int, done string) *crm.ValidationError {
	return &crm.ValidationError{Field: "properties", Code: "SCHEMA_TOO_LARGE",
		Message: fmt.Sprintf("the properties of %s would take %d bytes to define, over the %d an object type may have: define fewer or shorter options and labels (nothing was %s)",
			o, size, crm.MaxSchemaBytes, done)}
}

// UpdateProperty implements Store: one script replaces the definition and writes its audit entry.
func (s *Store) UpdateProperty(ctx context.Context, t crm.TenantID, o crm.ObjectType, old, next crm.Property, by string) (crm.Property, error) {
	if err := crm.ValidatePropertyChange(o, old, next); err != nil {
		return crm.Property{}, err
	}
	if _, err := s.Schema(ctx, t, o); err != nil {
		return crm.Property{}, err
	}
	raw, err := s.rdb.HGet(ctx, SchemaKey(t, o), old.Name).Result()
	switch {
	case errors.Is(err, redis.Nil):
		if std, ok := crm.StandardSchema(o); ok && std.Properties[old.Name].Standard {
			return crm.Property{}, crm.ValidatePropertyChange(o, std.Properties[old.Name], next)
		}
		return crm.Property{}, &crm.NotFoundError{Kind: "property", ID: old.Name}
	case err != nil:
		return crm.Property{}, fmt.Errorf("read property %s.%s: %w", o, old.Name, err)
	}
	var current crm.Property
	if err := json.Unmarshal([]byte(raw), &current); err != nil {
		return crm.Property{}, fmt.Errorf("decode property %s.%s: %w", o, old.Name, err)
	}
	if !reflect.DeepEqual(current, old) {
		return crm.Property{}, propertyChangedMeanwhile(o, old.Name)
	}
	change := crm.PropertyChangeOf(old, next)
	if len(change.Fields) == 0 {
		return next, nil // nothing to change, nor to audit
	}
	typeChanged := next.Type != old.Type
	if typeChanged && next.Type != crm.TypeString {
		n, err := s.recordsHolding(ctx, t, o, old.Name)
		if err != nil {
			return crm.Property{}, err
		}
		if n > 0 {
			return crm.Property{}, &crm.PropertyInUseError{ObjectType: o, Property: old.Name,
				Change: fmt.Sprintf("change the type (%s to %s) of", old.Type, next.Type), Records: n,
				RecordsWhat: fmt.Sprintf("%s (live or in the recycle bin) holding a value of it, which need not be a valid %s", o, next.Type),
				RecordsFix: fmt.Sprintf("a property changes its type to another than string only while no record holds a value of it: create a new %s property and copy the values over, "+
					"or clear the values (and wait for the bin's records to be purged)", next.Type)}
		}
	}
	newRaw, err := json.Marshal(next)
	if err != nil {
		return crm.Property{}, fmt.Errorf("encode property: %w", err)
	}
	call := updatePropertyCall{Schema: SchemaKey(t, o), Archived: ArchivedPropertiesKey(t, o), Audit: AuditKey(t),
		Type: o, Name: old.Name, Old: raw, New: string(newRaw), Max: crm.MaxSchemaBytes, schemaAudit: s.schemaAudit(by), Change: change}
	removed := crm.RemovedOptions(old, next)
	if !typeChanged || next.Type != crm.TypeString {
		// An enumeration's values stay valid strings: only a change that keeps them typed checks
		// that no live record holds an option it removes.
		for _, v := range removed {
			call.RemovedOptions = append(call.RemovedOptions, SearchValueKey(t, o, old.Name, v))
		}
	}
	if typeChanged {
		call.Drop = propertyIndexKeys(t, o, old)
	}
	res, err := updatePropertyScript.run(ctx, s, call).Int64Slice()
	if err != nil {
		return crm.Property{}, fmt.Errorf("update property %s.%s: %w", o, old.Name, err)
	}
	switch {
	case len(res) == 1 && res[0] == 0:
		return next, nil
	case len(res) == 1 && res[0] == 1:
		return crm.Property{}, propertyChangedMeanwhile(o, old.Name)
	case len(res) == 3 && res[0] == 2:
		option := removed[res[1]-1]
		return crm.Property{}, &crm.PropertyInUseError{ObjectType: o, Property: old.Name,
			Change: fmt.Sprintf("remove option %q of", option), Records: res[2],
			RecordsWhat: fmt.Sprintf("live %s with %s = %q", o, old.Name, option),
			RecordsFix: fmt.Sprintf("give those records another value first (search them with {\"propertyName\": %q, \"operator\": \"EQ\", \"value\": %q}), or keep the option",
				old.Name, option)}
	case len(res) == 2 && res[0] == 3:
		return crm.Property{}, schemaTooLarge(o, int(res[1]), "changed")
	}
	return crm.Property{}, fmt.Errorf("update property %s.%s: unexpected answer %v", o, old.Name, res)
}

// propertyChangedMeanwhile is the refusal of a change of a property whose definition another
// change replaced after the caller read it.
func propertyChangedMeanwhile(o crm.ObjectType, name string) error {
	return &crm.ConflictError{Message: fmt.Sprintf("property %q of %s was changed by another request while this one was checked: read it again (GET /crm/v3/properties/%s/%s) and send the change again (nothing was changed)",
		name, o, o, name)}
}

// propertyIndexKeys returns the search index keys of property p of type o (crm.SearchIndexes):
// its ZSET, or the value SET of each of its values; none for a property without an index.
func propertyIndexKeys(t crm.TenantID, o crm.ObjectType, p crm.Property) []string {
	for _, ip := range crm.SearchIndexes(crm.Schema{Type: o, Properties: map[string]crm.Property{p.Name: p}}) {
		if ip.Name != p.Name {
			continue
		}
		if ip.Kind != crm.IndexValues {
			return []string{SearchIndexKey(t, o, p.Name)}
		}
		keys := make([]string, len(ip.Options))
		for i, v := range ip.Options {
			keys[i] = SearchValueKey(t, o, p.Name, v)
		}
		return keys
	}
	return nil
}

// recordsHolding counts the records of type o, live and in the bin, that hold a value of
// property prop, reading the property of each in steps of reindexBatch (one round trip each). A
// type with more than crm.MaxTypeChangeRecords records is refused with a *crm.ConflictError.
func (s *Store) recordsHolding(ctx context.Context, t crm.TenantID, o crm.ObjectType, prop string) (int64, error) {
	var live, bin *redis.IntCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		live = p.ZCard(ctx, LiveKey(t, o))
		bin = p.ZCard(ctx, BinIDsKey(t, o))
		return nil
	}); err != nil {
		return 0, fmt.Errorf("count %s: %w", o, err)
	}
	if total := live.Val() + bin.Val(); total > crm.MaxTypeChangeRecords {
		return 0, &crm.ConflictError{Message: fmt.Sprintf("cannot change the type of %s property %q: %s has %d records (live and in the recycle bin), over the %d whose values crmflow checks for a type change: "+
			"create a new property of the type you need and copy the values over, or change the type to string, which every value fits (nothing was changed)",
			o, prop, o, total, crm.MaxTypeChangeRecords)}
	}
	var n int64
	for _, set := range []struct {
		ids string
		key func(crm.RecordID) string
	}{
		{LiveKey(t, o), func(id crm.RecordID) string { return RecordKey(t, o, id) }},
		{BinIDsKey(t, o), func(id crm.RecordID) string { return BinRecordKey(t, o, id) }},
	} {
		for start := int64(0); ; start += reindexBatch {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			ids, err := s.rdb.ZRange(ctx, set.ids, start, start+reindexBatch-1).Result()
			if err != nil {
				return 0, fmt.Errorf("read %s ids: %w", o, err)
			}
			if len(ids) == 0 {
				break
			}
			pipe := s.rdb.Pipeline()
			cmds := make([]*redis.IntCmd, len(ids))
			for i, id := range ids {
				cmds[i] = pipe.HStrLen(ctx, set.key(crm.RecordID(id)), prop)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return 0, fmt.Errorf("read %s.%s: %w", o, prop, err)
			}
			for _, c := range cmds {
				if c.Val() > 0 {
					n++
				}
			}
			if len(ids) < reindexBatch {
				break
			}
		}
	}
	return n, nil
}

// ArchiveProperty implements Store, as ArchiveProperties does for one property.
func (s *Store) ArchiveProperty(ctx context.Context, t crm.TenantID, o crm.ObjectType, p crm.Property, by string) (crm.Property, error) {
	got, err := s.ArchiveProperties(ctx, t, o, []crm.Property{p}, by)
	if err != nil {
		return crm.Property{}, err
	}
	return got[0], nil
}

// ArchiveProperties implements Store. Only the definitions move, and the audit entries are
// written, in one script (lua/archive_property.lua): no record is read or written, whatever the
// number of records, and no value is deleted. The properties archived already are left out of it.
func (s *Store) ArchiveProperties(ctx context.Context, t crm.TenantID, o crm.ObjectType, ps []crm.Property, by string) ([]crm.Property, error) {
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return nil, err
	}
	out := make([]crm.Property, len(ps))
	var names []string
	for i, p := range ps {
		if slices.Contains(names, p.Name) {
			return nil, &crm.ValidationError{Field: "name", Code: "DUPLICATE_NAME",
				Message: fmt.Sprintf("property %q is given twice: archive each property once (nothing was archived)", p.Name)}
		}
		names = append(names, p.Name)
		if a, ok := sch.Archived[p.Name]; ok {
			out[i] = a
			continue
		}
		live, ok := sch.Properties[p.Name]
		if !ok {
			return nil, &crm.NotFoundError{Kind: "property", ID: p.Name}
		}
		if err := crm.ValidatePropertyArchive(o, live); err != nil {
			return nil, err
		}
	}
	var todo []int // the places in ps of the properties to archive
	for i := range ps {
		if out[i].Name == "" {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	fields := make([]string, len(todo))
	for j, i := range todo {
		fields[j] = ps[i].Name
	}
	raws, err := s.rdb.HMGet(ctx, SchemaKey(t, o), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("read properties %s.%s: %w", o, strings.Join(fields, ","), err)
	}
	audit := s.schemaAudit(by)
	call := archivePropertyCall{Schema: SchemaKey(t, o), Archived: ArchivedPropertiesKey(t, o), Audit: AuditKey(t), Type: o, schemaAudit: audit}
	for j, i := range todo {
		p := ps[i]
		raw, ok := raws[j].(string)
		if !ok {
			return nil, propertyChangedMeanwhile(o, p.Name)
		}
		var current crm.Property
		if err := json.Unmarshal([]byte(raw), &current); err != nil {
			return nil, fmt.Errorf("decode property %s.%s: %w", o, p.Name, err)
		}
		if !reflect.DeepEqual(current, p) {
			return nil, propertyChangedMeanwhile(o, p.Name)
		}
		archived := current
		archived.ArchivedAt, archived.ArchivedBy = time.UnixMilli(audit.Now).UTC(), by
		newRaw, err := json.Marshal(archived)
		if err != nil {
			return nil, fmt.Errorf("encode property: %w", err)
		}
		call.Moves = append(call.Moves, propertyMove{Name: p.Name, From: raw, To: string(newRaw)})
		out[i] = archived
	}
	n, err := archivePropertyScript.run(ctx, s, call).Int()
	switch {
	case err != nil:
		return nil, fmt.Errorf("archive properties %s.%s: %w", o, strings.Join(fields, ","), err)
	case n != 0:
		// Changed since it was read, or archived by another request: when every one is archived
		// now, that is the answer.
		name := call.Moves[n-1].Name
		if sch, err := s.Schema(ctx, t, o); err == nil {
			for i, p := range ps {
				a, ok := sch.Archived[p.Name]
				if !ok {
					return nil, propertyChangedMeanwhile(o, name)
				}
				out[i] = a
			}
			return out, nil
		}
		return nil, propertyChangedMeanwhile(o, name)
	}
	return out, nil
}

// RestoreProperty implements Store. Only the definition moves back, and the audit entry is
// written, in one script (lua/restore_property.lua).
func (s *Store) RestoreProperty(ctx context.Context, t crm.TenantID, o crm.ObjectType, name, by string) (crm.Property, error) {
	sch, err := s.Schema(ctx, t, o)
	if err != nil {
		return crm.Property{}, err
	}
	if live, ok := sch.Properties[name]; ok {
		return live, nil
	}
	raw, err := s.rdb.HGet(ctx, ArchivedPropertiesKey(t, o), name).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return crm.Property{}, &crm.NotFoundError{Kind: "property", ID: name}
	case err != nil:
		return crm.Property{}, fmt.Errorf("read archived property %s.%s: %w", o, name, err)
	}
	var restored crm.Property
	if err := json.Unmarshal([]byte(raw), &restored); err != nil {
		return crm.Property{}, fmt.Errorf("decode archived property %s.%s: %w", o, name, err)
	}
	restored.ArchivedAt, restored.ArchivedBy = time.Time{}, ""
	newRaw, err := json.Marshal(restored)
	if err != nil {
		return crm.Property{}, fmt.Errorf("encode property: %w", err)
	}
	n, err := restorePropertyScript.run(ctx, s, movePropertyCall{Schema: SchemaKey(t, o), Archived: ArchivedPropertiesKey(t, o), Audit: AuditKey(t),
		Type: o, Name: name, From: raw, To: string(newRaw), schemaAudit: s.schemaAudit(by)}).Int()
	switch {
	case err != nil:
		return crm.Property{}, fmt.Errorf("restore property %s.%s: %w", o, name, err)
	case n != 0:
		// Restored by another request since it was read: that is the answer.
		if sch, err := s.Schema(ctx, t, o); err == nil {
			if live, ok := sch.Properties[name]; ok {
				return live, nil
			}
		}
		return crm.Property{}, propertyChangedMeanwhile(o, name)
	}
	return restored, nil
}
