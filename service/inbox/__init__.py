"""The recipients' side (issue 13): their staff sign in with OpenID Connect at an identity provider the
deployment registers (service/registry.py), and the provider's users are mapped to the recipient they work
for. oidc.py does the OpenID Connect work without Flask; store.py keeps the sessions server-side; auth.py is
what the inbox's pages use (`current_user`, `signed_in`); views.py has the blueprint `inbox`."""
