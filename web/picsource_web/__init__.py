"""PicSource web tier: a stateless Flask app (HTML views + JSON API) run under gunicorn.

Layout: ``settings`` (typed env config), ``services/`` (domain logic shared by the HTML
views and the JSON API, no Flask request objects inside), ``views/`` (one blueprint per
area), ``app.create_app`` wiring it together per process after gunicorn forks.
"""
