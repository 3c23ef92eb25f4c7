-- The applicant's identifiers as vault tokens (JSON: given_name,
-- family_name, birth_date), which a background-check request carries
-- instead of the values. NULL where no vault was configured.
ALTER TABLE permit_applications ADD COLUMN subject_tokens TEXT;
