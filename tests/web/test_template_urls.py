"""Template URLs are remembered per endpoint and script root (picsource_web.template_urls):
the answers are Flask's own, a different script root gets its own, anything with
arguments is built each time, and clients inventing script roots cannot grow the memory."""

from __future__ import annotations

from flask import Flask, render_template_string

from picsource_web import template_urls

PAGE = "{{ url_for('home') }} {{ url_for('photo', image_id=n) }} {{ asset('app.css') }}"


def _app() -> tuple[Flask, template_urls.TemplateUrls]:
    app = Flask(__name__)
    app.add_url_rule("/", "home", lambda: "")
    app.add_url_rule("/images/<image_id>", "photo", lambda image_id: image_id)
    return app, template_urls.init_app(app, "v1")


def _render(app: Flask, root: str, n: int) -> str:
    with app.test_request_context("/", base_url=f"http://localhost{root}/"):
        return render_template_string(PAGE, n=n)


def test_answers_are_flasks_under_each_script_root() -> None:
    app, _ = _app()
    assert _render(app, "", 1) == "/ /images/1 /static/app.css?v=v1"
    assert _render(app, "/gallery", 2) == "/gallery/ /gallery/images/2 /gallery/static/app.css?v=v1"
    assert _render(app, "", 3) == "/ /images/3 /static/app.css?v=v1"  # remembered per root


def test_invented_script_roots_do_not_grow_the_memory() -> None:
    app, urls = _app()
    for n in range(template_urls.MAX_REMEMBERED + 50):
        assert _render(app, f"/x{n}", n).startswith(f"/x{n}/ /x{n}/images/{n} ")
    assert len(urls._known) <= template_urls.MAX_REMEMBERED


def test_outside_a_request_it_is_flask_url_for() -> None:
    app, _ = _app()
    app.config["SERVER_NAME"] = "photos.example"
    with app.app_context():
        assert render_template_string("{{ url_for('home') }}") == "http://photos.example/"
