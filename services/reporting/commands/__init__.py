"""reporting's state changes: `activity` (storing statements and the figures
derived from them), `catalog` (reference data from programs), `projections`
(the rows other services' events keep current)."""
