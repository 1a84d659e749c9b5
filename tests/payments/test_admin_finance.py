"""The console's finance pages (role 财务): a bank statement uploaded, previewed and imported (UTF-8 or GBK), the
manual queue (a line matched to an order by hand, or set aside, once), the 退款 queue (a corporate-transfer refund
completed with the bank's reference) — and the hostile cases: other roles, no CSRF token, stale TOTP, masked
accounts, nothing half-done on a refusal."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import pending_order
from tests.support.flows import run_jobs
from tests.support.staff import csrf_of, make_staff, sign_in_staff
from wxbackend.audit.models import AuditLog
from wxbackend.core.crypto import encrypt
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict
from wxbackend.core.jobs import get_queue
from wxbackend.core.times import utcnow
from wxbackend.orders import transitions as order_transitions
from wxbackend.orders.models import OrderStatus
from wxbackend.orders.service import cancel_order, mark_paid
from wxbackend.payments import transfer
from wxbackend.payments.bank_models import BankStatementLine, LineStatus
from wxbackend.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from wxbackend.payments.service import refund_order
from wxbackend.payments.transfer import choose_transfer, import_statement, queue_matching
from wxbackend.users.models import User

ORG = "广州某某科技有限公司"
HEADER = "流水号,交易日期,金额,付款人户名,付款人账号,附言"
ACCOUNT = "4405 0101 2345 6789 0123"
FULL_ACCOUNT = "44050101234567890123"
MASKED = "4405************0123"


def row(txn: str, remark: str, amount: str = "300.00", payer: str = ORG, day: str = "2025-03-04") -> str:
    return f"{txn},{day},{amount},{payer},{ACCOUNT},{remark}"


def statement(*rows: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode(encoding)


def transfer_order(organisation: str = ORG):
    order = pending_order(organisation=organisation)
    return choose_transfer(order.user_id, order.id)


def lines() -> list[BankStatementLine]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(BankStatementLine).order_by(BankStatementLine.id)))


def audits(action: str) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def manual_line(data: bytes) -> BankStatementLine:
    """Import `data` as the CLI would and run the matching job: its one line, in the manual queue."""
    result = import_statement(data, "s.csv")
    queue_matching(result.new_line_ids)
    db.session.commit()
    run_jobs()
    [line] = [line for line in lines() if line.id in result.new_line_ids]
    assert line.status == LineStatus.MANUAL, line.manual_reason
    return line


@pytest.fixture
def finance(client, db_session):
    """A signed-in 财务: (staff, console CSRF token)."""
    staff = make_staff("caiwu", "finance", name="钱会计")
    return staff, sign_in_staff(client, staff)


def upload(client, csrf: str, data: bytes, name: str = "202503.csv"):
    return client.post("/admin/bank/import", data={"csrf_token": csrf, "statement": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def hidden(page: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', page).group(1)


def flashed(client) -> str:
    return " ".join(re.findall(r'class="flash flash-\w+" role="alert">([^<]*)<', client.get("/admin/").text))


# --- importing ------------------------------------------------------------------------------------------------


def test_a_gbk_statement_is_previewed_then_imported_and_the_same_file_again_adds_nothing(client, finance, wechat,
                                                                                          db_session):
    staff, csrf = finance
    order = transfer_order()
    data = statement(row("T0001", order.transfer_code), row("T0002", "货款", amount="50.00"), encoding="gbk")
    preview = upload(client, csrf, data)
    assert preview.status_code == 200
    page = preview.text
    assert 'id="count-new">2行' in page and 'id="count-imported">0行' in page and 'id="count-problems">0处' in page
    assert ORG in page and "货款" in page  # decoded from GBK
    assert MASKED in page and FULL_ACCOUNT not in page and ACCOUNT not in page
    assert lines() == []  # a preview imports nothing
    token, sha256 = hidden(page, "token"), hidden(page, "sha256")

    done = client.post("/admin/bank/import/confirm", data={"csrf_token": csrf, "token": token, "sha256": sha256})
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/bank/import")
    assert "共2行，新增2行，已导入过0行（跳过）；2行已排队匹配" in flashed(client)
    assert [(line.bank_txn_id, line.payer_name, line.status) for line in lines()] == [
        ("T0001", ORG, "new"), ("T0002", ORG, "new")]
    assert lines()[0].source_file == "202503.csv"
    run_jobs()
    assert [line.status for line in lines()] == ["matched", "manual"]
    db_session.expire_all()
    assert order.status == OrderStatus.READY_TO_WRITE

    again = upload(client, csrf, data).text
    assert 'id="count-new">0行' in again and 'id="count-imported">2行' in again
    assert 'id="nothing-new"' in again and 'name="token"' not in again
    replayed = client.post("/admin/bank/import/confirm", data={"csrf_token": csrf, "token": token, "sha256": sha256})
    assert replayed.status_code == 302 and "预览已失效" in flashed(client)
    assert len(lines()) == 2 and get_queue("default").count == 0

    [imported] = audits("bank.statement_imported")
    assert imported.actor == f"staff:{staff.id}" and imported.detail["new"] == 2 and imported.detail["sha256"] == sha256
    assert [a.detail["new"] for a in audits("bank.statement_previewed")] == [2, 0]
    assert all(FULL_ACCOUNT not in str(a.detail) for a in audits("bank.statement_previewed"))


def test_two_previews_of_one_file_confirmed_both_import_it_once(client, finance, db_session):
    _, csrf = finance
    data = statement(row("T0001", "货款"), encoding="gbk")
    first, second = upload(client, csrf, data).text, upload(client, csrf, data).text
    for page, new in ((first, "新增1行"), (second, "新增0行")):
        client.post("/admin/bank/import/confirm", data={"csrf_token": csrf, "token": hidden(page, "token"),
                                                        "sha256": hidden(page, "sha256")})
        assert new in flashed(client)
    assert len(lines()) == 1


def test_a_preview_is_confirmed_only_by_who_made_it_and_only_with_its_hash(app, client, finance, db_session):
    _, csrf = finance
    page = upload(client, csrf, statement(row("T0001", "货款"))).text
    token, sha256 = hidden(page, "token"), hidden(page, "sha256")
    wrong = client.post("/admin/bank/import/confirm", data={"csrf_token": csrf, "token": token, "sha256": "0" * 64})
    assert wrong.status_code == 302 and "文件与预览不一致" in flashed(client)
    other = app.test_client()
    other_csrf = sign_in_staff(other, make_staff("cai2", "finance"))
    other.post("/admin/bank/import/confirm", data={"csrf_token": other_csrf, "token": token, "sha256": sha256})
    assert lines() == []
    client.post("/admin/bank/import/confirm", data={"csrf_token": csrf, "token": token, "sha256": sha256})
    assert len(lines()) == 1


def test_the_cli_imports_a_gbk_file(app, db_session, tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes(statement(row("T0001", "货款"), encoding="gbk"))
    result = app.test_cli_runner().invoke(args=["bank", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "共1行，新增1行" in result.output
    [line] = lines()
    assert (line.payer_name, line.remark, line.payer_account_masked) == (ORG, "货款", MASKED)
    bad = tmp_path / "broken.csv"
    bad.write_bytes(HEADER.encode("gbk") + b"\r\nT0002,2025-03-04,1.00,Caf\xff,6222,x\r\n")
    refused = app.test_cli_runner().invoke(args=["bank", "import", str(bad)])
    assert refused.exit_code == 1 and "第2行：不是UTF-8或GBK编码的文本" in refused.output
    assert len(lines()) == 1


def test_a_bad_file_is_refused_naming_the_line_and_nothing_is_imported(client, finance, db_session):
    _, csrf = finance
    page = upload(client, csrf, statement(row("T0001", "1"), row("T0002", "1", amount="abc"), encoding="gbk")).text
    assert "文件有1处错误，未导入" in page and "第3行：金额“abc”无效" in page
    assert 'name="token"' not in page and 'data-txn="T0001"' in page  # the good lines are still shown
    utf16 = upload(client, csrf, statement(row("T0001", "1"), encoding="utf-16")).text
    assert "第1行：不是UTF-8或GBK编码的文本" in utf16
    mixed = upload(client, csrf, statement(row("T0001", "货款")) + row("T0002", "货款").encode("gbk")).text
    assert "第3行：不是UTF-8编码的文本，与前面各行的编码不同" in mixed
    big = upload(client, csrf, statement(*[row(f"T{n:07d}", "x" * 20) for n in range(25_000)])).text
    assert "超过2MB的上限" in big
    missing = client.post("/admin/bank/import", data={"csrf_token": csrf}, content_type="multipart/form-data")
    assert missing.status_code == 302 and "请选择要导入的银行流水文件" in flashed(client)
    assert lines() == []
    assert [a.result for a in audits("bank.statement_previewed")] == ["invalid"] * 4


def test_a_line_imported_before_with_other_content_is_a_problem_of_the_preview(client, finance, db_session):
    _, csrf = finance
    import_statement(statement(row("T0001", "货款")), "a.csv")
    page = upload(client, csrf, statement(row("T0001", "货款", amount="1.00"), row("T0002", "货款"))).text
    assert "第2行：流水号T0001已导入，但日期、金额、户名或附言与已导入的不同" in page
    assert 'data-seen="conflict"' in page and 'name="token"' not in page


# --- the manual queue -----------------------------------------------------------------------------------------


def test_matching_a_manual_line_by_hand_pays_the_order_and_tells_the_user(client, finance, wechat, db_session):
    staff, csrf = finance
    order = transfer_order()
    line = manual_line(statement(row("T0001", order.transfer_code, payer="广州某某科技有限公司番禺分公司")))
    assert line.manual_reason == "付款人户名与证书机构名称不符"
    queue = client.get("/admin/bank/manual").text
    assert 'data-txn="T0001"' in queue and "付款人户名与证书机构名称不符" in queue and order.order_no in queue
    assert MASKED in queue and FULL_ACCOUNT not in queue
    detail = client.get(f"/admin/bank/lines/{line.id}?order_no={order.order_no}").text
    assert 'id="candidate"' in detail and "与付款人户名不同，请核实" in detail and 'id="match-form"' in detail
    assert FULL_ACCOUNT not in detail

    done = client.post(f"/admin/bank/lines/{line.id}/match", data={
        "csrf_token": csrf, "order_no": order.order_no.lower(), "note": "电话核实：分公司账户代付"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/bank/manual")
    assert f"已匹配受理单{order.order_no}" in flashed(client)
    [line] = lines()
    assert (line.status, line.order_id, line.resolved_by, line.resolution_note) == (
        "matched", order.id, staff.id, "电话核实：分公司账户代付")
    assert line.resolved_at is not None
    db_session.expire_all()
    assert order.status == OrderStatus.READY_TO_WRITE and order.pay_channel == "transfer" and order.paid_at
    paid = [e for e in order.events if e.to_status == OrderStatus.PAID]
    assert len(paid) == 1 and paid[0].actor == f"staff:{staff.id}" and "T0001" in paid[0].note

    run_jobs()
    openid = db_session.get(User, order.user_id).openid
    sent = [(m["template_id"], m["touser"]) for m in wechat.messages()]
    assert sent == [("TPL-payment_received", openid), ("TPL-ready_to_write", openid)]
    assert wechat.messages()[0]["data"]["keyword1"]["value"] == order.order_no
    [audit] = audits("bank.line_matched")
    assert audit.actor == f"staff:{staff.id}" and audit.target == f"bank_line:{line.id}"
    assert audit.detail["before"] == {"status": "manual", "order_id": order.id}
    assert audit.detail["after"] == {"status": "matched", "order_id": order.id}
    assert audit.detail["same_payer"] is False and FULL_ACCOUNT not in str(audit.detail)
    assert "T0001" not in client.get("/admin/bank/manual").text
    assert "T0001" in client.get("/admin/bank/manual?status=matched").text


def test_a_wrong_amount_or_an_order_not_waiting_for_payment_is_refused_and_nothing_changes(client, finance,
                                                                                           db_session):
    _, csrf = finance
    order = transfer_order()
    line = manual_line(statement(row("T0001", order.transfer_code, amount="299.99")))
    events = len(order.events)
    detail = client.get(f"/admin/bank/lines/{line.id}?order_no={order.order_no}").text
    assert "金额不符（应付300.00元，到账299.99元）" in detail and 'id="match-form"' not in detail
    refused = client.post(f"/admin/bank/lines/{line.id}/match", data={"csrf_token": csrf, "order_no": order.order_no,
                                                                      "note": "客户说少转了"})
    assert refused.status_code == 302 and refused.headers["Location"].endswith(f"order_no={order.order_no}")
    assert "不能匹配：金额不符（应付300.00元，到账299.99元）" in flashed(client)

    other = transfer_order()
    cancel_order(other.user_id, other.id)
    line2 = manual_line(statement(row("T0002", "货款")))
    client.post(f"/admin/bank/lines/{line2.id}/match", data={"csrf_token": csrf, "order_no": other.order_no,
                                                             "note": "核实"})
    assert "受理单当前为“已撤销”，不是待支付状态" in flashed(client)
    client.post(f"/admin/bank/lines/{line2.id}/match", data={"csrf_token": csrf, "order_no": "SA0000", "note": "x"})
    assert "没有找到受理单号为“SA0000”的受理单" in flashed(client)
    client.post(f"/admin/bank/lines/{line2.id}/match", data={"csrf_token": csrf, "order_no": order.order_no})
    assert "请填写匹配原因" in flashed(client)

    assert [line.status for line in lines()] == ["manual", "manual"]
    assert all(line.resolved_by is None for line in lines())
    db_session.expire_all()
    assert order.status == OrderStatus.PENDING_PAYMENT and len(order.events) == events and order.paid_at is None
    assert get_queue("notices").count == 0 and audits("bank.line_matched") == []


def test_a_line_is_resolved_only_once(client, finance, db_session):
    staff, csrf = finance
    order = transfer_order()
    line = manual_line(statement(row("T0001", "货款")))
    no_note = client.post(f"/admin/bank/lines/{line.id}/aside", data={"csrf_token": csrf, "outcome": "returned"})
    assert no_note.status_code == 302 and "请填写处理说明" in flashed(client)
    assert lines()[0].status == "manual"
    client.post(f"/admin/bank/lines/{line.id}/aside", data={"csrf_token": csrf, "outcome": "returned",
                                                            "note": "非客户付款，已联系付款人退回"})
    [line] = lines()
    assert (line.status, line.resolved_by) == ("returned", staff.id)
    assert line.resolution_note == "非客户付款，已联系付款人退回"
    again = client.post(f"/admin/bank/lines/{line.id}/aside", data={"csrf_token": csrf, "outcome": "dismissed",
                                                                    "note": "再来一次"})
    assert again.status_code == 302 and "该流水已处理（当前为“退回付款人”），不能再次处理" in flashed(client)
    client.post(f"/admin/bank/lines/{line.id}/match", data={"csrf_token": csrf, "order_no": order.order_no,
                                                            "note": "改为匹配"})
    assert "该流水已处理（当前为“退回付款人”），不能再次处理" in flashed(client)
    assert lines()[0].status == "returned" and lines()[0].resolution_note == "非客户付款，已联系付款人退回"
    db_session.expire_all()
    assert order.status == OrderStatus.PENDING_PAYMENT
    [audit] = audits("bank.line_returned")
    assert audit.detail["before"] == {"status": "manual"} and audit.detail["after"] == {"status": "returned"}
    page = client.get(f"/admin/bank/lines/{line.id}").text
    assert 'id="resolution"' in page and "钱会计" in page and 'id="aside-form"' not in page
    with pytest.raises(Conflict, match="不能再次处理"):
        transfer.set_line_aside(staff.id, line.id, "dismissed", "x")


def make_manual_lines(count: int, **overrides) -> list[BankStatementLine]:
    made = []
    for n in range(count):
        values = {"bank_txn_id": f"P{n:05d}", "value_date": date(2025, 3, 1) + timedelta(days=n % 7),
                  "amount_fen": 10_000 + n, "payer_name": f"某某公司{n}", "remark": f"附言{n}",
                  "payer_account_enc": encrypt(FULL_ACCOUNT, "bank_account"), "payer_account_masked": MASKED,
                  "status": LineStatus.MANUAL, "manual_reason": "附言不是有效的打款码（应只填写6位数字）",
                  "decided_at": utcnow(), "source_file": "p.csv", **overrides}
        made.append(BankStatementLine(**values))
    db.session.add_all(made)
    db.session.flush()
    return made


def test_the_manual_queue_filters_sorts_and_pages_by_keyset(client, finance, db_session):
    made = make_manual_lines(53)
    first = client.get("/admin/bank/manual").text
    assert first.count("data-line=") == 50 and 'data-txn="P00000"' in first
    next_link = re.search(r'id="next-page" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "after_id=" in next_link and "OFFSET" not in next_link
    second = client.get(next_link).text
    assert re.findall(r'data-txn="(P\d+)"', second) == ["P00050", "P00051", "P00052"]
    assert 'id="next-page"' not in second

    seen = []
    filters = transfer.line_filters({"sort": "date_desc"})
    after = None
    while True:
        page = transfer.statement_lines(filters, after, limit=7)
        seen += [(line.value_date, line.id) for line in page.lines]
        if page.after is None:
            break
        after = page.after
    assert seen == sorted(((line.value_date, line.id) for line in made), reverse=True)
    by_amount = transfer.statement_lines(transfer.line_filters({"sort": "amount_asc"}), ("10010", made[10].id), 3)
    assert [line.amount_fen for line in by_amount.lines] == [10_011, 10_012, 10_013]

    filtered = client.get("/admin/bank/manual?date_from=2025-03-02&date_to=2025-03-02&q=公司1").text
    assert sorted(re.findall(r'data-txn="(P\d+)"', filtered)) == ["P00001", "P00015"]
    assert re.findall(r'data-txn="(P\d+)"', client.get("/admin/bank/manual?amount=100.07").text) == ["P00007"]
    assert re.findall(r'data-txn="(P\d+)"', client.get("/admin/bank/manual?q=%25").text) == []  # no wildcard
    bad = client.get("/admin/bank/manual?date_from=03/02&amount=abc").text
    assert "起始日期“03/02”无效" in bad and "金额“abc”无效" in bad and bad.count("data-line=") == 50


def test_a_sensitive_action_needs_a_fresh_totp_code(app, client, finance, db_session, monkeypatch):
    staff, csrf = finance
    order = transfer_order()
    line = manual_line(statement(row("T0001", order.transfer_code, payer="别的公司")))
    monkeypatch.setitem(app.config, "STAFF_FRESH_TOTP_MINUTES", 0)
    form = {"csrf_token": csrf, "order_no": order.order_no, "note": "核实"}
    assert client.post(f"/admin/bank/lines/{line.id}/match", data=form).status_code == 428
    assert "totp_code" in client.get(f"/admin/bank/lines/{line.id}?order_no={order.order_no}").text
    wrong = client.post(f"/admin/bank/lines/{line.id}/match", data={**form, "totp_code": "000000"})
    assert wrong.status_code == 302 and lines()[0].status == "manual"
    right = client.post(f"/admin/bank/lines/{line.id}/match", data={**form, "totp_code": staff.next_code()})
    assert right.status_code == 302 and lines()[0].status == "matched"


# --- refunds --------------------------------------------------------------------------------------------------


def paid_by_transfer():
    order = transfer_order()
    result = import_statement(statement(row(f"T{order.id:05d}", order.transfer_code)), "s.csv")
    queue_matching(result.new_line_ids)
    db.session.commit()
    run_jobs()
    db.session.expire_all()
    assert order.status == OrderStatus.READY_TO_WRITE
    return order


def test_completing_a_manual_refund_with_the_banks_reference(client, finance, wechat, db_session):
    staff, csrf = finance
    order = paid_by_transfer()
    refund = refund_order(order.user_id, order.id, f"user:{order.user_id}", "用户撤销")
    db.session.commit()
    queue = client.get("/admin/refunds").text
    assert f'data-refund="{refund.id}"' in queue and order.order_no in queue and "300.00" in queue
    assert ORG in queue and MASKED in queue and FULL_ACCOUNT not in queue and "用户本人" in queue
    assert 'data-queue="payments_admin.refunds"' in client.get("/admin/").text

    missing = client.post(f"/admin/refunds/{refund.id}/complete", data={"csrf_token": csrf, "bank_reference": " "})
    assert missing.status_code == 302 and "请填写退款转账的银行交易流水号" in flashed(client)
    client.post(f"/admin/refunds/{refund.id}/complete", data={"csrf_token": csrf, "bank_reference": "<b>"})
    assert "银行交易流水号应为4至64位" in flashed(client)
    db_session.expire_all()
    assert order.status == OrderStatus.REFUNDING and db_session.get(Refund, refund.id).status == "manual"

    done = client.post(f"/admin/refunds/{refund.id}/complete", data={"csrf_token": csrf,
                                                                     "bank_reference": "HX2025030400012"})
    assert done.status_code == 302 and "已完成（银行交易流水号HX2025030400012）" in flashed(client)
    db_session.expire_all()
    refund = db_session.get(Refund, refund.id)
    assert (refund.status, refund.bank_reference, refund.done_by) == ("success", "HX2025030400012", f"staff:{staff.id}")
    assert order.status == OrderStatus.REFUNDED
    [event] = [e for e in order.events if e.to_status == OrderStatus.REFUNDED]
    assert event.actor == f"staff:{staff.id}" and event.from_status == OrderStatus.REFUNDING
    [audit] = [a for a in audits("order.refunded") if a.actor == f"staff:{staff.id}"]
    assert audit.detail["before"] == {"refund_status": "manual", "order_status": "refunding"}
    assert audit.detail["after"] == {"refund_status": "success", "order_status": "refunded"}
    assert audit.detail["bank_reference"] == "HX2025030400012"

    again = client.post(f"/admin/refunds/{refund.id}/complete", data={"csrf_token": csrf, "bank_reference": "HX2"})
    assert again.status_code == 302
    client.post(f"/admin/refunds/{refund.id}/complete", data={"csrf_token": csrf, "bank_reference": "HX20250304X"})
    assert "该退款当前为“退款成功”，不是待人工退款状态" in flashed(client)
    assert db_session.get(Refund, refund.id).bank_reference == "HX2025030400012"
    assert f'data-refund="{refund.id}"' not in client.get("/admin/refunds").text
    assert "HX2025030400012" in client.get("/admin/refunds?tab=done").text


def test_one_bank_transfer_completes_one_refund(client, finance, db_session):
    _, csrf = finance
    first, second = paid_by_transfer(), paid_by_transfer()
    refunds = [refund_order(None, order.id, "staff:99", "审核未通过") for order in (first, second)]
    db.session.commit()
    client.post(f"/admin/refunds/{refunds[0].id}/complete", data={"csrf_token": csrf, "bank_reference": "HX0001"})
    client.post(f"/admin/refunds/{refunds[1].id}/complete", data={"csrf_token": csrf, "bank_reference": "HX0001"})
    assert f"银行交易流水号HX0001已用于退款{refunds[0].out_refund_no}" in flashed(client)
    db_session.expire_all()
    assert [r.status for r in refunds] == ["success", "manual"] and second.status == OrderStatus.REFUNDING


def test_wechat_refunds_still_open_are_listed_read_only(client, finance, db_session):
    order = pending_order()
    assert mark_paid(order.id, "wechat", "wechatpay")
    payment = Payment(order_id=order.id, channel="wechat", out_trade_no=f"{order.order_no}PAAAAAA",
                      amount_fen=order.amount_fen, status=PaymentStatus.PAID)
    db.session.add(payment)
    db.session.flush()
    order_transitions.move(order, OrderStatus.REFUNDING, "staff:1", "审核未通过")
    db.session.add(Refund(order_id=order.id, payment_id=payment.id, channel="wechat",
                          out_refund_no=f"{payment.out_trade_no}R", amount_fen=order.amount_fen,
                          status=RefundStatus.ABNORMAL, reason="审核未通过", actor="staff:1"))
    db.session.flush()
    page = client.get("/admin/refunds?tab=wechat").text
    assert order.order_no in page and "退款异常" in page and "bank_reference" not in page
    assert order.order_no not in client.get("/admin/refunds").text


# --- the door -------------------------------------------------------------------------------------------------


def test_the_home_shows_the_finance_queues_with_their_counts(client, finance, db_session):
    make_manual_lines(3)
    home = client.get("/admin/").text
    assert re.search(r'data-queue="payments_admin.manual_lines">银行流水人工队列<span class="count">3<', home)
    assert re.search(r'data-queue="payments_admin.refunds">退款<span class="count">0<', home)
    assert 'data-queue="payments_admin.bank_import">导入银行流水</a>' in home


FINANCE_ROUTES = [("GET", "/admin/bank/import"), ("POST", "/admin/bank/import"), ("POST", "/admin/bank/import/confirm"),
                  ("GET", "/admin/bank/manual"), ("GET", "/admin/bank/lines/{line}"),
                  ("POST", "/admin/bank/lines/{line}/match"), ("POST", "/admin/bank/lines/{line}/aside"),
                  ("GET", "/admin/refunds"), ("POST", "/admin/refunds/{refund}/complete")]


def test_an_auditor_gets_403_on_every_finance_route_and_sees_no_finance_tile(app, client, db_session):
    order = paid_by_transfer()
    refund = refund_order(None, order.id, "staff:1", "审核未通过")
    [line] = make_manual_lines(1)
    db.session.commit()
    csrf = sign_in_staff(client, make_staff("shenhe", "auditor"))
    for method, path in FINANCE_ROUTES:
        url = path.format(line=line.id, refund=refund.id)
        answer = client.open(url, method=method, data={"csrf_token": csrf, "order_no": order.order_no, "note": "x",
                                                       "outcome": "dismissed", "bank_reference": "HX0001"})
        assert answer.status_code == 403, (method, url)
    assert "payments_admin" not in client.get("/admin/").text
    assert len(audits("staff.forbidden")) == len(FINANCE_ROUTES)
    db_session.expire_all()
    assert line.status == "manual" and refund.status == "manual"


def test_a_post_without_the_console_csrf_token_is_refused_and_changes_nothing(client, finance, db_session):
    staff, csrf = finance
    order = transfer_order()
    line = manual_line(statement(row("T0001", order.transfer_code, payer="别的公司")))
    paid = paid_by_transfer()
    refund = refund_order(None, paid.id, "staff:1", "审核未通过")
    db.session.commit()
    page = upload(client, csrf, statement(row("T0009", "货款"))).text
    forms = {
        "/admin/bank/import": {"statement": (io.BytesIO(statement(row("T0008", "货款"))), "x.csv")},
        "/admin/bank/import/confirm": {"token": hidden(page, "token"), "sha256": hidden(page, "sha256")},
        f"/admin/bank/lines/{line.id}/match": {"order_no": order.order_no, "note": "核实"},
        f"/admin/bank/lines/{line.id}/aside": {"outcome": "dismissed", "note": "核实"},
        f"/admin/refunds/{refund.id}/complete": {"bank_reference": "HX0001"},
    }
    for path, form in forms.items():
        for token in (None, "forged-" + csrf[:8]):
            data = {**form, **({"csrf_token": token} if token else {})}
            if "statement" in data:
                data["statement"] = (io.BytesIO(statement(row("T0008", "货款"))), "x.csv")
            assert client.post(path, data=data, content_type="multipart/form-data").status_code == 400, path
    assert {line.bank_txn_id: line.status for line in lines()}.get("T0001") == "manual"
    assert "T0009" not in {line.bank_txn_id for line in lines()}
    db_session.expire_all()
    assert refund.status == "manual" and order.status == OrderStatus.PENDING_PAYMENT
    assert len(audits("staff.csrf_refused")) == 2 * len(forms)
    assert len(audits("bank.statement_previewed")) == 1  # only the one with the token


def test_the_console_pages_render_for_finance(client, finance, db_session):
    for path in ("/admin/bank/import", "/admin/bank/manual", "/admin/refunds", "/admin/refunds?tab=wechat",
                 "/admin/refunds?tab=done", "/admin/bank/manual?status=returned&sort=amount_desc"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert csrf_of(page.text)
    assert client.get("/admin/bank/lines/999999").status_code == 404
