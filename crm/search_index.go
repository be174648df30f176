package crm

import (
	"slices"
	"sort"
)

// IndexKind says how a property is indexed for search.
type IndexKind string

// The index kinds. Each keeps only the live records of its type, and only those that have a value.
const (
	// IndexScore is a ZSET scored by the value: numbers, and datetimes and dates as unix ms.
	IndexScore IndexKind = "score"
	// IndexValues is one SET of ids per value: enumerations and bools.
	IndexValues IndexKind = "values"
	// IndexText is a ZSET ordered by the lowercased value (ZRANGEBYLEX): a fixed set of strings.
	IndexText IndexKind = "text"
	// IndexID is the type's live set itself, scored by the numeric id (hs_object_id).
	IndexID IndexKind = "id"
)

// The search pseudo-properties every object type has. createdate and lastmodifieddate come from
// the record's creation and last change times (HubSpot names the latter hs_lastmodifieddate on
// every type but contacts; both names are accepted everywhere); hs_object_id is the id.
const (
	PropObjectID         = "hs_object_id"
	PropCreateDate       = "createdate"
	PropLastModifiedDate = "lastmodifieddate"
	PropHSLastModified   = "hs_lastmodifieddate"
)

// IndexedProperty is one property of an object type that search finds through an index.
type IndexedProperty struct {
	// Name is the property's name as a filter names it.
	Name string
	// Kind is how it is indexed.
	Kind IndexKind
	// Type is the property's type (a pseudo-property's: datetime, or number for hs_object_id).
	Type PropertyType
	// Field is the record hash field that holds the value: Name, or _created / _updated.
	Field string
	// Options are the values of an enumeration or bool (IndexValues): the SETs that exist.
	Options []string
}

// textIndexed are the string properties of the standard types that have a text index: the ones
// integrations look records up by. Every other string property is searchable only beside a filter
// on an indexed property (see SearchIndexes).
var textIndexed = map[ObjectType][]string{
	Contacts:  {"email", "firstname", "lastname"},
	Companies: {"name", "domain"},
	Deals:     {"dealname", "pipeline"},
	Tickets:   {"subject"},
	Calls:     {"hs_call_title"},
}

// TextIndexed returns the string properties of type o that have a text index, which `query`
// searches; none for a custom type.
func TextIndexed(o ObjectType) []string { return slices.Clone(textIndexed[o]) }

// SearchIndexes returns the indexed properties of a schema, sorted by name: every number,
// datetime, date, enumeration and bool property (standard or custom), the strings of TextIndexed and
// the unique strings (Property.Unique, which are indexed from their creation), and
// the pseudo-properties hs_object_id, createdate and lastmodifieddate (plus its alias
// hs_lastmodifieddate). Every other property can still be filtered on, but only in a filter group
// that also filters on an indexed property (see SearchParams).
func SearchIndexes(sch Schema) []IndexedProperty {
	out := []IndexedProperty{
		{Name: PropObjectID, Kind: IndexID, Type: TypeNumber},
		{Name: PropCreateDate, Kind: IndexScore, Type: TypeDatetime, Field: "_created"},
		{Name: PropLastModifiedDate, Kind: IndexScore, Type: TypeDatetime, Field: "_updated"},
	}
	for _, p := range sch.Properties {
		ip := IndexedProperty{Name: p.Name, Type: p.Type, Field: p.Name}
		switch p.Type {
		case TypeNumber, TypeDatetime, TypeDate:
			ip.Kind = IndexScore
		case TypeEnumeration:
			ip.Kind, ip.Options = IndexValues, slices.Clone(p.Options)
		case TypeBool:
			ip.Kind, ip.Options = IndexValues, []string{"false", "true"}
		default:
			if !slices.Contains(textIndexed[sch.Type], p.Name) && !p.Unique {
				continue
			}
			ip.Kind = IndexText
		}
		out = append(out, ip)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
