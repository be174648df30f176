package redisstore

import (
	"encoding/json"

	"github.com/crmflow/crmflow/crm"
)

// indexSpecJSON is the index spec a write script gets: the key prefixes of the type's indexes
// and, per indexed field, [kind, index name, field]; kind "n" a number, "d" a stored datetime, "m"
// unix ms, "v" a value set, "s" a text index. Unique lists, per unique property (Property.Unique),
// [property, UniqueIndexKey]: the same scripts keep those indexes (value -> id) with the search
// indexes, and refuse a value another live record holds (uq_check).
type indexSpecJSON struct {
	IX     string      `json:"ix"`
	IXV    string      `json:"ixv"`
	Props  [][3]string `json:"props"`
	Unique [][2]string `json:"uq"`
}

// indexSpec encodes the indexes of sch for the write scripts (see lua/index.lua).
func indexSpec(t crm.TenantID, sch crm.Schema) string {
	spec := indexSpecJSON{IX: searchIndexKeyPrefix(t, sch.Type), IXV: searchValueKeyPrefix(t, sch.Type), Props: [][3]string{},
		Unique: [][2]string{}}
	for _, n := range sch.UniqueProperties() {
		spec.Unique = append(spec.Unique, [2]string{n, UniqueIndexKey(t, sch.Type, n)})
	}
	for _, ip := range crm.SearchIndexes(sch) {
		var k string
		switch {
		case ip.Kind == crm.IndexID:
			continue
		case ip.Field == "_created" || ip.Field == "_updated":
			k = "m"
		case ip.Kind == crm.IndexValues:
			k = "v"
		case ip.Kind == crm.IndexText:
			k = "s"
		case ip.Type == crm.TypeDatetime:
			k = "d"
		default:
			k = "n"
		}
		spec.Props = append(spec.Props, [3]string{k, ip.Name, ip.Field})
	}
	raw, _ := json.Marshal(spec) // strings only: cannot fail
	return string(raw)
}
