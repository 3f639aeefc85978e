"""Photos of service requests on SQLite and PostgreSQL: what is stored (no metadata but a
location asked for, upright, a 320-pixel thumbnail), what is refused and why, who may add
and see them, and the ``media_url`` Open311 clients read (the ``georeport`` client too).

Every image is drawn here with Pillow, its EXIF written through Pillow's Exif API, so the
expected pixels and tags are known by construction.
"""

from __future__ import annotations

import io
import json
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import ExifTags, Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.context import Context
from shequ.errors import AccessDenied, ConflictError, NotFoundError, ValidationError
from shequ.registry.db import make_engine, session_factory
from shequ.services.accounts import AuditLog, User
from shequ.services.requests import ServiceRequest, load_request_catalog, media
from shequ.services.requests import service as rs
from shequ.services.requests.models import ServiceRequestPhoto

from .conftest import LiveServer, Seeded, seed, services_settings

CATALOG = load_request_catalog()
POINT = {"latitude": 39.9156, "longitude": 116.4054}  # in 多福巷社区 (110101001001)
# 39°54'15" N, 116°23'30" E, as a camera writes it.
GPS = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (39.0, 54.0, 15.0),
       ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (116.0, 23.0, 30.0)}
RED, BLUE = (200, 10, 10), (10, 10, 200)


def camera_jpeg(*, width: int = 1200, height: int = 800, orientation: int = 6) -> bytes:
    """A photo as a phone saves it: left half red, right half blue, held sideways
    (EXIF orientation 6: shown turned 90° clockwise), with a GPS position, a camera
    make, a comment and an XMP packet."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "ShequCam"
    exif[ExifTags.IFD.GPSInfo] = GPS
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif.tobytes(), comment=b"home of Zhang San",
               xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">where I live</x:xmpmeta>')
    return out.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width`` × ``height`` white-on-black pixels: a few
    kilobytes that decode into width × height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    packer = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the row's bits
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


def stored_image(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Context, Seeded]]:
    """The app over a seeded database of either back-end, its data folder in tmp_path."""
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
    engine.dispose()
    from shequ.app import create_app

    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with TestClient(create_app(ctx)) as client:
        yield client, ctx, seeded
    ctx.close()


def bearer(seeded: Seeded) -> Callable[[str], dict[str, str]]:
    return lambda username: {"Authorization": f"Bearer {seeded.tokens[username]}"}


def submit(client: TestClient, headers: dict[str, str], code: str = "public_repair") -> int:
    answers = {"public_repair": {"fixture": "streetlight"}, "elderly_help": {"need": "visit"}}
    response = client.post("/api/v1/service-requests", headers=headers, json={
        "service_code": code, "attributes": answers[code], **POINT})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def attach(client: TestClient, headers: dict[str, str], request_id: int,
           *files: tuple[str, bytes, str], keep_location: bool = False) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/api/v1/service-requests/{request_id}/photos", headers=headers,
        data={"keep_location": "true" if keep_location else "false"},
        files=[("photos", f) for f in files])
    return response


def stored_count(ctx: Context) -> int:
    with ctx.sessions() as session:
        return session.scalar(select(func.count()).select_from(ServiceRequestPhoto)) or 0


def test_a_photo_is_stored_upright_without_metadata_with_a_thumbnail(served) -> None:
    client, ctx, seeded = served
    auth = bearer(seeded)
    rid = submit(client, auth("resident1"))
    response = attach(client, auth("resident1"), rid,
                      ("IMG_0001.jpg", camera_jpeg(), "image/jpeg"))
    assert response.status_code == 201, response.text
    (photo,) = response.json()["photos"]
    # 1200 × 800 held sideways is 800 wide and 1200 high once turned upright.
    assert (photo["width"], photo["height"], photo["kept_location"]) == (800, 1200, False)
    assert photo["content_type"] == "image/jpeg"
    token = photo["url"].rsplit("/", 1)[1].removesuffix(".jpg")
    assert photo["url"] == f"http://testserver/media/requests/{token}.jpg"
    assert photo["thumbnail_url"] == f"http://testserver/media/requests/{token}/thumb.jpg"
    path = ctx.settings.data_dir / "media" / "requests" / str(rid) / f"{token}.jpg"
    assert path.stat().st_size == photo["bytes"]
    image = stored_image(path)
    assert image.size == (800, 1200)
    assert dict(image.getexif()) == {}
    assert not {"exif", "xmp", "comment"} & set(image.info)
    raw = path.read_bytes()
    assert b"ShequCam" not in raw and b"Zhang San" not in raw and b"xmpmeta" not in raw
    # Turned 90° clockwise: the red left half is now on top, the blue right half below.
    top, bottom = image.getpixel((400, 200)), image.getpixel((400, 1000))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert max(abs(a - b) for a, b in zip(top, RED, strict=True)) <= 8
    assert max(abs(a - b) for a, b in zip(bottom, BLUE, strict=True)) <= 8
    # The thumbnail: 320 on the long side, the ratio kept (800 × 320 / 1200 = 213.3).
    thumbnail = stored_image(path.with_name(f"{token}.thumb.jpg"))
    assert thumbnail.size == (213, 320)
    # Served as stored, publicly cached like the public request it belongs to.
    served_file = client.get(photo["url"])
    assert served_file.status_code == 200
    assert served_file.headers["content-type"] == "image/jpeg"
    assert served_file.headers["cache-control"] == "public, max-age=86400"
    assert served_file.content == raw
    small = client.get(photo["thumbnail_url"])
    assert Image.open(io.BytesIO(small.content)).size == (213, 320)
    # The request itself lists its photos; the upload is audited.
    again = client.get(f"/api/v1/service-requests/{rid}", headers=auth("resident1")).json()
    assert [p["id"] for p in again["photos"]] == [photo["id"]]
    with ctx.sessions() as session:
        row = session.scalars(select(AuditLog).where(AuditLog.action == "attach_photos")).one()
        assert row.entity_id == str(rid) and row.user_id == seeded.users["resident1"]
        assert json.loads(row.detail or "{}")["photo_ids"] == [photo["id"]]


def test_the_location_is_kept_only_when_asked(served) -> None:
    client, ctx, seeded = served
    auth = bearer(seeded)
    rid = submit(client, auth("resident1"))
    response = attach(client, auth("resident1"), rid, ("gps.jpg", camera_jpeg(), "image/jpeg"),
                      keep_location=True)
    assert response.status_code == 201, response.text
    (photo,) = response.json()["photos"]
    assert photo["kept_location"] is True
    token = photo["url"].rsplit("/", 1)[1].removesuffix(".jpg")
    image = stored_image(ctx.settings.data_dir / "media" / "requests" / str(rid)
                         / f"{token}.jpg")
    exif = image.getexif()
    # The GPS position and an orientation that says the pixels are upright: nothing else.
    assert dict(exif) == {ExifTags.Base.Orientation: 1, ExifTags.IFD.GPSInfo: exif[34853]}
    assert dict(exif.get_ifd(ExifTags.IFD.GPSInfo)) == GPS
    assert "xmp" not in image.info and "comment" not in image.info
    # The thumbnail never carries it.
    thumbnail = stored_image(ctx.settings.data_dir / "media" / "requests" / str(rid)
                             / f"{token}.thumb.jpg")
    assert dict(thumbnail.getexif()) == {}


def test_a_png_is_accepted_and_stored_as_jpeg_on_white(served) -> None:
    client, _ctx, seeded = served
    auth = bearer(seeded)
    rid = submit(client, auth("resident1"))
    drawing = Image.new("RGBA", (400, 100), (0, 0, 0, 0))  # transparent …
    drawing.paste((0, 128, 0, 255), (200, 0, 400, 100))    # … with an opaque green right half
    out = io.BytesIO()
    drawing.save(out, "PNG")
    response = attach(client, auth("resident1"), rid, ("screenshot.png", out.getvalue(),
                                                        "image/png"))
    assert response.status_code == 201, response.text
    (photo,) = response.json()["photos"]
    assert (photo["width"], photo["height"], photo["content_type"]) == (400, 100,
                                                                         "image/jpeg")
    image = Image.open(io.BytesIO(client.get(photo["url"]).content))
    assert image.format == "JPEG" and image.mode == "RGB"
    white, green = image.getpixel((50, 50)), image.getpixel((300, 50))
    assert isinstance(white, tuple) and isinstance(green, tuple)
    assert min(white) >= 247
    assert max(abs(a - b) for a, b in zip(green, (0, 128, 0), strict=True)) <= 8
    assert Image.open(io.BytesIO(client.get(photo["thumbnail_url"]).content)).size == (320, 80)


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), RED).save(out, "GIF")
    return out.getvalue()


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("animation.gif", _gif(), "is not a JPEG or PNG image"),
    ("notes.jpg", "路灯坏了，见附件".encode(), "is not a JPEG or PNG image"),
    ("huge.jpg", b"\xff\xd8\xff\xe0" + bytes(8 << 20), "is larger than 8 MB"),
    ("empty.jpg", b"", "is empty"),
    ("truncated.jpg", camera_jpeg()[:3000], "is damaged or incomplete"),
])
def test_a_file_that_is_not_an_accepted_photo_is_refused(served, name: str, content: bytes,
                                                         reason: str) -> None:
    client, ctx, seeded = served
    auth = bearer(seeded)
    rid = submit(client, auth("resident1"))
    response = attach(client, auth("resident1"), rid, (name, content, "image/jpeg"))
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert problem["column"] == "photo"
    assert problem["source"] == f"photo 1 ({name})"
    assert problem["reason"].startswith(reason)
    assert stored_count(ctx) == 0
    assert not (ctx.settings.data_dir / "media" / "requests" / str(rid)).exists()


def test_a_refusal_is_said_in_the_readers_language(served) -> None:
    client, _ctx, seeded = served
    auth = bearer(seeded)
    rid = submit(client, auth("resident1"))
    photo = ("notes.jpg", b"not a photo", "image/jpeg")
    said = {}
    for language in ("zh-CN", "en"):
        response = client.post(f"/api/v1/service-requests/{rid}/photos",
                               headers={**auth("resident1"), "Accept-Language": language},
                               files=[("photos", photo)])
        assert response.status_code == 422
        (problem,) = response.json()["problems"]
        assert problem["code"] == "photo_not_jpeg_or_png"
        said[language] = problem["detail"]
    assert said == {
        "zh-CN": "照片“notes.jpg”不是 JPEG 或 PNG 图片（只改文件扩展名没有用）：请发送 JPEG 或 "
                 "PNG 格式的照片。",
        "en": "Photo “notes.jpg” is not a JPEG or PNG image (renaming the file does not change "
              "that): send a JPEG or PNG photo."}
    other = client.post(f"/api/v1/service-requests/{rid}/photos",
                        headers={**auth("resident2"), "Accept-Language": "zh-CN"},
                        files=[("photos", photo)])
    assert other.status_code == 403
    assert other.json()["detail"] == "只有提交诉求的居民和负责处理的工作人员可以为诉求添加照片。"


def test_decompression_bombs_are_refused_before_they_are_decoded(served) -> None:
    client, ctx, seeded = served
    auth = bearer(seeded)
    rid = submit(client, auth("resident1"))
    # 60 megapixels: past Shequ's 50, below Pillow's own guard (about 89).
    over_ours = png_bomb(10_000, 6_000)
    # 400 megapixels in 50 kB: Pillow refuses to open it at all.
    over_pillows = png_bomb(20_000, 20_000)
    assert len(over_ours) < 20_000 and len(over_pillows) < 100_000
    response = attach(client, auth("resident1"), rid, ("a.png", over_ours, "image/png"),
                      ("b.png", over_pillows, "image/png"))
    assert response.status_code == 422, response.text
    first, second = response.json()["problems"]
    assert first["reason"] == "is 10000 × 6000 pixels, more than the 50,000,000 accepted"
    assert second["reason"] == "would decode into more than 50,000,000 pixels"
    assert (first["source"], second["source"]) == ("photo 1 (a.png)", "photo 2 (b.png)")
    assert stored_count(ctx) == 0


def test_a_request_holds_at_most_four_photos(served) -> None:
    client, ctx, seeded = served
    auth = bearer(seeded)
    rid = submit(client, auth("resident1"))
    photo = ("p.jpg", camera_jpeg(width=120, height=80), "image/jpeg")
    five = attach(client, auth("resident1"), rid, *[photo] * 5)
    assert five.status_code == 422
    assert five.json()["problems"][0]["reason"] == (
        "a request has at most 4 photos; it has 0 and 5 more were sent")
    assert attach(client, auth("resident1"), rid, *[photo] * 3).status_code == 201
    two = attach(client, auth("resident1"), rid, photo, photo)
    assert two.status_code == 422
    (problem,) = two.json()["problems"]
    assert problem["reason"] == "a request has at most 4 photos; it has 3 and 2 more were sent"
    assert problem["hint"] == "send at most 1 more"
    assert stored_count(ctx) == 3


def test_who_may_add_photos_and_who_may_see_them(served) -> None:
    client, ctx, seeded = served
    auth = bearer(seeded)
    photo = ("p.jpg", camera_jpeg(width=120, height=80), "image/jpeg")
    public = submit(client, auth("resident1"))
    private = submit(client, auth("resident1"), "elderly_help")
    # Another resident sees the public request but may not add to it, and does not
    # learn that the private one exists.
    assert attach(client, auth("resident2"), public, photo).status_code == 403
    assert attach(client, auth("resident2"), private, photo).status_code == 404
    # A worker of another community does not handle them either.
    assert attach(client, auth("worker_yz"), public, photo).status_code == 403
    assert client.post(f"/api/v1/service-requests/{public}/photos",
                       files=[("photos", photo)]).status_code == 401
    # The reporter and the community's worker may.
    assert attach(client, auth("resident1"), private, photo).status_code == 201
    handled = attach(client, auth("worker_dfx"), private, photo)
    assert handled.status_code == 201
    urls = [p["url"] for p in handled.json()["photos"]]
    assert len(urls) == 2
    # A private request's photos: the reporter and staff over its division, never cached
    # by others; for everyone else the same 404 as for a token that does not exist.
    for username in ("resident1", "worker_dfx", "officer_dhm"):
        seen = client.get(urls[0], headers=auth(username))
        assert seen.status_code == 200, username
        assert seen.headers["cache-control"] == "private, no-store"
    for headers in ({}, auth("resident2"), auth("worker_yz")):
        assert client.get(urls[0], headers=headers).status_code == 404
        assert client.get(urls[0].replace(".jpg", "/thumb.jpg"),
                          headers=headers).status_code == 404
    assert client.get("/media/requests/" + "A" * 32 + ".jpg").status_code == 404
    assert client.get("/media/requests/..%2F..%2Fshequ.jpg").status_code in (404, 422)
    with ctx.sessions() as session:
        reads = session.scalars(select(AuditLog).where(
            AuditLog.action == "read_personal", AuditLog.entity_id == str(private))).all()
        assert sorted(json.loads(r.detail or "{}")["field"] for r in reads) == ["photo"] * 3
    # Closed requests take no more photos.
    for action in ("accept", "start", "resolve", "close"):
        assert client.post(f"/api/v1/service-requests/{public}/actions",
                           headers=auth("worker_dfx"), json={"action": action}
                           ).status_code == 200
    assert attach(client, auth("resident1"), public, photo).status_code == 409


def _open311_post(client: TestClient, seeded: Seeded, *files: tuple[str, bytes, str],
                  **fields: str) -> httpx.Response:
    response: httpx.Response = client.post("/open311/v2/requests.json", data={
        "api_key": seeded.api_key, "service_code": "public_repair",
        "attribute[fixture]": "streetlight", "lat": "39.9156", "long": "116.4054", **fields},
        files=[("media", f) for f in files])
    return response


def test_open311_takes_media_and_answers_its_url_in_json_and_xml(served) -> None:
    client, ctx, seeded = served
    created = _open311_post(client, seeded, ("lamp.jpg", camera_jpeg(), "image/jpeg"),
                            ("lamp2.jpg", camera_jpeg(width=300, height=200), "image/jpeg"))
    assert created.status_code == 200, created.text
    rid = created.json()[0]["service_request_id"]
    with ctx.sessions() as session:
        rows = session.scalars(select(ServiceRequestPhoto).order_by(ServiceRequestPhoto.id)
                               ).all()
        assert [r.request_id for r in rows] == [int(rid)] * 2
        assert [(r.width, r.height) for r in rows] == [(800, 1200), (200, 300)]
        first = rows[0].token
    url = f"http://testserver/media/requests/{first}.jpg"
    (one,) = client.get(f"/open311/v2/requests/{rid}.json").json()
    assert one["media_url"] == url
    listed = client.get(f"/open311/v2/requests.json?service_request_id={rid}").json()
    assert [r["media_url"] for r in listed] == [url]
    xml = ET.fromstring(client.get(f"/open311/v2/requests/{rid}.xml").content)
    assert xml.findtext("request/media_url") == url
    image = Image.open(io.BytesIO(client.get(url).content))
    assert dict(image.getexif()) == {} and image.size == (800, 1200)
    # A request without photos keeps the URL its client gave; a bad photo is a GeoReport
    # 400 and stores nothing.
    plain = _open311_post(client, seeded, media_url="https://example.org/lamp.jpg").json()
    (other,) = client.get(f"/open311/v2/requests/{plain[0]['service_request_id']}.json"
                          ).json()
    assert other["media_url"] == "https://example.org/lamp.jpg"
    refused = _open311_post(client, seeded, ("x.jpg", b"GIF89a not really", "image/jpeg"))
    assert refused.status_code == 400
    assert "is not a JPEG or PNG image" in refused.json()[0]["description"]
    keyless = _open311_post(client, seeded, ("lamp.jpg", camera_jpeg(), "image/jpeg"),
                            api_key="wrong")
    assert keyless.status_code == 403 and keyless.json()[0]["code"] == 403
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ServiceRequest)) == 2


def test_files_of_a_rolled_back_attachment_are_removed(sessions: sessionmaker[Session],
                                                       tmp_path: Path) -> None:
    session = sessions()
    info = seed(session)
    resident = session.get(User, info.users["resident1"])
    other = session.get(User, info.users["resident2"])
    assert resident is not None and other is not None
    request = rs.submit_request(session, CATALOG, rs.RequestDraft(
        service_code="public_repair", attributes={"fixture": "path"},
        longitude=POINT["longitude"], latitude=POINT["latitude"]), submitter=resident).request
    session.commit()
    store = media.PhotoStore(root=tmp_path / "media" / "requests")
    upload = media.PhotoUpload(camera_jpeg(width=60, height=40), "a.jpg", "image/jpeg")
    (photo,) = media.attach_photos(session, resident, request.id, [upload], catalog=CATALOG,
                                   store=store)
    written = store.path(request.id, photo.token)
    assert written.is_file() and store.path(request.id, photo.token, thumbnail=True).is_file()
    session.rollback()
    assert not written.exists()
    assert not store.path(request.id, photo.token, thumbnail=True).exists()
    (kept,) = media.attach_photos(session, resident, request.id, [upload], catalog=CATALOG,
                                  store=store)
    session.commit()
    assert store.path(request.id, kept.token).is_file()
    assert [p.token for p in media.photos_of(session, [request.id])[request.id]] == [
        kept.token]
    found = media.photo_file(session, None, kept.token, catalog=CATALOG, store=store)
    assert (found.path, found.public) == (store.path(request.id, kept.token), True)
    with pytest.raises(AccessDenied):
        media.attach_photos(session, other, request.id, [upload], catalog=CATALOG,
                            store=store)
    with pytest.raises(NotFoundError):
        media.attach_photos(session, resident, 999_999, [upload], catalog=CATALOG,
                            store=store)
    with pytest.raises(ValidationError, match="no photo was sent"):
        media.attach_photos(session, resident, request.id, [], catalog=CATALOG, store=store)
    request.status = "closed"
    session.flush()
    with pytest.raises(ConflictError):
        media.attach_photos(session, resident, request.id, [upload], catalog=CATALOG,
                            store=store)
    session.close()


def test_the_georeport_client_reads_the_media_url(live_server: LiveServer) -> None:
    from georeport import GeoReport

    created = httpx.post(f"{live_server.url}/open311/v2/requests.json", data={
        "api_key": live_server.seeded.api_key, "service_code": "public_repair",
        "attribute[fixture]": "fitness", "description": "健身器材松动",
        "lat": "39.9156", "long": "116.4054"},
        files=[("media", ("bench.jpg", camera_jpeg(width=300, height=200), "image/jpeg"))])
    assert created.status_code == 200, created.text
    rid = created.json()[0]["service_request_id"]
    for fmt in ("json", "xml"):
        client = GeoReport(f"{live_server.url}/open311/v2", output_format=fmt)
        one: Any = client.get_service_request(rid)
        assert one["service_request_id"] == rid
        url = one["media_url"]
        assert url.startswith(f"{live_server.url}/media/requests/") and url.endswith(".jpg")
        photo = httpx.get(url)
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(photo.content)).size == (200, 300)
