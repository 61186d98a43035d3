"""The resource-server half: finding the token in a request (token types), verifying it,
key sources, the principal, the DRF classes and the plain-Django decorators.

It imports neither ``oauth_cc.server`` nor the models, except through ``local``, the adapter
that ``oauth_cc.apps`` loads when the app is installed; so an API-only project can use it
with a remote authorization server (``OAUTH_CC['JWKS_URI']``). ``docs/architecture.md``
draws it."""
