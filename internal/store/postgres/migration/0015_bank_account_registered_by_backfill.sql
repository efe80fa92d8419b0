-- Fills registered_by (0014) for accounts registered before it, from the
-- audit log: the latest payee.bank_account_set entry of each payee names
-- who registered the account now on record, a site (actor type 'org') or
-- the payee. An account without such an entry keeps '' (the payee's).
UPDATE escrow_bank_accounts SET registered_by = coalesce((
	SELECT CASE WHEN a.actor_type = 'org' THEN a.actor_id ELSE 'payee' END
	FROM audit_entries a
	WHERE a.action = 'payee.bank_account_set' AND a.subject_type = 'payee' AND a.subject_id = escrow_bank_accounts.email
	ORDER BY a.seq DESC LIMIT 1), '')
WHERE registered_by = '';
