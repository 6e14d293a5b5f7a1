"""The timeline by date taken (#12 item 5): the main grid and the API listing sort by the
date taken, with month headers, a month jump menu, date filters on the date taken and
"On this day" on the owner's home page. Pure tests of the grouping first, then the real
app on real services; privacy: nobody but the owner sees their private images' months.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.image_documents import ImageDocuments
from picsource_core.timeline import timeline_key
from picsource_web.services.timeline import earlier_days, jump_months, month_marks
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, token_for
from tests.web.web_support import finish_analysis, tile_ids

_HEADER = re.compile(r'data-month-header="([0-9]{4}-[0-9]{2})"><h2[^>]*>([^<]+)</h2>')


def _doc(taken: datetime) -> dict[str, object]:
    image_id = ObjectId()
    return {"_id": image_id, "timeline": timeline_key(image_id, taken)}


# --- pure -----------------------------------------------------------------------------------
def test_month_marks_open_each_month_once_and_every_page_with_its_month() -> None:
    docs = [_doc(datetime(2024, 5, d, tzinfo=UTC)) for d in (30, 2)] + [
        _doc(datetime(2024, 4, 9, tzinfo=UTC)), _doc(datetime(1955, 3, 4, tzinfo=UTC))]
    assert month_marks(docs) == [date(2024, 5, 1), None, date(2024, 4, 1), date(1955, 3, 1)]
    assert month_marks(docs[1:]) == [date(2024, 5, 1), date(2024, 4, 1), date(1955, 3, 1)]
    assert month_marks([]) == []


def test_jump_months_run_from_the_newest_month_back_to_the_oldest() -> None:
    menu = jump_months(date(2022, 11, 1), date(2024, 2, 1))
    assert [year for year, _ in menu] == [2024, 2023, 2022]
    assert menu[0][1] == [date(2024, 2, 1), date(2024, 1, 1)]
    assert len(menu[1][1]) == 12 and menu[1][1][0] == date(2023, 12, 1)
    assert menu[2][1] == [date(2022, 12, 1), date(2022, 11, 1)]
    assert jump_months(date(2024, 3, 1), date(2024, 3, 1)) == [(2024, [date(2024, 3, 1)])]


def test_earlier_days_are_the_same_day_in_earlier_years_and_29_february_only_in_leap_years() -> None:
    assert earlier_days(date(2026, 12, 3), date(2023, 7, 1)) == [date(2025, 12, 3), date(2024, 12, 3), date(2023, 12, 3)]
    assert earlier_days(date(2028, 2, 29), date(2019, 1, 1)) == [date(2024, 2, 29), date(2020, 2, 29)]
    assert earlier_days(date(2026, 12, 3), date(2026, 1, 1)) == []
    assert len(earlier_days(date(2026, 12, 3), date(1900, 1, 1))) == 30  # bounded


# --- the app --------------------------------------------------------------------------------
def set_taken(app: Flask, image_id: str, when: datetime | None) -> None:
    """What the worker writes when EXIF names (or does not name) a capture time."""
    ImageDocuments(app_services(app).db).apply_analysis(ObjectId(image_id), {"taken_at": when})


@pytest.fixture
def shots(app: Flask, alice: WebClient) -> list[str]:
    """Alice's five analysed private images, uploaded in this order, and their dates taken:
    [0] none (today), [1] 2001-06-20, [2] 2001-06-02, [3] 2001-04-09, [4] 1955-03-04."""
    made = []
    for seed, title in enumerate(("river", "forest", "harbour", "market", "grandma")):
        image_id = alice.upload_id(samples.noisy_jpeg(seed + 61), title=title)
        finish_analysis(app_services(app), image_id)
        made.append(image_id)
    for image_id, when in zip(made[1:], (datetime(2001, 6, 20, 9, 0), datetime(2001, 6, 2, 18, 30),
                                         datetime(2001, 4, 9, 7, 0), datetime(1955, 3, 4, 12, 0)), strict=True):
        set_taken(app, image_id, when)
    return made


def test_the_main_grid_and_the_api_sort_by_date_taken_and_by_date_added_on_request(
        app: Flask, alice: WebClient, shots: list[str]) -> None:
    by_taken = [shots[0], shots[1], shots[2], shots[3], shots[4]]
    by_added = list(reversed(shots))
    assert tile_ids(alice.get("/").get_data(as_text=True)) == by_taken
    assert tile_ids(alice.get("/?by=added").get_data(as_text=True)) == by_added
    assert tile_ids(alice.get("/?sort=oldest").get_data(as_text=True)) == by_taken[::-1]
    api = ApiClient(app, token_for(app, "alice"))
    assert [i["id"] for i in api.get("/api/v1/images").get_json()["items"]] == by_taken
    assert [i["id"] for i in api.get("/api/v1/images?by=added").get_json()["items"]] == by_added
    assert api.get("/api/v1/images?by=shot").status_code == 400
    assert api.get("/api/v1/images?month=2001-13").status_code == 400


def test_a_photo_analysed_later_moves_to_its_date_taken(app: Flask, alice: WebClient, shots: list[str]) -> None:
    assert tile_ids(alice.get("/").get_data(as_text=True))[0] == shots[0]  # cached now
    set_taken(app, shots[0], datetime(2001, 5, 1, 12, 0))  # the worker read its EXIF late
    assert tile_ids(alice.get("/").get_data(as_text=True)) == [shots[1], shots[2], shots[0], shots[3], shots[4]]
    set_taken(app, shots[0], datetime(2150, 1, 1))  # an absurd date: back at its upload time
    assert tile_ids(alice.get("/").get_data(as_text=True))[0] == shots[0]


def test_an_older_photo_analysed_later_leads_the_oldest_first_grid(app: Flask, alice: WebClient,
                                                                    shots: list[str]) -> None:
    assert tile_ids(alice.get("/?sort=oldest").get_data(as_text=True))[0] == shots[4]  # 1955
    set_taken(app, shots[0], datetime(1950, 8, 1, 12, 0))  # older than any seen before
    assert tile_ids(alice.get("/?sort=oldest").get_data(as_text=True))[:2] == [shots[0], shots[4]]
    menu = re.findall(r'<option value="([0-9]{4}-[0-9]{2})"', alice.get("/").get_data(as_text=True))
    assert menu[-1] == "1950-08"


def test_date_filters_use_the_date_taken(app: Flask, alice: WebClient, shots: list[str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))

    def listed(query: str) -> list[str]:
        return [i["id"] for i in api.get(f"/api/v1/images?{query}").get_json()["items"]]

    assert listed("from=2001-06-01&to=2001-06-30") == [shots[1], shots[2]]
    assert listed("from=2001-06-02&to=2001-06-02") == [shots[2]]
    assert listed("to=1969-12-31") == [shots[4]]
    assert listed("from=2001-06-01&to=2001-06-30&by=added") == [shots[2], shots[1]]
    assert listed("q=harbour&from=2001-06-01&to=2001-06-30") == [shots[2]]  # a word search too
    assert listed("q=harbour&from=2001-07-01") == []
    page = alice.get("/search?scope=mine&from=2001-04-01&to=2001-06-02").get_data(as_text=True)
    assert tile_ids(page) == [shots[2], shots[3]]


def test_pages_cross_months_with_headers_repeated_at_the_top_of_each_page(alice: WebClient, shots: list[str]) -> None:
    seen: list[str] = []
    headers: list[list[tuple[str, str]]] = []
    url: str | None = "/?limit=2"
    while url:
        page = alice.get(url).get_data(as_text=True)
        seen += tile_ids(page)
        headers.append(_HEADER.findall(page))
        found = re.search(r'href="([^"]+)" rel="next"', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == shots
    today = datetime.now(UTC)
    assert headers == [[(f"{today:%Y-%m}", f"{today:%B %Y}"), ("2001-06", "June 2001")],
                       [("2001-06", "June 2001"), ("2001-04", "April 2001")],  # June again on top
                       [("1955-03", "March 1955")]]


def test_the_jump_menu_starts_the_grid_at_a_month_and_pages_on(alice: WebClient, shots: list[str]) -> None:
    home = alice.get("/").get_data(as_text=True)
    menu = re.findall(r'<option value="([0-9]{4}-[0-9]{2})"', home)
    assert menu[0] == f"{datetime.now(UTC):%Y-%m}" and menu[-1] == "1955-03" and "2001-06" in menu
    jumped = alice.get("/?month=2001-06&limit=2").get_data(as_text=True)
    assert tile_ids(jumped) == [shots[1], shots[2]]
    assert 'value="2001-06" selected' in jumped and "Taken in June 2001 or earlier" in jumped
    following = re.search(r'href="([^"]+)" rel="next"', jumped).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert "month=" not in following
    assert tile_ids(alice.get(following).get_data(as_text=True)) == [shots[3], shots[4]]
    assert tile_ids(alice.get("/?month=2001-05").get_data(as_text=True)) == [shots[3], shots[4]]
    assert tile_ids(alice.get("/?month=2001-06&sort=oldest").get_data(as_text=True)) == [shots[2], shots[1], shots[0]]
    assert alice.get("/?month=June").status_code == 400
    assert 'href="/?by=added" data-order-link' in home  # the other order, one click away
    added = alice.get("/?by=added").get_data(as_text=True)
    assert "data-jump-menu" not in added and "data-month-header" not in added and 'href="/" data-order-link' in added


def test_on_this_day_shows_earlier_years_on_the_owner_home_page_only(
        app: Flask, alice: WebClient, bob: WebClient, web_client: object, shots: list[str]) -> None:
    assert "On this day" not in alice.get("/").get_data(as_text=True)  # none taken on this day
    today = datetime.now(UTC).date()
    three_years_ago = date(today.year - 3, today.month, 28 if today.day == 29 and today.month == 2 else today.day)
    set_taken(app, shots[3], datetime.combine(three_years_ago, datetime.min.time()).replace(hour=15))
    home = alice.get("/").get_data(as_text=True)
    assert "On this day" in home and "3 years ago" in home
    strip = home[home.index("data-on-this-day"):home.index("</section>", home.index("data-on-this-day"))]
    assert re.findall(r"/images/([0-9a-f]{24})", strip) == [shots[3]]
    assert "On this day" not in alice.get("/?month=2001-06").get_data(as_text=True)  # first page only
    # the others: bob's home, the public page, a share link: no strip, no headers of hers
    app_services(app).db["images"].update_one({"_id": ObjectId(shots[1])}, {"$set": {"visibility": "unlisted"}})
    token = app_services(app).db["images"].find_one({"_id": ObjectId(shots[1])})["share_token"]  # type: ignore[index]
    anonymous = web_client()  # type: ignore[operator]
    for name, page in (("bob", bob.get("/")), ("anonymous", anonymous.get("/public")),
                       ("bob public", bob.get("/public")), ("share link", anonymous.get(f"/s/{token}"))):
        text = page.get_data(as_text=True)
        assert "On this day" not in text and "data-month-header" not in text, name
        assert "data-jump-menu" not in text, name
        assert not set(re.findall(r"[0-9a-f]{24}", text)) & (set(shots) - {shots[1]}), name


def test_public_gallery_headers_come_only_from_public_images(app: Flask, alice: WebClient, bob: WebClient,
                                                              shots: list[str]) -> None:
    alice.post(f"/images/{shots[2]}/edit", {"title": "harbour", "visibility": "public", "tags": ""})
    public = bob.get("/public").get_data(as_text=True)
    assert tile_ids(public) == [shots[2]]
    assert _HEADER.findall(public) == [("2001-06", "June 2001")]
    assert "data-jump-menu" not in public and "On this day" not in public
