package crm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// PermanentDeleteParams names the contact to delete for good: by id, or by email (exactly one).
type PermanentDeleteParams struct {
	// ID is the contact's id.
	ID RecordID
	// Email finds the contact by its primary or additional email. An email that belongs to no contact
	// is blocklisted all the same.
	Email string
	// By is the acting user's email; the confirmation goes there.
	By string
}

// PermanentDeleteResult tells what PermanentDeleteContact did.
type PermanentDeleteResult struct {
	// ID is the deleted contact's id (the first of IDs), empty when an unknown email was only
	// blocklisted.
	ID RecordID
	// IDs are the ids of every contact deleted: by email, all the contacts, live or in the bin, that
	// carry that email as their primary or an additional address.
	IDs []RecordID
	// Blocklisted is how many email addresses were blocklisted.
	Blocklisted int
	// CallsErased is how many calls associated with the contacts were erased with them, including
	// calls also associated with other records (SPEC S9).
	CallsErased int
	// Mail is the confirmation email, written with the delete; a worker sends it.
	Mail Mail
}

// MailKindPermanentDelete is the Kind of the confirmation of a permanent delete.
const MailKindPermanentDelete = "permanent_delete_confirmation"

// saltFingerprintMessage is what the fingerprint of the email salt is the HMAC of.
const saltFingerprintMessage = "crmflow email salt fingerprint v1"

// SaltFingerprint is the fingerprint of an email salt kept at SaltFingerprintKey: the hex
// HMAC-SHA256, keyed by the salt, of a fixed string. It tells two salts apart without revealing
// either.
func SaltFingerprint(salt string) string {
	m := hmac.New(sha256.New, []byte(salt))
	m.Write([]byte(saltFingerprintMessage))
	return hex.EncodeToString(m.Sum(nil))
}
