"""我的地址: validation shown on the fields, the mobile encrypted and masked, one default, edit and delete, the
JSON API, and one user never reaching another's addresses."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.support.flows import sign_in
from wxbackend.addresses import service
from wxbackend.addresses.models import Address
from wxbackend.addresses.service import AddressInput
from wxbackend.core.crypto import decrypt
from wxbackend.core.errors import NotFound
from wxbackend.core.validation import InvalidFields
from wxbackend.users.models import User

HOME = {"recipient": "张三", "mobile": "13812345678", "province": "广东省", "city": "广州市", "district": "天河区",
        "detail": "天河路123号某某大厦10楼", "postcode": "510000"}


def form(csrf: str, **fields) -> dict:
    return {**HOME, "csrf_token": csrf, **fields}


def address_input(**overrides) -> AddressInput:
    return AddressInput(**{**HOME, **overrides})


def field_error(html: str, field: str) -> str:
    return html.split(f'<p class="field-error" data-field="{field}">')[1].split("</p>")[0]


def user_id_of(db_session, name: str) -> int:
    return db_session.scalar(sa.select(User.id).where(User.openid == f"dev-{name}"))


def test_each_bad_field_is_shown_under_it(client, db_session):
    csrf = sign_in(client, "张三")
    page = client.post("/h5/addresses/new", data=form(csrf, mobile="12812345678", postcode="51000", recipient="",
                                                      district="")).text
    assert field_error(page, "mobile") == "请填写正确的11位手机号码"
    assert field_error(page, "postcode") == "邮政编码应为6位数字"
    assert field_error(page, "recipient") == "请填写收件人"
    assert field_error(page, "district") == "请填写区/县"
    assert page.index('id="mobile"') < page.index('data-field="mobile"') < page.index('id="province"')
    assert 'value="天河路123号某某大厦10楼"' in page  # what was typed stays
    assert client.post("/h5/addresses/new", data=form(csrf, mobile="")).text.count("请填写手机号码") == 1
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Address)) == 0
    for good in ("13812345678", "138 1234 5678", "199-1234-5678"):
        service.create_address(user_id_of(db_session, "张三"), address_input(mobile=good))
    with pytest.raises(InvalidFields) as invalid:
        service.create_address(user_id_of(db_session, "张三"), address_input(mobile="1381234567", postcode="ABCDEF"))
    assert set(invalid.value.errors) == {"mobile", "postcode"}


def test_create_list_masked_edit_default_delete(client, db_session):
    csrf = sign_in(client, "张三")
    listed = client.post("/h5/addresses/new", data=form(csrf), follow_redirects=True).text
    assert "地址已保存" in listed and "138****5678" in listed and "13812345678" not in listed
    assert "广东省广州市天河区天河路123号某某大厦10楼" in listed and "510000" in listed and "默认" in listed
    [home] = db_session.scalars(sa.select(Address)).all()
    assert b"13812345678" not in home.mobile_enc and decrypt(home.mobile_enc, "mobile") == "13812345678"
    assert home.is_default

    client.post("/h5/addresses/new", data=form(csrf, recipient="李四", mobile="13987654321", province="北京市",
                                               city="北京市", district="朝阳区", detail="建国路1号", postcode="100020",
                                               make_default="y"))
    office = db_session.scalar(sa.select(Address).where(Address.recipient == "李四"))
    db_session.refresh(home)
    assert office.is_default and not home.is_default and office.region == "北京市朝阳区"

    edit = client.get(f"/h5/addresses/{home.id}/edit").text
    assert "已保存的手机号码：138****5678" in edit and "不修改请留空" in edit and "13812345678" not in edit
    client.post(f"/h5/addresses/{home.id}/edit", data=form(csrf, mobile="", detail="天河路456号"))
    db_session.refresh(home)
    assert home.detail == "天河路456号" and decrypt(home.mobile_enc, "mobile") == "13812345678"  # kept
    client.post(f"/h5/addresses/{home.id}/edit", data=form(csrf, mobile="15011112222"))
    db_session.refresh(home)
    assert home.mobile_masked == "150****2222"

    client.post(f"/h5/addresses/{home.id}/default", data={"csrf_token": csrf})
    assert db_session.scalars(sa.select(Address.id).where(Address.is_default.is_(True))).all() == [home.id]
    client.post(f"/h5/addresses/{home.id}/delete", data={"csrf_token": csrf})
    db_session.expire_all()
    assert [(a.id, a.is_default) for a in db_session.scalars(sa.select(Address))] == [(office.id, True)]
    assert client.post(f"/h5/addresses/{office.id}/delete").status_code == 400  # no CSRF token


def test_user_b_cannot_see_or_change_user_as_addresses(app, client, db_session):
    csrf_a = sign_in(client, "张三")
    client.post("/h5/addresses/new", data=form(csrf_a, detail="天河路123号秘密地址"))
    [address] = db_session.scalars(sa.select(Address)).all()
    bob = app.test_client()
    csrf = sign_in(bob, "李四")
    assert "秘密地址" not in bob.get("/h5/addresses").text and "138****5678" not in bob.get("/h5/addresses").text
    assert bob.get(f"/h5/addresses/{address.id}/edit").status_code == 404
    assert bob.post(f"/h5/addresses/{address.id}/edit", data=form(csrf, detail="改掉")).status_code == 404
    assert bob.post(f"/h5/addresses/{address.id}/delete", data={"csrf_token": csrf}).status_code == 404
    assert bob.post(f"/h5/addresses/{address.id}/default", data={"csrf_token": csrf}).status_code == 404
    headers = {"X-CSRFToken": csrf}
    assert bob.get("/api/addresses").json == []
    assert bob.get(f"/api/addresses/{address.id}").status_code == 404
    assert bob.put(f"/api/addresses/{address.id}", json={"detail": "改掉"}, headers=headers).status_code == 404
    assert bob.delete(f"/api/addresses/{address.id}", headers=headers).status_code == 404
    with pytest.raises(NotFound):
        service.user_address(user_id_of(db_session, "李四"), address.id)
    db_session.refresh(address)
    assert address.detail == "天河路123号秘密地址" and address.is_default


def test_api_for_the_mini_program(client, db_session):
    csrf = sign_in(client, "张三")
    headers = {"X-CSRFToken": csrf}
    bad = client.post("/api/addresses", json={"recipient": "张三", "mobile": "123"}, headers=headers)
    assert bad.status_code == 400 and bad.json["code"] == "invalid_fields"
    assert bad.json["errors"]["mobile"] == "请填写正确的11位手机号码" and "postcode" in bad.json["errors"]
    body = {"recipient": "张三", "mobile": "13812345678", "province": "广东省", "city": "广州市", "district": "天河区",
            "detail": "天河路123号", "postcode": "510000"}
    created = client.post("/api/addresses", json=body, headers=headers)
    assert created.status_code == 201 and created.json["mobile_masked"] == "138****5678"
    assert created.json["is_default"] is True and "mobile" not in created.json
    second = client.post("/api/addresses", json={**body, "detail": "体育西路1号"}, headers=headers).json
    assert second["is_default"] is False
    assert client.post(f"/api/addresses/{second['id']}/default", headers=headers).json["is_default"] is True
    assert [a["id"] for a in client.get("/api/addresses").json] == [second["id"], created.json["id"]]
    changed = client.put(f"/api/addresses/{created.json['id']}", json={**body, "mobile": None, "postcode": "510620"},
                         headers=headers)
    assert changed.status_code == 200 and changed.json["postcode"] == "510620"
    assert changed.json["mobile_masked"] == "138****5678"
    assert client.delete(f"/api/addresses/{second['id']}", headers=headers).status_code == 204
    [left] = client.get("/api/addresses").json
    assert left["id"] == created.json["id"] and left["is_default"] is True
    assert client.post("/api/addresses", json=body).status_code == 400  # cookie without CSRF token


def test_every_wrong_field_is_named_at_once_a_long_one_hides_no_other(client, db_session):
    csrf = sign_in(client, "张三")
    page = client.post("/h5/addresses/new", data=form(csrf, recipient="长" * 60, mobile="123", detail=""))
    assert page.status_code == 200
    named = set(re.findall(r'data-field="(\w+)"', page.text))
    assert {"recipient", "mobile", "detail"} <= named, named
    assert "收件人最多50个字" in page.text
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Address)) == 0


def test_without_the_divisions_file_the_form_still_works_with_text_fields(client, db_session, app, monkeypatch,
                                                                          tmp_path):
    monkeypatch.setitem(app.config, "ADDRESS_DIVISIONS_FILE", str(tmp_path / "missing.json"))
    assert client.get("/h5/addresses/divisions.json").json == []
    csrf = sign_in(client, "张三")
    saved = client.post("/h5/addresses/new", data=form(csrf))
    assert saved.status_code == 302
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Address)) == 1


def test_the_mini_program_gets_the_same_divisions_as_the_h5_picker(app, client, db_session):
    from tests.support.factories import make_user
    from wxbackend.web.auth import issue_api_token

    user = make_user()
    db_session.commit()
    me = {"Authorization": f"Bearer {issue_api_token(user.id)[0]}"}
    answer = client.get("/api/addresses/divisions", headers=me)
    assert answer.status_code == 200 and answer.json == client.get("/h5/addresses/divisions.json").json
    guangdong = next(province for province in answer.json if province["n"] == "广东省")
    assert "天河区" in next(city for city in guangdong["c"] if city["n"] == "广州市")["a"]
    assert client.get("/api/addresses/divisions").status_code == 401
