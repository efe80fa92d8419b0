-- Credits of one amount on one value date, for escrow's check that a credit
-- recorded from one source (the API, a Zengin file, a camt.053 file) was not
-- recorded already from another under another bank reference.
CREATE INDEX escrow_deposits_alike ON escrow_deposits (value_date, amount);
