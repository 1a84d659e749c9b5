"""Corporate transfer (对公打款): the 6-digit code, the page, statement import, matching and the manual queue —
over real PostgreSQL and Redis, jobs run by an rq worker."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from rq import SimpleWorker

from tests.support.factories import pending_order
from tests.support.flows import queued_work, sign_in
from wxbackend.core.crypto import decrypt
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.jobs import get_queue
from wxbackend.core.redis import get_redis
from wxbackend.orders.models import OrderEvent, OrderStatus
from wxbackend.orders.service import cancel_order, mark_paid
from wxbackend.payments import transfer
from wxbackend.payments.bank_models import BankStatementLine
from wxbackend.payments.tasks import match_statement_line
from wxbackend.payments.transfer import (
    StatementError,
    choose_transfer,
    import_statement,
    match_line,
    parse_statement,
    queue_matching,
)
from wxbackend.users.service import dev_user

ORG = "广州某某科技有限公司"
HEADER = "流水号,交易日期,金额,付款人户名,付款人账号,附言"
ACCOUNT = "4405 0101 2345 6789 0123"


def row(txn: str, remark: str, amount: str = "300.00", payer: str = ORG, account: str = ACCOUNT,
        day: str = "2025-03-04") -> str:
    return f"{txn},{day},{amount},{payer},{account},{remark}"


def statement(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def run_matching() -> None:
    SimpleWorker([get_queue("default")], connection=get_redis()).work(burst=True)


def import_and_match(data: bytes, name: str = "statement.csv") -> transfer.ImportResult:
    result = import_statement(data, name)
    queue_matching(result.new_line_ids)
    db.session.commit()  # as the import command does: the matching jobs are enqueued when the import commits
    run_matching()
    return result


def lines() -> list[BankStatementLine]:
    from wxbackend.core.db import db

    db.session.expire_all()
    return list(db.session.scalars(sa.select(BankStatementLine).order_by(BankStatementLine.id)))


def transfer_order(organisation: str = ORG, user=None):
    order = pending_order(organisation=organisation, user=user)
    return choose_transfer(order.user_id, order.id)


def notice_kinds() -> list[str]:
    return [args[1] for _, args in queued_work(get_queue("notices"))]


# --- the code --------------------------------------------------------------------------------------------------


def test_code_is_six_digits_and_unique_among_open_transfer_orders(db_session):
    orders = [transfer_order() for _ in range(40)]
    codes = [order.transfer_code for order in orders]
    assert all(re.fullmatch(r"[1-9][0-9]{5}", code) for code in codes)
    assert len(set(codes)) == len(codes)
    assert {order.pay_channel for order in orders} == {"transfer"}


def test_a_code_held_by_an_open_order_is_refused_by_the_index_and_drawn_again(db_session, monkeypatch):
    first = transfer_order()
    taken = int(first.transfer_code) - 100_000
    free = (taken + 1) % 900_000
    draws = [taken, taken, free]
    monkeypatch.setattr(transfer, "secrets", SimpleNamespace(randbelow=lambda _: draws.pop(0)))
    second = transfer_order()
    assert second.transfer_code == str(100_000 + free)
    assert draws == []
    db_session.expire_all()
    assert first.transfer_code == str(100_000 + taken)  # the first order keeps its code


def test_a_closed_orders_code_may_be_given_again(db_session, monkeypatch):
    first = transfer_order()
    cancel_order(first.user_id, first.id)
    monkeypatch.setattr(transfer, "secrets", SimpleNamespace(randbelow=lambda _: int(first.transfer_code) - 100_000))
    assert transfer_order().transfer_code == first.transfer_code


def test_no_free_code_after_every_draw_collides(db_session, monkeypatch):
    first = transfer_order()
    monkeypatch.setattr(transfer, "secrets", SimpleNamespace(randbelow=lambda _: int(first.transfer_code) - 100_000))
    order = pending_order()
    with pytest.raises(DomainError) as refused:
        choose_transfer(order.user_id, order.id)
    assert refused.value.status == 503
    db_session.expire_all()
    assert order.transfer_code is None and order.pay_channel is None


def test_choosing_twice_keeps_the_code(db_session):
    order = transfer_order()
    code = order.transfer_code
    assert choose_transfer(order.user_id, order.id).transfer_code == code
    db_session.expire_all()
    assert order.transfer_code == code


def test_another_user_cannot_choose_transfer_on_someone_elses_order(db_session):
    order = pending_order()
    other = pending_order(organisation="深圳某某有限公司")
    with pytest.raises(NotFound):
        choose_transfer(other.user_id, order.id)
    db_session.expire_all()
    assert order.transfer_code is None


def test_an_order_not_waiting_for_payment_gets_no_code(db_session):
    order = pending_order()
    mark_paid(order.id, "wechat", "wechatpay")
    with pytest.raises(Conflict):
        choose_transfer(order.user_id, order.id)


# --- import and matching ---------------------------------------------------------------------------------------


def test_import_then_match_pays_the_order_and_tells_the_user(db_session):
    order = transfer_order()
    result = import_and_match(statement(row("T0001", order.transfer_code)))
    assert (result.total, result.skipped) == (1, 0)
    [line] = lines()
    assert (line.status, line.order_id, line.amount_fen) == ("matched", order.id, 30000)
    assert order.status == OrderStatus.READY_TO_WRITE
    assert order.pay_channel == "transfer" and order.paid_at is not None
    assert any(event.actor == "bank" and "T0001" in event.note for event in order.events)
    assert notice_kinds() == ["payment_received", "ready_to_write"]


def test_payer_account_is_kept_encrypted_and_shown_masked(db_session):
    order = transfer_order()
    import_statement(statement(row("T0001", order.transfer_code)), "s.csv")
    [line] = lines()
    assert b"44050101" not in line.payer_account_enc
    assert decrypt(line.payer_account_enc, "bank_account") == "44050101234567890123"
    assert line.payer_account_masked == "4405************0123"


def test_the_same_statement_imported_twice_changes_nothing(db_session):
    order = transfer_order()
    data = statement(row("T0001", order.transfer_code), row("T0002", "货款"))
    import_and_match(data)
    again = import_and_match(data)
    assert (again.total, again.new_line_ids, again.skipped) == (2, [], 2)
    assert [(line.bank_txn_id, line.status) for line in lines()] == [("T0001", "matched"), ("T0002", "manual")]
    paid = db_session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == order.id,
                                                          OrderEvent.to_status == OrderStatus.PAID)).all()
    assert len(paid) == 1
    assert notice_kinds() == ["payment_received", "ready_to_write"]


def test_the_matching_job_run_twice_changes_nothing(db_session):
    order = transfer_order()
    import_and_match(statement(row("T0001", order.transfer_code)))
    [line] = lines()
    events = len(order.events)
    assert match_statement_line(line.id) == "matched"
    assert match_line(line.id) == "matched"
    db_session.expire_all()
    assert len(order.events) == events
    assert match_line(999_999) == "missing"


def test_wrong_amount_goes_to_the_manual_queue(db_session):
    order = transfer_order()
    import_and_match(statement(row("T0001", order.transfer_code, amount="299.99")))
    [line] = lines()
    assert (line.status, line.order_id) == ("manual", order.id)
    assert line.manual_reason == "金额不符（应付300.00元，到账299.99元）"
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_wrong_payer_name_goes_to_the_manual_queue(db_session):
    order = transfer_order()
    import_and_match(statement(row("T0001", order.transfer_code, payer="广州市财政局")))
    [line] = lines()
    assert (line.status, line.manual_reason) == ("manual", "付款人户名与证书机构名称不符")
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_remark_with_extra_text_goes_to_the_manual_queue(db_session):
    order = transfer_order()
    import_and_match(statement(row("T0001", f"续费{order.transfer_code}"), row("T0002", f"{order.transfer_code}0")))
    assert [(line.status, line.manual_reason) for line in lines()] == [
        ("manual", "附言不是有效的打款码（应只填写6位数字）")] * 2
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_spaces_and_full_width_forms_do_not_stop_a_match(db_session):
    order = transfer_order(organisation="广州某某科技有限公司（番禺分公司）")
    full_width_code = order.transfer_code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    import_and_match(statement(row("T0001", f" {full_width_code} ", payer="广州某某科技有限公司(番禺分公司)")))
    assert [line.status for line in lines()] == ["matched"]
    assert order.status == OrderStatus.READY_TO_WRITE


def test_a_code_no_order_holds_goes_to_the_manual_queue(db_session):
    order = transfer_order()
    unknown = "100000" if order.transfer_code != "100000" else "100001"
    import_and_match(statement(row("T0001", unknown)))
    [line] = lines()
    assert (line.status, line.manual_reason, line.order_id) == ("manual", "附言中的打款码没有对应的受理单", None)


def test_an_order_already_paid_by_wechat_sends_the_transfer_to_the_manual_queue(db_session):
    order = transfer_order()
    assert mark_paid(order.id, "wechat", "wechatpay")
    import_and_match(statement(row("T0001", order.transfer_code)))
    [line] = lines()
    assert (line.status, line.order_id) == ("manual", order.id)
    assert line.manual_reason.startswith("该受理单已通过微信支付")
    assert order.pay_channel == "wechat"


def test_a_second_line_for_the_same_order_goes_to_the_manual_queue(db_session):
    order = transfer_order()
    import_and_match(statement(row("T0001", order.transfer_code), row("T0002", order.transfer_code)))
    first, second = lines()
    assert (first.status, first.order_id) == ("matched", order.id)
    assert (second.status, second.order_id) == ("manual", order.id)
    assert "已匹配其他流水" in second.manual_reason


def test_a_cancelled_orders_code_goes_to_the_manual_queue(db_session):
    order = transfer_order()
    cancel_order(order.user_id, order.id)
    import_and_match(statement(row("T0001", order.transfer_code)))
    [line] = lines()
    assert (line.status, line.manual_reason) == ("manual", "该受理单当前为“已撤销”，不是待支付状态")


# --- statement format ------------------------------------------------------------------------------------------


def test_a_malformed_line_refuses_the_whole_file_naming_the_line(db_session):
    order = transfer_order()
    data = statement(row("T0001", order.transfer_code), row("T0002", "1", amount="三百元"),
                     row("T0003", "1", day="2025/03/04"), "T0004,2025-03-04,1.00,只有四列")
    with pytest.raises(StatementError) as refused:
        import_statement(data, "bad.csv")
    problems = refused.value.problems
    assert problems[0].startswith("第3行：金额“三百元”无效")
    assert problems[1].startswith("第4行：交易日期“2025/03/04”无效")
    assert problems[2] == "第5行：应有6列，实际4列"
    assert lines() == []
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_other_encodings_and_headers_are_refused_clearly(db_session):
    gbk = (HEADER + "\n" + row("T0001", "123456")).encode("gbk")
    assert [r.payer_name for r in parse_statement(gbk)] == [ORG]  # Chinese banks export GBK
    with pytest.raises(StatementError, match="第1行：不是UTF-8或GBK编码"):
        parse_statement((HEADER + "\n" + row("T0001", "123456")).encode("utf-16"))
    mixed = statement(row("T0001", "123456")) + row("T0002", "123456").encode("gbk")
    with pytest.raises(StatementError, match="第3行：不是UTF-8编码"):
        parse_statement(mixed)
    with pytest.raises(StatementError, match="第1行：表头应为"):
        parse_statement(statement(row("T0001", "123456"), header="流水号,日期,金额,户名,账号,附言"))
    with pytest.raises(StatementError, match="流水号与第2行重复"):
        parse_statement(statement(row("T0001", "123456"), row("T0001", "123456")))


def test_bom_quotes_blank_lines_and_amounts_in_yuan(db_session):
    data = "\ufeff".encode() + statement(row("T0001", "123456", amount="1234.5"), "",
                                         'T0002,2025-03-04,0.01,"某某公司,北京",6222 0000 1111,""')
    first, second = parse_statement(data)
    assert (first.amount_fen, first.line_no, first.payer_account) == (123450, 2, "44050101234567890123")
    assert (second.amount_fen, second.payer_name, second.remark, second.line_no) == (1, "某某公司,北京", "", 4)
    with pytest.raises(StatementError, match="金额“0.00”无效"):
        parse_statement(statement(row("T0001", "1", amount="0.00")))
    with pytest.raises(StatementError, match="金额“1.001”无效"):
        parse_statement(statement(row("T0001", "1", amount="1.001")))


def test_a_stored_bank_id_with_different_content_is_refused(db_session):
    import_statement(statement(row("T0001", "123456")), "a.csv")
    with pytest.raises(StatementError, match="第2行：流水号T0001已导入，但"):
        import_statement(statement(row("T0001", "123456", amount="1.00")), "b.csv")


# --- the CLI ---------------------------------------------------------------------------------------------------


def test_cli_import_end_to_end(app, db_session, tmp_path):
    order = transfer_order()
    path = tmp_path / "20250304.csv"
    path.write_bytes(statement(row("T0001", order.transfer_code), row("T0002", "货款", amount="50.00")))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["bank", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "共2行，新增2行，已导入过0行（跳过）；2行已排队匹配" in result.output
    run_matching()
    db_session.expire_all()
    assert order.status == OrderStatus.READY_TO_WRITE
    again = runner.invoke(args=["bank", "import", str(path)])
    assert again.exit_code == 0, again.output
    assert "新增0行，已导入过2行" in again.output
    assert len(lines()) == 2
    assert get_queue("default").count == 0


def test_cli_import_refuses_a_bad_file_and_imports_nothing(app, db_session, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(statement(row("T0001", "123456"), row("T0002", "123456", amount="abc")))
    result = app.test_cli_runner().invoke(args=["bank", "import", str(path)])
    assert result.exit_code == 1
    assert "未导入" in result.output and "第3行：金额“abc”无效" in result.output
    assert lines() == []
    assert get_queue("default").count == 0


def test_cli_unmatched_lists_the_manual_queue(app, db_session):
    runner = app.test_cli_runner()
    assert "没有待人工处理的流水" in runner.invoke(args=["bank", "unmatched"]).output
    paid, unpaid = transfer_order(), transfer_order()
    import_and_match(statement(row("T0001", paid.transfer_code), row("T0002", "货款", amount="50.00"),
                               row("T0003", unpaid.transfer_code, amount="1.00"), row("T0004", paid.transfer_code)))
    output = runner.invoke(args=["bank", "unmatched"]).output
    assert "T0001" not in output
    assert "流水号T0002" in output and "附言不是有效的打款码" in output and "50.00元" in output
    assert "流水号T0003" in output and "金额不符" in output and unpaid.order_no in output
    assert "流水号T0004" in output and "已匹配其他流水" in output and paid.order_no in output
    assert "4405************0123" in output and "44050101234567890123" not in output
    assert "共3条待人工处理" in output


def test_cli_match_new_queues_lines_still_new(app, db_session):
    order = transfer_order()
    import_statement(statement(row("T0001", order.transfer_code)), "s.csv")  # the job was never queued
    result = app.test_cli_runner().invoke(args=["bank", "match-new"])
    assert "1行已排队匹配" in result.output
    run_matching()
    assert [line.status for line in lines()] == ["matched"]


# --- the page --------------------------------------------------------------------------------------------------


def owner_order(name: str = "王五"):
    owner = dev_user(name)
    owner.identity_verified = True
    return pending_order(user=owner)


def test_the_page_gives_the_code_and_shows_the_rules_in_chinese(app, client, db_session):
    order = owner_order()
    csrf = sign_in(client, "王五")
    page = client.get(f"/h5/orders/{order.id}/transfer")
    assert page.status_code == 200
    assert "获取打款码" in page.text and 'id="transfer-code"' not in page.text
    assert client.post(f"/h5/orders/{order.id}/transfer", data={"csrf_token": csrf}).status_code == 302
    db_session.expire_all()
    code = order.transfer_code
    page = client.get(f"/h5/orders/{order.id}/transfer")
    assert re.search(rf'id="transfer-code"[^>]*>{code}<', page.text)
    for text in ("¥300.00", "附言只填写这6位数字", "必须从证书所属单位的对公账户转账", "不接受财政（金融）账户付款",
                 "到账后自动确认", app.config["TRANSFER_PAYEE_NAME"], app.config["TRANSFER_PAYEE_BANK"],
                 app.config["TRANSFER_PAYEE_ACCOUNT"], ORG, f'href="/h5/orders/{order.id}"'):
        assert text in page.text, text
    client.post(f"/h5/orders/{order.id}/transfer", data={"csrf_token": csrf})
    db_session.expire_all()
    assert order.transfer_code == code
    import_and_match(statement(row("T0001", code)))  # paid: the account and the rules are no longer shown
    paid = client.get(f"/h5/orders/{order.id}/transfer").text
    assert 'id="not-pending"' in paid and "已支付" in paid
    assert app.config["TRANSFER_PAYEE_ACCOUNT"] not in paid and "附言只填写这6位数字" not in paid


def test_the_page_needs_sign_in_and_a_csrf_token(client, db_session):
    order = owner_order()
    assert client.get(f"/h5/orders/{order.id}/transfer").status_code == 302
    sign_in(client, "王五")
    assert client.post(f"/h5/orders/{order.id}/transfer", data={}).status_code == 400
    db_session.expire_all()
    assert order.transfer_code is None


def test_another_user_cannot_see_the_page_or_choose_transfer(client, db_session):
    order = owner_order()
    csrf = sign_in(client, "李四")
    assert client.get(f"/h5/orders/{order.id}/transfer").status_code == 404
    assert client.post(f"/h5/orders/{order.id}/transfer", data={"csrf_token": csrf}).status_code == 404
    db_session.expire_all()
    assert order.transfer_code is None


def test_the_page_of_a_paid_order_says_no_transfer_is_needed(client, db_session):
    order = owner_order()
    csrf = sign_in(client, "王五")
    mark_paid(order.id, "wechat", "wechatpay")
    page = client.get(f"/h5/orders/{order.id}/transfer")
    assert "无需转账" in page.text and "获取打款码" not in page.text
    response = client.post(f"/h5/orders/{order.id}/transfer", data={"csrf_token": csrf}, follow_redirects=True)
    assert "受理单当前为“已支付/待制证”，无需转账" in response.text


def test_a_statement_is_matched_in_batches_and_a_batch_run_twice_changes_nothing(db_session):
    """One job decides a batch of lines together: each order paid once, a second transfer of the same code in the
    same batch goes to staff as a duplicate, and the job run again leaves every line as it was."""
    from wxbackend.payments.tasks import match_statement_lines

    first, second = transfer_order(), transfer_order(organisation="深圳某某贸易有限公司")
    result = import_and_match(statement(row("T0001", first.transfer_code), row("T0002", first.transfer_code),
                                        row("T0003", second.transfer_code, payer="深圳某某贸易有限公司"),
                                        row("T0004", "货款")))
    assert len(queued_work(get_queue("default"))) == 0  # one batch job, already run
    assert [(line.status, line.order_id) for line in lines()] == [
        ("matched", first.id), ("manual", first.id), ("matched", second.id), ("manual", None)]
    assert lines()[1].manual_reason.startswith("该打款码的受理单已匹配其他流水")
    assert first.status == second.status == OrderStatus.READY_TO_WRITE
    events = db_session.scalar(sa.select(sa.func.count()).select_from(OrderEvent))
    assert match_statement_lines([*result.new_line_ids, 999_999]) == {"matched": 2, "manual": 2, "missing": 1}
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(OrderEvent)) == events


def test_queue_matching_queues_a_job_per_batch_of_lines(db_session):
    ids = list(range(1, transfer.MATCH_BATCH * 2 + 2))
    assert queue_matching(ids) == len(ids)
    db.session.commit()
    batches = [args[0] for name, args in queued_work(get_queue("default"))]
    assert [len(batch) for batch in batches] == [transfer.MATCH_BATCH, transfer.MATCH_BATCH, 1]
    assert [line_id for batch in batches for line_id in batch] == ids
