"""`kubectl picsource`: a kubectl plugin for Galleries (status, backup, restore, logs).

render.py builds every text and object the commands print or create (pure, tested
without a cluster); cli.py parses the command line and does the API calls.
"""
