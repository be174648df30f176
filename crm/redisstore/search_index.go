package redisstore

import (
	"encoding/json"
	"maps"
	"strconv"
	"time"

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
		if k := indexKind(ip); k != "" {
			spec.Props = append(spec.Props, [3]string{k, ip.Name, ip.Field})
		}
	}
	raw, _ := json.Marshal(spec) // strings only: cannot fail
	return string(raw)
}

// indexKind is the kind of ip's index in the spec: "m" (_created, _updated), "v" (values), "s"
// (text), "d" (datetime and date) or "n" (number); "" for the id's, which the scripts do not keep.
func indexKind(ip crm.IndexedProperty) string {
	switch {
	case ip.Kind == crm.IndexID:
		return ""
	case ip.Field == "_created" || ip.Field == "_updated":
		return "m"
	case ip.Kind == crm.IndexValues:
		return "v"
	case ip.Kind == crm.IndexText:
		return "s"
	case ip.Type == crm.TypeDatetime || ip.Type == crm.TypeDate:
		return "d"
	default:
		return "n"
	}
}

// dateIndexFields are the fields of sch whose index is of kind "d" (indexKind).
func dateIndexFields(sch crm.Schema) []string {
	var out []string
	for _, ip := range maintainedIndexes(sch) {
		if indexKind(ip) == "d" {
			out = append(out, ip.Field)
		}
	}
	return out
}

// dateScore is the score of stored datetime or date v in its "d" index, as the scripts' ix_score
// writes it (unix ms in decimal), for a v in the stored form (2006-01-02T15:04:05.000Z, or
// 2006-01-02 for its midnight UTC) that names a real day and time; ok is false for anything else,
// which the scripts then score themselves. A create sends these (createJSON.Scores), since reading
// the digits in Lua is most of what indexing a datetime costs the server.
func dateScore(v string) (score string, ok bool) {
	var t time.Time
	switch len(v) {
	case 10:
		if v[4] != '-' || v[7] != '-' {
			return "", false
		}
		y, mo, d := digits(v[0:4]), digits(v[5:7]), digits(v[8:10])
		if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 {
			return "", false
		}
		t = time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
		if t.Day() != d {
			return "", false
		}
	case 24:
		if v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[19] != '.' || v[23] != 'Z' {
			return "", false
		}
		y, mo, d, h, mi, sec, ms := digits(v[0:4]), digits(v[5:7]), digits(v[8:10]), digits(v[11:13]), digits(v[14:16]), digits(v[17:19]), digits(v[20:23])
		if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ms < 0 {
			return "", false
		}
		t = time.Date(y, time.Month(mo), d, h, mi, sec, ms*int(time.Millisecond), time.UTC)
		if t.Day() != d {
			return "", false
		}
	default:
		return "", false
	}
	return strconv.FormatInt(t.UnixMilli(), 10), true
}

// digits reads s, ASCII digits only, as a number; -1 when s holds anything else.
func digits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
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
