-- Portal users, email verification and web sessions. Placeholder: filled in before this migration ships.
SELECT 1;
