"""The Batch data-plane REST API in front of :class:`~poolscale.runtime.service.account.Account`
(``poolscale serve``): shared-key authentication, the service's api-versions, its JSON shapes,
status codes, headers and error bodies, so that the official ``azure-batch`` SDK and
``az batch`` work against a local account by changing only the endpoint.

``app.py`` builds the ASGI application; each ``routes_*.py`` module holds the operations of one
resource; ``call.py`` is a request as a handler sees it; ``responses.py`` and
``conditions.py`` shape answers. Starlette is the only web dependency (the ``serve`` extra); it
is imported only by ``poolscale serve`` and the tests. docs/serve.md is the user's guide.
"""
