"""One router per resource: health, models, and the generic use-case predict route."""
