"""Domain services used by both the HTML views and the JSON API.

Nothing here imports Flask's request globals: each function takes plain values (a
user, a parsed query, bytes) and returns plain values or raises a ``ServiceError``
subclass that views translate into an HTML page or an application/problem+json body.
"""
