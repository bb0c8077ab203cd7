"""One module per area of api.md; each holds a mixin of routes for `Gateway`."""
