package crm

// ContactUpsert is one contact to create or update, named by its email.
type ContactUpsert struct {
	// Email names the contact: the live contact with that primary or additional email is updated;
	// when there is none, a contact with that primary email is created.
	Email string
	// Properties are set as in CreateRecords or UpdateRecords. An "email" among them must be Email.
	Properties map[string]string
}

// UpsertedRecord is the outcome of one ContactUpsert.
type UpsertedRecord struct {
	Record
	// Created says the record was created rather than updated.
	Created bool
}

// RecordUpsert is one record to create or update, named by the value of a unique property.
type RecordUpsert struct {
	// ID is the value of the unique property that names the record: the live record with that
	// value is updated; when there is none, a record with that value is created.
	ID string
	// Properties are set as in CreateRecords or UpdateRecords. The unique property among them
	// must be ID.
	Properties map[string]string
}
