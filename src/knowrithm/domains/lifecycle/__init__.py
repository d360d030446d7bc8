"""Data lifecycle: erasure (GDPR), exports, per-company retention, backups and secret rotation.

Erasure and retention find the rows to remove from the database catalog (every table with a
`company_id`, `lead_id`, `user_id`, `deleted_at` column), not from a hand-kept list, so a table
added by a later migration is covered without touching this package.
"""
