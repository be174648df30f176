package redisstore

import (
	"encoding/json"
	"maps"

	"github.com/crmflow/crmflow/crm"
)

// indexSpecJSON is the index spec a write script gets: the key prefixes of the type's indexes
// and, per indexed field, [kind, index name, field]; kind "n" a number, "d" a stored datetime or date, "m"
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
	for _, ip := range maintainedIndexes(sch) {
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
		case ip.Type == crm.TypeDatetime || ip.Type == crm.TypeDate:
			k = "d"
		default:
			k = "n"
		}
		spec.Props = append(spec.Props, [3]string{k, ip.Name, ip.Field})
	}
	raw, _ := json.Marshal(spec) // strings only: cannot fail
	return string(raw)
}

// maintainedIndexes are the search indexes the write scripts and ReindexSearch keep for sch: those
// of its properties (crm.SearchIndexes), and those of its archived properties (sch.Archived).
//
// An archived property keeps its indexes, and they keep following its records: its values take no
// writes while it is archived, but its records are still deleted to the bin, restored, purged and
// erased, and each of those moves the record's index entries with the spec it is given. So a
// restore of the property needs no rebuild (its search is exact at once, whatever the number of
// records, with nothing to run on the request's path), and a permanent delete leaves nothing of the
// erased contact in them (SPEC S9). Search refuses the property while it is archived, since
// crm.SearchIndexes, which search plans with, leaves it out. Dropping the indexes at the archive
// instead would need a rebuild at the restore, and a write that read the schema before the archive
// could index a value after the drop: the spec here is the same before and after an archive.
func maintainedIndexes(sch crm.Schema) []crm.IndexedProperty {
	if len(sch.Archived) == 0 {
		return crm.SearchIndexes(sch)
	}
	all := crm.Schema{Type: sch.Type, Properties: maps.Clone(sch.Properties)}
	maps.Copy(all.Properties, sch.Archived)
	return crm.SearchIndexes(all)
}
