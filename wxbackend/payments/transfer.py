"""Corporate transfer (对公打款, DESIGN §9): a 6-digit code per order, the payee account, bank statement import
and matching statement lines to orders.

- `choose_transfer` gives a waiting order a code unique among open transfer orders (status 待支付; the partial
  unique index `uq_orders_open_transfer_code` is the final guard). Codes run 100000–999999: a statement that
  passed through a spreadsheet would have lost a leading zero.
- `import_statement` parses a statement CSV (format in README, "Corporate transfer statements"), refuses the
  whole file when any line is bad, and adds the lines not seen before (the bank's 流水号 is unique).
- `match_line` (run by the job `jobs.bank.match_statement_line`) pays an order when the remark is exactly an
  open order's code, the amount is the order's amount and the payer is the certificate's organisation; any
  other line goes to the manual queue with a reason.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from wxbackend.audit.service import record_audit
from wxbackend.core.crypto import encrypt, mask_bank_account
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError
from wxbackend.core.jobs import enqueue_after_commit
from wxbackend.core.times import utcnow
from wxbackend.orders.models import STATUS_LABELS, Order, OrderStatus, PayChannel
from wxbackend.orders.service import lock_order, mark_paid, user_order
from wxbackend.payments.bank_models import BankStatementLine, LineStatus
from wxbackend.payments.transitions import LINE_STATES

log = logging.getLogger(__name__)

CODE_ATTEMPTS = 20
CODE_RE = re.compile(r"[0-9]{6}")
STATEMENT_HEADER = ("流水号", "交易日期", "金额", "付款人户名", "付款人账号", "附言")
AMOUNT_RE = re.compile(r"[0-9]{1,13}(\.[0-9]{1,2})?")
ACCOUNT_RE = re.compile(r"[0-9A-Za-z-]{4,40}")


# --- the code and the payee ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayeeAccount:
    name: str  # 户名
    bank: str  # 开户行
    account: str  # 账号


def payee_account() -> PayeeAccount:
    """Our receiving account, from config (TRANSFER_PAYEE_*)."""
    cfg = current_app.config
    return PayeeAccount(cfg["TRANSFER_PAYEE_NAME"], cfg["TRANSFER_PAYEE_BANK"], cfg["TRANSFER_PAYEE_ACCOUNT"])


def new_transfer_code() -> str:
    """Six random digits from the CSPRNG, never starting with 0."""
    return str(100_000 + secrets.randbelow(900_000))


def choose_transfer(user_id: int, order_id: int) -> Order:
    """Pay the user's own order by corporate transfer: pay_channel 'transfer' and a 6-digit code unique among open
    transfer orders; an order that already has its code keeps it. NotFound for anyone else's order, Conflict when
    the order is not waiting for payment, DomainError (503) when no free code was drawn (never in practice)."""
    order = lock_order(user_order(user_id, order_id).id)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise Conflict(f"受理单当前为“{order.status_label}”，无需转账", code="not_pending_payment")
    if order.transfer_code:
        order.pay_channel = PayChannel.TRANSFER
        db.session.flush()
        return order
    for _ in range(CODE_ATTEMPTS):
        code = new_transfer_code()
        try:
            with db.session.begin_nested():  # the partial unique index refuses a code another open order holds
                order.transfer_code = code
                order.pay_channel = PayChannel.TRANSFER
        except IntegrityError:
            continue  # the savepoint is gone and `order` expired: it reloads without the code
        record_audit(f"user:{user_id}", "order.transfer_chosen", target=f"order:{order.id}")
        return order
    log.error("no free transfer code after %d draws (order %s)", CODE_ATTEMPTS, order.id)
    raise DomainError("暂时无法生成打款码，请稍后再试", code="transfer_code_unavailable", status=503)


# --- statements ------------------------------------------------------------------------------------------------


class StatementError(DomainError):
    """The statement file cannot be imported; `problems` names each bad line ("第3行：…")."""

    code = "invalid_statement"

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class StatementRow:
    line_no: int
    bank_txn_id: str
    value_date: date
    amount_fen: int
    payer_name: str
    payer_account: str
    remark: str


@dataclass(frozen=True)
class ImportResult:
    total: int
    new_line_ids: list[int]
    skipped: int  # already imported (same 流水号)


def parse_statement(data: bytes) -> list[StatementRow]:
    """The rows of a statement CSV: UTF-8 (a BOM is allowed), the header `流水号,交易日期,金额,付款人户名,
    付款人账号,附言`, dates YYYY-MM-DD, amounts in yuan with at most 2 decimals. Blank lines are ignored.
    StatementError lists every bad line; nothing is returned then."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as bad:
        line_no = data[:bad.start].count(b"\n") + 1
        raise StatementError([f"第{line_no}行：不是UTF-8编码的文本（请把流水另存为UTF-8编码的CSV文件）"]) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[str] = []
    rows: list[StatementRow] = []
    seen: dict[str, int] = {}
    try:
        header = next(reader, None)
        if header is None:
            raise StatementError(["文件是空的（第1行应为表头）"])
        if tuple(cell.strip() for cell in header) != STATEMENT_HEADER:
            raise StatementError([f"第1行：表头应为“{','.join(STATEMENT_HEADER)}”"])
        for cells in reader:
            line_no = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            row, row_problems = _parse_row(line_no, cells)
            if row is not None and row.bank_txn_id in seen:
                row_problems.append(f"流水号与第{seen[row.bank_txn_id]}行重复")
            if row_problems:
                problems.append(f"第{line_no}行：" + "；".join(row_problems))
            else:
                seen[row.bank_txn_id] = line_no
                rows.append(row)
    except csv.Error as bad:
        problems.append(f"第{reader.line_num}行：CSV格式错误（{bad}）")
    if problems:
        raise StatementError(problems)
    return rows


def _parse_row(line_no: int, cells: list[str]) -> tuple[StatementRow | None, list[str]]:
    if len(cells) != len(STATEMENT_HEADER):
        return None, [f"应有{len(STATEMENT_HEADER)}列，实际{len(cells)}列"]
    txn_id, value_date, amount, payer_name, payer_account, remark = (cell.strip() for cell in cells)
    payer_account = "".join(payer_account.split())
    problems = []
    if not txn_id or len(txn_id) > 64:
        problems.append("流水号为空或超过64个字符")
    try:
        day = datetime.strptime(value_date, "%Y-%m-%d").date()
    except ValueError:
        day = None
        problems.append(f"交易日期“{value_date}”无效（格式为YYYY-MM-DD）")
    fen = int(Decimal(amount) * 100) if AMOUNT_RE.fullmatch(amount) else 0
    if fen <= 0:
        problems.append(f"金额“{amount}”无效（应为大于0的元金额，最多两位小数，如300.00）")
    if not payer_name or len(payer_name) > 200:
        problems.append("付款人户名为空或超过200个字")
    if not ACCOUNT_RE.fullmatch(payer_account):
        problems.append("付款人账号无效")
    if len(remark) > 200:
        problems.append("附言超过200个字")
    if problems:
        return None, problems
    return StatementRow(line_no, txn_id, day, fen, payer_name, payer_account, remark), []


def import_statement(data: bytes, source_file: str, actor: str = "staff") -> ImportResult:
    """Add the lines of a statement CSV (see `parse_statement`) not imported before, as 'new'. A line whose
    流水号 is already stored is skipped, so importing a statement again adds nothing; one stored with different
    content is an error. StatementError (nothing added) when any line is bad. The caller commits, then queues
    matching for `new_line_ids` (`queue_matching`)."""
    rows = parse_statement(data)
    stored: dict[str, BankStatementLine] = {}
    ids = [row.bank_txn_id for row in rows]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        stored.update((line.bank_txn_id, line) for line in db.session.scalars(
            sa.select(BankStatementLine).where(BankStatementLine.bank_txn_id.in_(chunk))))
    conflicts = [f"第{row.line_no}行：流水号{row.bank_txn_id}已导入，但日期、金额、户名或附言与已导入的不同"
                 for row in rows if row.bank_txn_id in stored and not _same(stored[row.bank_txn_id], row)]
    if conflicts:
        raise StatementError(conflicts)
    new_ids: list[int] = []
    for row in rows:
        if row.bank_txn_id in stored:
            continue
        line = BankStatementLine(
            bank_txn_id=row.bank_txn_id, value_date=row.value_date, amount_fen=row.amount_fen,
            payer_name=row.payer_name, payer_account_enc=encrypt(row.payer_account, "bank_account"),
            payer_account_masked=mask_bank_account(row.payer_account), remark=row.remark, status=LineStatus.NEW,
            source_file=source_file[:255], manual_reason="")
        try:
            with db.session.begin_nested():  # the same statement imported at this very moment elsewhere
                db.session.add(line)
        except IntegrityError:
            continue
        new_ids.append(line.id)
    skipped = len(rows) - len(new_ids)
    record_audit(actor, "bank.statement_imported", target=source_file[:128],
                 detail={"lines": len(rows), "new": len(new_ids), "skipped": skipped})
    db.session.flush()
    return ImportResult(len(rows), new_ids, skipped)


def _same(line: BankStatementLine, row: StatementRow) -> bool:
    return (line.value_date, line.amount_fen, line.payer_name, line.remark) == (
        row.value_date, row.amount_fen, row.payer_name, row.remark)


def queue_matching(line_ids: Iterable[int]) -> int:
    """Queue one matching job per line, once this unit of work (the import) commits: the jobs must see the lines."""
    count = 0
    for line_id in line_ids:
        enqueue_after_commit("payments.match_statement_line", line_id)
        count += 1
    return count


def new_line_ids() -> list[int]:
    """Lines still waiting for their matching job (e.g. the worker was down)."""
    return list(db.session.scalars(sa.select(BankStatementLine.id).where(BankStatementLine.status == LineStatus.NEW)
                                   .order_by(BankStatementLine.id)))


def unmatched_lines() -> list[BankStatementLine]:
    """The manual queue: lines staff must look at, oldest first."""
    return list(db.session.scalars(sa.select(BankStatementLine).where(BankStatementLine.status == LineStatus.MANUAL)
                                   .order_by(BankStatementLine.id)))


# --- matching --------------------------------------------------------------------------------------------------


def _normalised(text: str) -> str:
    """Full-width forms folded (（） → ()) and whitespace removed, as bank systems and users differ on both."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def match_line(line_id: int) -> str:
    """Decide one 'new' statement line: 'matched' when its remark (trimmed; full-width digits allowed) is exactly
    the code of an order waiting for payment, its amount is that order's amount and its payer name is the order's
    certificate organisation — the order is then paid (`mark_paid`, channel 'transfer'); otherwise 'manual' with a
    reason. A line already decided is left alone (its status returned), so running this twice is harmless;
    'missing' when there is no such line."""
    line = db.session.scalar(sa.select(BankStatementLine).where(BankStatementLine.id == line_id).with_for_update()
                             .execution_options(populate_existing=True))
    if line is None:
        return "missing"
    if line.status != LineStatus.NEW:
        return line.status
    code = unicodedata.normalize("NFKC", line.remark).strip()
    if not CODE_RE.fullmatch(code):
        return _manual(line, "附言不是有效的打款码（应只填写6位数字）")
    order_id = db.session.scalar(sa.select(Order.id).where(Order.transfer_code == code,
                                                           Order.status == OrderStatus.PENDING_PAYMENT))
    order = lock_order(order_id) if order_id is not None else None
    if order is None or order.status != OrderStatus.PENDING_PAYMENT or order.transfer_code != code:
        return _manual(line, *_why_no_open_order(code))
    if line.amount_fen != order.amount_fen:
        return _manual(line, f"金额不符（应付{order.amount_yuan}元，到账{line.amount_yuan}元）", order.id)
    if _normalised(line.payer_name) != _normalised(order.certificate.subject_o):
        return _manual(line, "付款人户名与证书机构名称不符", order.id)
    if not mark_paid(order.id, PayChannel.TRANSFER, "bank", f"对公转账到账（银行流水号{line.bank_txn_id}）"):
        return _manual(line, "受理单已不是待支付状态", order.id)
    LINE_STATES.move(line, LineStatus.MATCHED)
    line.order_id, line.decided_at = order.id, utcnow()
    record_audit("bank", "transfer.matched", target=f"order:{order.id}",
                 detail={"line_id": line.id, "bank_txn_id": line.bank_txn_id, "amount_fen": line.amount_fen})
    db.session.flush()
    return LineStatus.MATCHED


def _why_no_open_order(code: str) -> tuple[str, int | None]:
    """Why no order waiting for payment holds `code`, naming the order it most likely meant."""
    matched = db.session.execute(
        sa.select(BankStatementLine.order_id).join(Order, Order.id == BankStatementLine.order_id)
        .where(BankStatementLine.status == LineStatus.MATCHED, Order.transfer_code == code)
        .order_by(BankStatementLine.id.desc()).limit(1)).first()
    if matched is not None:
        return "该打款码的受理单已匹配其他流水（重复转账，请核实后退款）", matched.order_id
    order = db.session.scalar(sa.select(Order).where(Order.transfer_code == code).order_by(Order.id.desc()).limit(1))
    if order is None:
        return "附言中的打款码没有对应的受理单", None
    if order.paid_at is not None and order.pay_channel == PayChannel.WECHAT:
        return "该受理单已通过微信支付（重复付款，请核实后退款）", order.id
    return f"该受理单当前为“{STATUS_LABELS[OrderStatus(order.status)]}”，不是待支付状态", order.id


def _manual(line: BankStatementLine, reason: str, order_id: int | None = None) -> str:
    LINE_STATES.move(line, LineStatus.MANUAL)
    line.manual_reason, line.order_id, line.decided_at = reason, order_id, utcnow()
    record_audit("bank", "transfer.manual", target=f"bank_line:{line.id}", result="manual",
                 detail={"reason": reason, "bank_txn_id": line.bank_txn_id, "order_id": order_id})
    db.session.flush()
    log.info("statement line %s needs staff: %s", line.id, reason)
    return LineStatus.MANUAL
