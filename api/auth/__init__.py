"""SigV4 authentication of every request (docs/security.md).

``verifier`` checks a signature as AWS does, ``middleware`` runs it in front of
every route and sets ``regions.principals.current`` for the request, ``errors``
words the failures as DynamoDB does.
"""
