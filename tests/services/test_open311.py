"""Open311 GeoReport v2: JSON and XML, POST with api_key, errors, tokens, and the
`georeport` client from PyPI reading a live server."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest
from fastapi.testclient import TestClient

from .conftest import LiveServer, Seeded

BASE = "/open311/v2"
POINT = {"lat": "39.9156", "long": "116.4054"}  # 多福巷社区 is the nearest community


def _post(client: TestClient, seeded: Seeded, fmt: str = "json",
          **fields: str) -> httpx.Response:
    data = {"api_key": seeded.api_key, "service_code": "public_repair",
            "attribute[fixture]": "streetlight", "description": "路灯不亮", **POINT}
    data.update(fields)
    response: httpx.Response = client.post(f"{BASE}/requests.{fmt}", data=data)
    return response


def test_service_list_and_definition_in_json_and_xml(client: TestClient) -> None:
    services = client.get(f"{BASE}/services.json").json()
    assert [s["service_code"] for s in services] == [
        "public_repair", "elderly_help", "facility_complaint", "health_referral"]
    assert services[0]["metadata"] is True and services[0]["type"] == "realtime"
    root = ET.fromstring(client.get(f"{BASE}/services.xml").content)
    assert root.tag == "services"
    assert root.findtext("service/service_code") == "public_repair"
    definition = client.get(f"{BASE}/services/public_repair.json?lang=en").json()
    (attribute,) = definition["attributes"]
    assert attribute["code"] == "fixture" and attribute["required"] is True
    assert {v["key"] for v in attribute["values"]} == {"streetlight", "path", "fitness", "other"}
    xml = ET.fromstring(client.get(f"{BASE}/services/elderly_help.xml").content)
    assert [a.findtext("code") for a in xml.findall("attributes/*")] == ["need", "lives_alone"]
    missing = client.get(f"{BASE}/services/nope.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


def test_post_needs_a_valid_api_key(client: TestClient, seeded: Seeded) -> None:
    response = _post(client, seeded, api_key="wrong")
    assert response.status_code == 403
    assert response.json()[0]["code"] == 403
    xml = _post(client, seeded, fmt="xml", api_key="wrong")
    assert ET.fromstring(xml.content).findtext("error/code") == "403"


def test_post_routes_to_nearest_community_and_reads_back(client: TestClient,
                                                         seeded: Seeded) -> None:
    created = _post(client, seeded)
    assert created.status_code == 200, created.text
    (record,) = created.json()
    rid, token = record["service_request_id"], record["token"]
    (one,) = client.get(f"{BASE}/requests/{rid}.json").json()
    assert (one["status"], one["service_code"]) == ("open", "public_repair")
    assert one["agency_responsible"] == "多福巷社区 (110101001001)"
    assert one["requested_datetime"].endswith("+08:00")
    assert client.get(f"{BASE}/tokens/{token}.json").json() == [
        {"service_request_id": rid, "token": token}]
    listed = client.get(f"{BASE}/requests.json?service_request_id={rid}").json()
    assert [r["service_request_id"] for r in listed] == [rid]
    xml = ET.fromstring(client.get(f"{BASE}/requests/{rid}.xml").content)
    assert xml.tag == "service_requests" and xml.findtext("request/status") == "open"
    # A second report nearby is flagged as a possible duplicate of the first.
    second = _post(client, seeded, lat="39.9157", long="116.4055").json()[0]
    assert rid in second["service_notice"]


def test_bad_answers_are_400_with_reasons(client: TestClient, seeded: Seeded) -> None:
    response = _post(client, seeded, **{"attribute[fixture]": "rocket"})
    assert response.status_code == 400
    assert "not an allowed answer" in response.json()[0]["description"]
    no_place = client.post(f"{BASE}/requests.json", data={
        "api_key": seeded.api_key, "service_code": "public_repair",
        "attribute[fixture]": "path"})
    assert no_place.status_code == 400
    unknown = _post(client, seeded, service_code="teleport")
    assert unknown.status_code == 400 and "unknown service" in unknown.json()[0]["description"]


def test_malformed_form_fields_are_400_naming_each_field(client: TestClient,
                                                        seeded: Seeded) -> None:
    response = _post(client, seeded, lat="95", long="east")
    assert response.status_code == 400
    descriptions = sorted(e["description"] for e in response.json())
    assert [d.split(":")[0] for d in descriptions] == ["lat", "long"]
    assert "less than or equal to 90" in descriptions[0]
    assert "valid number" in descriptions[1]
    no_key = client.post(f"{BASE}/requests.xml", data={"service_code": "public_repair",
                                                       "api_key": "", **POINT})
    assert no_key.status_code == 400
    error = ET.fromstring(no_key.content)
    assert error.findtext("error/code") == "400"
    assert (error.findtext("error/description") or "").startswith("api_key: Field required")
    # Empty optional fields are absent, as browsers send them: the request is stored.
    assert _post(client, seeded, email="", address_string="").status_code == 200


def test_the_form_is_documented_for_clients(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][f"{BASE}/requests.{{fmt}}"]["post"]
    schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert schema["required"] == ["api_key", "service_code"]
    assert schema["properties"]["lat"]["anyOf"][0] == {"type": "number", "maximum": 90.0,
                                                       "minimum": -90.0}


def test_private_kinds_are_not_listed_publicly(client: TestClient, seeded: Seeded) -> None:
    rid = _post(client, seeded, service_code="elderly_help", **{
        "attribute[need]": "visit", "attribute[fixture]": ""}).json()[0]["service_request_id"]
    public = client.get(f"{BASE}/requests.json").json()
    assert rid not in [r["service_request_id"] for r in public]
    assert client.get(f"{BASE}/requests/{rid}.json").status_code == 404


def test_status_filter_and_contact_data_never_published(client: TestClient,
                                                        seeded: Seeded) -> None:
    _post(client, seeded, phone="13900001111", email="a@example.org", first_name="明",
          last_name="李")
    body = client.get(f"{BASE}/requests.json?status=open").json()
    text = str(body)
    assert body and "13900001111" not in text and "a@example.org" not in text
    assert client.get(f"{BASE}/requests.json?status=closed").json() == []


@pytest.mark.slow
def test_georeport_client_reads_a_live_server(live_server: LiveServer) -> None:
    import httpx
    from georeport import GeoReport

    created = httpx.post(f"{live_server.url}{BASE}/requests.json", data={
        "api_key": live_server.seeded.api_key, "service_code": "public_repair",
        "attribute[fixture]": "fitness", "description": "健身器材松动", **POINT})
    assert created.status_code == 200, created.text
    rid = created.json()[0]["service_request_id"]
    for fmt in ("json", "xml"):
        client = GeoReport(f"{live_server.url}{BASE}", output_format=fmt)
        services = client.get_service_list()
        assert "public_repair" in [s["service_code"] for s in services]
        definition = client.get_service_definition("public_repair")
        assert definition["service_code"] == "public_repair"
        requests = client.get_service_requests()
        requests = requests if isinstance(requests, list) else [requests]
        assert rid in [r["service_request_id"] for r in requests]
        one = client.get_service_request(rid)
        assert (one["service_request_id"], one["status"]) == (rid, "open")


@pytest.mark.slow
def test_concurrent_submissions_all_succeed(live_server: LiveServer) -> None:
    # Concurrent writers on one SQLite file: a write after a read can be refused at once
    # (SQLITE_BUSY_SNAPSHOT); the submission retries instead of failing.
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    def submit(i: int) -> int:
        with httpx.Client(base_url=live_server.url) as client:
            return client.post(f"{BASE}/requests.json", data={
                "api_key": live_server.seeded.api_key, "service_code": "public_repair",
                "attribute[fixture]": "path", "lat": f"{39.905 + i * 1e-3:.4f}",
                "long": "116.405"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(submit, range(48)))
    assert codes == [200] * 48
