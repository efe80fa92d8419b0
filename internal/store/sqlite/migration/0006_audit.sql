-- Audit log (hash-chained). Placeholder: filled in before this migration ships.
SELECT 1;
