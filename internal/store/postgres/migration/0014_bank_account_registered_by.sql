-- Who registered each payee's bank account: 'payee' (the payee, from the
-- portal), an organization id (a site, for its seller), or '' (registered
-- before this column, treated as the payee's). A site may replace only an
-- account it registered itself (internal/escrow SetBankAccount). A constant
-- default: adding the column rewrites nothing.
ALTER TABLE escrow_bank_accounts ADD COLUMN registered_by text NOT NULL DEFAULT '';
