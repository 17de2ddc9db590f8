"""Credit scoring (in progress): so far the built-in applicant generator.

No ``USE_CASE`` is exported yet, so the API, CLI and contract tests do not list credit until
its model, schemas and routes land.
"""
