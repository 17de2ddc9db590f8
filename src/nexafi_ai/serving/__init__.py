"""HTTP serving: app factory, auth, model handles, inference log writer."""
