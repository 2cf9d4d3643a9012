"""Response and error schemas of the HTTP API, by topic (the request bodies stay next to their routes).

Every route declares its answer with a ``*Public`` model and every status it can answer with ``responses()``
(``serving.schemas.errors``), so ``/openapi.json`` is the whole contract (tests/test_schemathesis.py holds the
server to it).
"""
