// Package suggest finds the likely intended word for a misspelt one ("did you mean ...?"), for the
// messages of the workflow validator and the action registry.
package suggest

import "strings"

// Option returns the option of an enumeration that v most likely means: the value equal to v or
// whose label is, but for case and surrounding spaces, else the value or label closest to v by
// edit distance (as Closest); "" when none is close. label gives an option's label (its value when
// it has none).
func Option(v string, values []string, label func(value string) string) string {
	want := strings.ToLower(strings.TrimSpace(v))
	for _, o := range values {
		if strings.ToLower(o) == want || strings.ToLower(label(o)) == want {
			return o
		}
	}
	byText := map[string]string{}
	var texts []string
	for _, o := range values {
		for _, s := range []string{strings.ToLower(o), strings.ToLower(label(o))} {
			if _, dup := byText[s]; !dup {
				byText[s] = o
				texts = append(texts, s)
			}
		}
	}
	if s := Closest(want, texts); s != "" {
		return byText[s]
	}
	return ""
}

// Closest returns the candidate closest to s by edit distance when it is close enough to be a
// likely typo (at most max(2, len(s)/3) edits, and fewer than len(s)); else "".
func Closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := Distance(s, c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(2, len(s)/3) || bestD >= len(s) {
		return ""
	}
	return best
}

// Distance is the Levenshtein distance between a and b, in bytes. Words longer than 64 bytes are
// never close: their distance is the longer length.
func Distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
