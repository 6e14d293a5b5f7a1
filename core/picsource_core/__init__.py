"""Code shared by two or more PicSource components (web, worker, operator).

Only what several components need lives here: settings readers, the MongoDB
schema and indexes, the object store, the job queue, search tokens and metrics
helpers. Components never import each other; they meet in this package.
"""
