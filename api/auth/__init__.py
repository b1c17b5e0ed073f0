"""SigV4 authentication of every request (docs/security.md).

``signature_check`` checks a signature as AWS does, ``middleware`` runs it in front of
every route and sets ``regions.principals.current`` for the request, ``errors``
words the failures as DynamoDB does.
"""
