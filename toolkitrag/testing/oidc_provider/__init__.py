"""A real OpenID Connect provider for the SSO tests: django-oauth-toolkit with OIDC on, as its own
small Django project run by gunicorn in a child process (toolkitrag/testing/oidc.py starts it).

It keeps its tables in a database of its own on the test session's PostgreSQL. The people who can
sign in, with their e-mail, `email_verified` and groups, come from a JSON file the test writes
(people.py), so a test changes someone's groups between two sign-ins by rewriting the file.
"""
