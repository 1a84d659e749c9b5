"""FINAL_TRY and LOCKED. SoftHSM2 never reports them, so for these two states only the token layer is a thin
stand-in that reports those flags over a real SoftHSM2 token; the helper app runs in-process."""

import pytest
from pkcs11 import TokenFlag

from tests.conftest import PC_ORIGIN, PKCS11_MODULE, TICKET_PUBLIC_KEY
from tests.support.helper_standin import StandInLayer
from ukey_helper.app import HELPER, create_helper_app
from ukey_helper.config import HelperConfig


class LocalPage:
    """Requests as the binding page makes them: to 127.0.0.1:28999 with the page's Origin."""

    def __init__(self, client):
        self.client = client

    def get(self, path):
        return self.client.get(path, base_url="http://127.0.0.1:28999", headers={"Origin": PC_ORIGIN})

    def post(self, path, json):
        return self.client.post(path, json=json, base_url="http://127.0.0.1:28999", headers={"Origin": PC_ORIGIN})


@pytest.fixture
def helper_client(demo_key, softhsm_store):
    def make(extra_flags):
        cfg = HelperConfig.load(environ={"PKCS11_MODULE": PKCS11_MODULE, "HELPER_PORT": "28999",
                                         "HELPER_ALLOWED_ORIGINS": PC_ORIGIN,
                                         "HELPER_TICKET_PUBLIC_KEYS": TICKET_PUBLIC_KEY})
        app = create_helper_app(cfg, tokens=StandInLayer(cfg.modules, extra_flags))
        return LocalPage(app.test_client())
    return make




def start_ticket(pc, client):
    token = client.get("/v1/token").get_json()
    return pc.post("/pc/api/bind/start", json={"certificate": token["certificates"][0]["pem"]}).json["ticket"]


def test_final_try_needs_explicit_confirmation(pc, helper_client):
    client = helper_client(TokenFlag.USER_PIN_FINAL_TRY)
    listed = client.get("/v1/token").get_json()
    assert "token" in listed, listed
    assert listed["token"]["pin_state"] == "final_try"
    refused = client.post("/v1/sign", json={"ticket": start_ticket(pc, client), "pin": "12345678"})
    assert refused.status_code == 428
    assert refused.get_json()["code"] == "pin_final_try" and "最后一次" in refused.get_json()["message"]
    confirmed = client.post("/v1/sign", json={"ticket": start_ticket(pc, client), "pin": "12345678",
                                              "confirm_final_try": True})
    assert confirmed.status_code == 200 and "signature" in confirmed.get_json()


def test_locked_token_gets_a_clear_message_and_no_login(pc, helper_client):
    client = helper_client(TokenFlag.USER_PIN_LOCKED)
    assert client.get("/v1/token").get_json()["token"]["pin_state"] == "locked"
    refused = client.post("/v1/sign", json={"ticket": start_ticket(pc, client), "pin": "12345678",
                                            "confirm_final_try": True})
    assert refused.status_code == 423
    assert refused.get_json() == {"code": "pin_locked", "message": "PIN码已锁定，请联系客服解锁", "helper": HELPER}
