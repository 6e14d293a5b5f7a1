"""The JSON API's building blocks: the problem+json vocabulary (rendered by
``picsource_web.error_handlers``), who is calling, request checks, serializers and the
OpenAPI document. The routes themselves live in ``picsource_web.views.api``;
everything they decide (visibility, quotas, validation, search) comes from
``picsource_web.services`` so the API and the HTML pages never disagree.
"""
