package crm_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmflow/crmflow/crm"
)

// TestNormalizeReportsEveryErrorByName: valid values come back in canonical form; with invalid
// ones, every problem is reported, in the order of the property names, whatever the map's order.
func TestNormalizeReportsEveryErrorByName(t *testing.T) {
	t.Parallel()
	sch, _ := crm.StandardSchema(crm.Contacts)
	got, err := sch.Normalize(map[string]string{"email": "Ada@Example.com", "num_notes": "1.50", "city": "", "last_activity_date": "2026-01-31"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"email": "ada@example.com", "num_notes": "1.5", "city": "", "last_activity_date": "2026-01-31T00:00:00.000Z"}, got)
	for range 20 {
		_, err := sch.Normalize(map[string]string{"zz_unknown": "x", "email": "not an email", "num_notes": "many", "city": "Paris",
			"aa_unknown": "y", "email_bounced": "maybe"})
		var ves crm.ValidationErrors
		require.ErrorAs(t, err, &ves)
		fields := make([]string, len(ves))
		for i, ve := range ves {
			fields[i] = ve.Field
		}
		require.Equal(t, []string{"aa_unknown", "email", "email_bounced", "num_notes", "zz_unknown"}, fields)
	}
}

// TestNormalizeEmail: an address that would break, or lose, a line of an email's header (a Unicode
// line separator or control character, a local part that needs quotes) is refused; addresses
// outside ASCII are kept.
func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		" Ada@Example.com ": "ada@example.com",
		"Åsa@Exempel.se":    "åsa@exempel.se",
		"x@[127.0.0.1]":     "x@[127.0.0.1]",
		"o'neil+crm@ex.com": "o'neil+crm@ex.com",
		// One spelling of each address: composed characters, and a domain's international form.
		"Jose\u0301@example.com":    "jos\u00e9@example.com",
		"jos\u00e9@example.com":     "jos\u00e9@example.com",
		"ada@xn--bcher-kva.example": "ada@b\u00fccher.example",
		"Ada@XN--BCHER-KVA.example": "ada@b\u00fccher.example",
		"ada@bu\u0308cher.example":  "ada@b\u00fccher.example",
		"ada@B\u00dcCHER.example":   "ada@b\u00fccher.example",
	} {
		got, err := crm.NormalizeEmail(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{
		"a\u2028b@example.com",
		"a\u2029b@example.com",
		"a\u0085b@example.com",
		"a\u202eb@example.com",
		"a\u200bb@example.com",
		"a\u00a0b@example.com",
		"a@exa\u2028mple.com",
		`"john doe"@example.com`,
		`"a;b"@example.com`,
		`"a\"b"@example.com`,
		"Ada <ada@example.com>",
		"ada@example.com\r\nBcc: eve@example.com",
		"not an email",
		"ada@xn--zz.example", // not a valid international label
	} {
		_, err := crm.NormalizeEmail(in)
		require.Error(t, err, "%q", in)
	}
}

// TestNormalizeNumber: a number value is a plain decimal (a sign, digits with a fraction, an
// exponent), as a person writes it and JSON sends it; Go's other literal forms (digit separators,
// hexadecimal) are refused rather than stored as another number than was typed.
func TestNormalizeNumber(t *testing.T) {
	t.Parallel()
	p := crm.Property{Name: "num_notes", Type: crm.TypeNumber}
	for in, want := range map[string]string{
		"42": "42", "-3.5": "-3.5", "+7": "7", " 1.50 ": "1.5", "1e3": "1000", "1E-2": "0.01", "2.5e+2": "250",
		".5": "0.5", "5.": "5", "-0": "-0", "0007": "7", "123456789012345678": "123456789012345680",
	} {
		got, ve := crm.NormalizeValue(p, in)
		require.Nil(t, ve, "%q", in)
		require.Equal(t, want, got, "%q", in)
	}
	for _, in := range []string{"1_000", "0x1p4", "0x10", "1_0.5", "0b101", "0o17", "1e", "e3", ".", "-", "+-1", "1.2.3",
		"NaN", "-Inf", "infinity", "1e400", "1,5", "١٢", "", " "} {
		_, ve := crm.NormalizeValue(p, in)
		require.NotNil(t, ve, "%q", in)
		require.Equal(t, "INVALID_NUMBER", ve.Code, "%q", in)
		require.Contains(t, ve.Message, "42", "%q", in)
	}
	n, err := crm.ParseNumber("-1.25e2")
	require.NoError(t, err)
	require.InDelta(t, -125.0, n, 0)
	_, err = crm.ParseNumber("1_000")
	require.Error(t, err)
}

// TestNormalizeOptionOfMany: an enumeration may have 5,000 options; refusing a value names the
// option meant when only its case or its label was given, or else a few options, not all.
func TestNormalizeOptionOfMany(t *testing.T) {
	t.Parallel()
	p := crm.Property{Name: "sales_region", Type: crm.TypeEnumeration, OptionLabels: map[string]string{}}
	for i := range 300 {
		v := fmt.Sprintf("region_%03d", i)
		p.Options = append(p.Options, v)
		p.OptionLabels[v] = fmt.Sprintf("Region %03d", i)
	}
	for in, says := range map[string]string{
		"Region_007": `did you mean "region_007" (label "Region 007")?`,
		"Region 042": `did you mean "region_042" (label "Region 042")?`,
		"antarctica": "use one of region_000, region_001, region_002, region_003, region_004, region_005, region_006, region_007, region_008, region_009, region_010, region_011 (and 288 more)",
	} {
		_, ve := crm.NormalizeValue(p, in)
		require.NotNil(t, ve, in)
		require.Equal(t, "INVALID_OPTION", ve.Code)
		require.Contains(t, ve.Message, says)
		require.Less(t, len(ve.Message), 500, ve.Message)
	}
}
