"""The real key helper process over HTTP, with SoftHSM2 tokens as the keys."""

from cryptography import x509

from ukey_helper import __version__
from ukey_helper.app import HELPER

PC_ORIGIN = "http://127.0.0.1:5000"


def test_lists_the_present_key_and_its_certificate(demo_key, start_helper):
    helper = start_helper()
    response = helper.get("/v1/token")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == PC_ORIGIN
    body = response.json()
    assert body["token"]["medium_number"] == demo_key.serial
    assert body["token"]["label"] == "DEMO UKEY"
    assert body["token"]["pin_state"] == "ok"
    assert body["helper"] == {"version": __version__} == HELPER
    [cert] = body["certificates"]
    assert cert["serial"] == demo_key.certificate.serial
    parsed = x509.load_pem_x509_certificate(cert["pem"].encode())
    assert cert["cka_id"] == x509.SubjectKeyIdentifier.from_public_key(parsed.public_key()).digest.hex()


def test_no_key_is_token_absent(softhsm_store, start_helper):
    response = start_helper().get("/v1/token")
    assert response.status_code == 404
    assert response.json() == {"code": "token_absent", "message": "未检测到证书介质，请插入U-KEY", "helper": HELPER}


def test_two_keys_is_multiple_tokens(softhsm_store, start_helper):
    softhsm_store.make_token(label="KEY A")
    softhsm_store.make_token(label="KEY B")
    response = start_helper().get("/v1/token")
    assert response.status_code == 409
    assert response.json()["code"] == "multiple_tokens"
    assert response.json()["message"] == "每次只能操作一个数字证书，请拔出其他证书"


def test_key_plugged_in_and_pulled_out_while_running(softhsm_store, start_helper):
    helper = start_helper()
    assert helper.get("/v1/token").json()["code"] == "token_absent"
    serial = softhsm_store.make_token(label="LATE KEY")
    assert helper.get("/v1/token").json()["token"]["serial"] == serial
    softhsm_store.delete_token(serial)
    assert helper.get("/v1/token").json()["code"] == "token_absent"


def test_pin_count_low_is_reported(softhsm_store, start_helper):
    serial = softhsm_store.make_token(label="TRIED KEY")
    token = softhsm_store.lib().get_token(token_label="TRIED KEY")
    try:
        token.open(user_pin="wrong-pin")
    except Exception:
        pass
    body = start_helper().get("/v1/token").json()
    assert body["token"]["serial"] == serial
    assert body["token"]["pin_state"] == "count_low"


def assert_refused(response, code):
    assert response.status_code == 403
    assert response.json()["code"] == code
    assert "Access-Control-Allow-Origin" not in response.headers


def test_foreign_null_and_missing_origins_are_refused(demo_key, start_helper):
    helper = start_helper()
    assert_refused(helper.get("/v1/token", origin="https://evil.example"), "forbidden_origin")
    assert_refused(helper.get("/v1/token", origin="null"), "forbidden_origin")
    assert_refused(helper.get("/v1/token", origin=None), "forbidden_origin")
    assert_refused(helper.get("/v1/token", origin="http://127.0.0.1:5000.evil.example"), "forbidden_origin")


def test_unexpected_host_is_refused_dns_rebinding(demo_key, start_helper):
    helper = start_helper()
    assert_refused(helper.get("/v1/token", host=f"evil.example:{helper.port}"), "forbidden_host")
    assert_refused(helper.get("/v1/token", host="127.0.0.1:1"), "forbidden_host")
    assert helper.get("/v1/token", host=f"localhost:{helper.port}").status_code == 200


def test_preflight_answers_the_allowed_origin_only(start_helper):
    helper = start_helper()
    preflight_headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
                         "Access-Control-Request-Private-Network": "true"}
    ok = helper.request("OPTIONS", "/v1/sign", headers=dict(preflight_headers))
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == PC_ORIGIN
    assert ok.headers["Access-Control-Allow-Private-Network"] == "true"
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]

    refused = helper.request("OPTIONS", "/v1/sign", origin="https://evil.example", headers=dict(preflight_headers))
    assert_refused(refused, "forbidden_origin")
    assert "Access-Control-Allow-Private-Network" not in refused.headers


def test_unknown_path_and_method_get_json_errors(start_helper):
    helper = start_helper()
    missing = helper.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = helper.request("DELETE", "/v1/token")
    assert wrong.status_code == 405 and wrong.json()["code"] == "not_found"


def test_helper_listens_on_loopback_only(start_helper):
    helper = start_helper()
    with open("/proc/net/tcp") as table:
        listening = [line.split()[1] for line in table.readlines()[1:] if line.split()[3] == "0A"]
    ours = [addr for addr in listening if int(addr.split(":")[1], 16) == helper.port]
    assert ours == ["0100007F:" + format(helper.port, "04X")]


def test_helper_refuses_to_start_with_a_wildcard_origin(softhsm_store, start_helper):
    import pytest

    with pytest.raises(RuntimeError, match="exact origins only"):
        start_helper(HELPER_ALLOWED_ORIGINS="*")
