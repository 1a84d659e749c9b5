"""Corporate transfer (对公打款, DESIGN §9): a 6-digit code per order, the payee account, bank statement import
and matching statement lines to orders.

- `choose_transfer` gives a waiting order a code unique among open transfer orders (status 待支付; the partial
  unique index `uq_orders_open_transfer_code` is the final guard). Codes run 100000–999999: a statement that
  passed through a spreadsheet would have lost a leading zero.
- `import_statement` parses a statement CSV in UTF-8 or GBK (format in README, "Corporate transfer statements"),
  refuses the whole file when any line is bad, and adds the lines not seen before (the bank's 流水号 is unique).
  The console shows a preview first (`preview_statement`, the file kept encrypted in Redis for 10 minutes), then
  imports exactly the previewed bytes (`import_staged_statement`); the CLI imports at once.
- `match_line` (run by the job `payments.match_statement_line`) pays an order when the remark is exactly an
  open order's code, the amount is the order's amount and the payer is the certificate's organisation; any
  other line goes to the manual queue with a reason.
- 批量续期: a group gets one code (`choose_group_transfer`, unique among open orders' and groups' codes); a line
  whose remark is a group's code, whose amount is the group's total and whose payer is the certificates'
  organisation pays every order of the group at once (`mark_group_paid`).
- The manual queue (`statement_lines`, keyset-paged): finance staff match a line to an order by hand
  (`match_line_by_hand`, through the same `mark_paid`) or set it aside as money to return to the payer or as not
  ours (`set_line_aside`); each line is resolved once.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import logging
import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from wxbackend.audit.service import record_audit
from wxbackend.certificates.models import Certificate
from wxbackend.core.crypto import decrypt, encrypt, mask_bank_account
from wxbackend.core.db import db, one_of
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.jobs import enqueue_after_commit
from wxbackend.core.money import format_fen
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.core.uow import after_commit
from wxbackend.core.validation import InvalidFields, clean
from wxbackend.orders.models import STATUS_LABELS, GroupStatus, Order, OrderGroup, OrderStatus, PayChannel
from wxbackend.orders.service import lock_group, lock_order, mark_group_paid, mark_paid, user_group, user_order
from wxbackend.payments.bank_models import BankStatementLine, LineStatus
from wxbackend.payments.transitions import LINE_STATES

log = logging.getLogger(__name__)

CODE_ATTEMPTS = 20
CODE_RE = re.compile(r"[0-9]{6}")
STATEMENT_HEADER = ("流水号", "交易日期", "金额", "付款人户名", "付款人账号", "附言")
AMOUNT_RE = re.compile(r"[0-9]{1,13}(\.[0-9]{1,2})?")
ACCOUNT_RE = re.compile(r"[0-9A-Za-z-]{4,40}")
STATEMENT_MAX_BYTES = 2 * 1024 * 1024  # about 20,000 lines: a longer statement is imported in parts
UTF8_BOM = b"\xef\xbb\xbf"


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


def transfer_rules(order: Order) -> list[str]:
    """The rules of paying `order` by corporate transfer, as the H5 page and the API show them."""
    return [
        "附言只填写这6位数字，不要填写其他文字。",
        f"必须从证书所属单位的对公账户转账，付款人户名须为“{order.certificate.subject_o}”；不接受个人账户付款。",
        "不接受财政（金融）账户付款。",
        f"转账金额须与应付金额一致（{order.amount_yuan}元），请勿分笔或合并转账。",
        "到账后自动确认，确认后将通过微信通知您；不符合以上要求的款项需人工核对，确认时间会延长。",
    ]


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
    if order.group_id is not None:
        raise Conflict("该受理单属于批量续期，请在批量续期页面统一对公打款", code="in_group")
    return _with_code(order, _held_by_open_group, user_id, "order")


def _with_code(payer: Order | OrderGroup, held_by_the_other_kind, user_id: int, kind: str):
    """`payer` (an order or a group, locked, waiting for payment) paid by corporate transfer: its code kept, or a
    new one drawn that no open order or group holds — the partial unique index of `payer`'s own table refuses a
    taken one, `held_by_the_other_kind(code)` checks the other table. DomainError (503) when no free code was drawn
    (never in practice)."""
    if payer.transfer_code:
        payer.pay_channel = PayChannel.TRANSFER
        db.session.flush()
        return payer
    for _ in range(CODE_ATTEMPTS):
        code = new_transfer_code()
        if held_by_the_other_kind(code):
            continue
        try:
            with db.session.begin_nested():
                payer.transfer_code = code
                payer.pay_channel = PayChannel.TRANSFER
        except IntegrityError:
            continue  # the savepoint is gone and `payer` expired: it reloads without the code
        record_audit(f"user:{user_id}", f"{kind}.transfer_chosen", target=f"{kind}:{payer.id}")
        return payer
    log.error("no free transfer code after %d draws (%s %s)", CODE_ATTEMPTS, kind, payer.id)
    raise DomainError("暂时无法生成打款码，请稍后再试", code="transfer_code_unavailable", status=503)


def _held_by_open_group(code: str) -> bool:
    return db.session.scalar(sa.select(sa.func.count(OrderGroup.id)).where(
        OrderGroup.transfer_code == code, OrderGroup.status == GroupStatus.PENDING_PAYMENT)) > 0


def _held_by_open_order(code: str) -> bool:
    return db.session.scalar(sa.select(sa.func.count(Order.id)).where(
        Order.transfer_code == code, Order.status == OrderStatus.PENDING_PAYMENT)) > 0


def choose_group_transfer(user_id: int, group_id: int) -> OrderGroup:
    """Pay the user's own 批量续期 group by one corporate transfer: one 6-digit code for the whole group, unique
    among open orders' and groups' codes (a group that has its code keeps it); the transfer is of the group's
    total. NotFound for anyone else's group, Conflict when it is not waiting for payment, DomainError (503) when no
    free code was drawn."""
    group = lock_group(user_group(user_id, group_id).id)
    if group.status != GroupStatus.PENDING_PAYMENT:
        raise Conflict(f"批量续期当前为“{group.status_label}”，无需转账", code="not_pending_payment")
    return _with_code(group, _held_by_open_order, user_id, "group")


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


def _line_of(data: bytes, position: int) -> int:
    """The line number of byte `position` (a newline byte is never part of a UTF-8 or GB18030 character)."""
    return data[:position].count(b"\n") + 1


def decode_statement(data: bytes) -> str:
    """The text of a statement file: UTF-8 (with or without a BOM) or GBK, as Chinese banks export it (read as
    GB18030, the standard that contains GBK). A file with a UTF-8 BOM must be UTF-8 throughout, and a file that
    starts in UTF-8 must stay in it. StatementError naming the first line in neither encoding."""
    if data.startswith(UTF8_BOM):
        body = data[len(UTF8_BOM):]
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise StatementError([f"第{_line_of(body, bad.start)}行：不是UTF-8编码的文本（文件开头标明为UTF-8，"
                                  "请整个文件使用同一种编码）"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as not_utf8:
        utf8_stop = not_utf8.start
    if not data[:utf8_stop].isascii():  # Chinese text in UTF-8 up to here: two encodings in one file
        raise StatementError([f"第{_line_of(data, utf8_stop)}行：不是UTF-8编码的文本，与前面各行的编码不同"
                              "（请整个文件使用同一种编码：UTF-8或GBK）"])
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as bad:
        line_no = _line_of(data, max(bad.start, utf8_stop))
        raise StatementError([f"第{line_no}行：不是UTF-8或GBK编码的文本（请把流水另存为UTF-8或GBK编码的CSV文件）"]) \
            from None


def read_statement(data: bytes) -> tuple[list[StatementRow], list[str]]:
    """The good rows of a statement file and every problem found, each naming its line ("第3行：…"): the file's
    size (at most 2 MB), its encoding (`decode_statement`), the header `流水号,交易日期,金额,付款人户名,付款人账号,
    附言`, dates YYYY-MM-DD, amounts in yuan with at most 2 decimals, a 流水号 at most once. Blank lines are
    ignored. Nothing is refused here; `parse_statement` refuses."""
    if len(data) > STATEMENT_MAX_BYTES:
        return [], [f"文件大小为{len(data) / 1024 / 1024:.1f}MB，超过{STATEMENT_MAX_BYTES // 1024 // 1024}MB的上限"
                    "（请按日期拆分为几个文件分别导入）"]
    try:
        text = decode_statement(data)
    except StatementError as refused:
        return [], refused.problems
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[str] = []
    rows: list[StatementRow] = []
    seen: dict[str, int] = {}
    try:
        header = next(reader, None)
        if header is None:
            return [], ["文件是空的（第1行应为表头）"]
        if tuple(cell.strip() for cell in header) != STATEMENT_HEADER:
            return [], [f"第1行：表头应为“{','.join(STATEMENT_HEADER)}”"]
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
    return rows, problems


def parse_statement(data: bytes) -> list[StatementRow]:
    """The rows of a statement file (`read_statement`); StatementError lists every bad line, and nothing is
    returned then."""
    rows, problems = read_statement(data)
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
    fen = yuan_to_fen(amount) or 0
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


def yuan_to_fen(amount: str) -> int | None:
    """`300`, `300.5`, `300.00` → fen; None for anything else (no sign, no separators, at most 2 decimals)."""
    return int(Decimal(amount) * 100) if AMOUNT_RE.fullmatch(amount) else None


def _stored_lines(rows: list[StatementRow]) -> dict[str, BankStatementLine]:
    stored: dict[str, BankStatementLine] = {}
    ids = [row.bank_txn_id for row in rows]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        stored.update((line.bank_txn_id, line) for line in db.session.scalars(
            sa.select(BankStatementLine).where(BankStatementLine.bank_txn_id.in_(chunk))))
    return stored


def _conflict(row: StatementRow) -> str:
    return f"第{row.line_no}行：流水号{row.bank_txn_id}已导入，但日期、金额、户名或附言与已导入的不同"


def import_statement(data: bytes, source_file: str, actor: str = "staff", ip: str = "") -> ImportResult:
    """Add the lines of a statement file (UTF-8 or GBK; see `read_statement`) not imported before, as 'new'. A
    line whose 流水号 is already stored is skipped, so importing a statement again adds nothing; one stored with
    different content is an error. StatementError (nothing added) when any line is bad. The caller commits, then
    queues matching for `new_line_ids` (`queue_matching`)."""
    rows = parse_statement(data)
    stored = _stored_lines(rows)
    conflicts = [_conflict(row) for row in rows if row.bank_txn_id in stored and not _same(stored[row.bank_txn_id],
                                                                                            row)]
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
    record_audit(actor, "bank.statement_imported", target=source_file[:128], ip=ip,
                 detail={"sha256": hashlib.sha256(data).hexdigest(), "lines": len(rows), "new": len(new_ids),
                         "skipped": skipped})
    db.session.flush()
    return ImportResult(len(rows), new_ids, skipped)


# --- the console's upload: preview first, then import exactly what was previewed ------------------------------

PREVIEW_SECONDS = 600
PREVIEW_PURPOSE = "bank_statement_preview"


@dataclass(frozen=True)
class PreviewLine:
    row: StatementRow
    seen: str  # "new" | "imported" (the same line was imported before) | "conflict" (same 流水号, other content)

    @property
    def payer_account_masked(self) -> str:
        return mask_bank_account(self.row.payer_account)

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.row.amount_fen)


@dataclass(frozen=True)
class StatementPreview:
    """What importing a file would do. `token` names the file kept for 确认导入 (empty when it cannot be
    imported: problems, or nothing new)."""

    source_file: str
    size: int
    sha256: str
    lines: list[PreviewLine]
    problems: list[str]
    token: str = ""

    @property
    def new_count(self) -> int:
        return sum(1 for line in self.lines if line.seen == "new")

    @property
    def imported_count(self) -> int:
        return sum(1 for line in self.lines if line.seen == "imported")


def clean_file_name(name: str | None) -> str:
    """The uploaded file's own name as shown and recorded: no directories, no control characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:128] or "statement.csv"


def _preview_key(token: str) -> str:
    return "bank:statement-preview:" + hashlib.sha256(token.encode()).hexdigest()


def preview_statement(staff_id: int, data: bytes, source_file: str, ip: str = "") -> StatementPreview:
    """What importing `data` would do, changing nothing: every parsed line marked new, imported before or in
    conflict, and every problem by line (`read_statement`, plus 流水号 imported before with other content). When
    the file could be imported and adds something, it is kept for this staff member for 10 minutes (encrypted:
    it holds full account numbers) under the returned preview's `token`. Audited."""
    source_file = clean_file_name(source_file)
    digest = hashlib.sha256(data).hexdigest()
    rows, problems = read_statement(data)
    stored = _stored_lines(rows)
    lines = []
    for row in rows:
        line = stored.get(row.bank_txn_id)
        if line is None:
            lines.append(PreviewLine(row, "new"))
        elif _same(line, row):
            lines.append(PreviewLine(row, "imported"))
        else:
            lines.append(PreviewLine(row, "conflict"))
            problems.append(_conflict(row))
    preview = StatementPreview(source_file, len(data), digest, lines, problems)
    if not problems and preview.new_count:
        token = secrets.token_urlsafe(24)
        key = _preview_key(token)
        sealed = encrypt(base64.b64encode(data).decode(), PREVIEW_PURPOSE)
        pipe = get_redis().pipeline()
        pipe.hset(key, mapping={"staff_id": str(staff_id), "source_file": source_file, "sha256": digest,
                                "data": sealed})
        pipe.expire(key, PREVIEW_SECONDS)
        pipe.execute()
        preview = StatementPreview(source_file, len(data), digest, lines, problems, token)
    record_audit(f"staff:{staff_id}", "bank.statement_previewed", target=source_file, ip=ip,
                 result="ok" if not problems else "invalid",
                 detail={"sha256": digest, "size": len(data), "lines": len(rows), "new": preview.new_count,
                         "imported": preview.imported_count, "problems": len(problems)})
    db.session.flush()
    return preview


class PreviewExpired(DomainError):
    code, message, status = "preview_expired", "预览已失效（超过10分钟或已导入），请重新上传流水文件", 409


def import_staged_statement(staff_id: int, token: str, sha256: str, ip: str = "") -> ImportResult:
    """确认导入: import the file this staff member previewed (`preview_statement`), exactly those bytes
    (`sha256` is the one the preview showed), and queue matching for its new lines once this unit of work
    commits; the kept file is deleted then. PreviewExpired (unknown, expired, already imported or someone else's
    preview), DomainError `preview_mismatch`, StatementError (the file no longer fits what is stored)."""
    key = _preview_key(token or "")
    kept = get_redis().hgetall(key) if token else {}
    if not kept or kept.get(b"staff_id", b"").decode() != str(staff_id):
        raise PreviewExpired()
    if not secrets.compare_digest(kept[b"sha256"].decode(), sha256 or ""):
        raise DomainError("文件与预览不一致，请重新上传流水文件", code="preview_mismatch", status=409)
    data = base64.b64decode(decrypt(kept[b"data"], PREVIEW_PURPOSE))
    if hashlib.sha256(data).hexdigest() != kept[b"sha256"].decode():
        raise DomainError("文件与预览不一致，请重新上传流水文件", code="preview_mismatch", status=409)
    result = import_statement(data, kept[b"source_file"].decode(), actor=f"staff:{staff_id}", ip=ip)
    queue_matching(result.new_line_ids)
    after_commit(lambda: get_redis().delete(key))
    return result


def _same(line: BankStatementLine, row: StatementRow) -> bool:
    return (line.value_date, line.amount_fen, line.payer_name, line.remark) == (
        row.value_date, row.amount_fen, row.payer_name, row.remark)


def queue_matching(line_ids: Iterable[int]) -> int:
    """Queue the matching of the lines, MATCH_BATCH lines a job, once this unit of work (the import) commits: the
    jobs must see the lines. Returns how many lines were queued."""
    ids = list(line_ids)
    for start in range(0, len(ids), MATCH_BATCH):
        enqueue_after_commit("payments.match_statement_lines", ids[start:start + MATCH_BATCH])
    return len(ids)


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


MATCH_BATCH = 500  # lines a matching job decides together (one statement of 20,000 lines: 40 jobs)
NOT_A_CODE = "附言不是有效的打款码（应只填写6位数字）"


@dataclass(frozen=True)
class LineDecision:
    """What a statement line does: pay `order_id` (no `reason`), or go to staff for `reason`, naming the order it
    concerns when there is one."""

    line_id: int
    code: str | None  # the remark as a transfer code, when it is one
    order_id: int | None = None
    reason: str = ""
    group_id: int | None = None  # the code is a 批量续期 group's: decided under the group's lock (`_match_group_line`)

    @property
    def pays(self) -> bool:
        return self.order_id is not None and not self.reason


def transfer_code_of(remark: str) -> str | None:
    """The remark (trimmed; full-width digits allowed) as a 6-digit transfer code, or None."""
    code = unicodedata.normalize("NFKC", remark).strip()
    return code if CODE_RE.fullmatch(code) else None


def decide_lines(line_ids: Sequence[int]) -> list[LineDecision]:
    """The decision for each of the lines that exist (in the order given), read in a fixed number of queries
    whatever their number: a line pays the order waiting for payment whose code its remark is, when its amount is
    that order's amount and its payer name is the order's certificate organisation; any other line goes to staff
    with the reason. Reads only: `match_lines` / `match_line` apply the decisions under the orders' locks."""
    lines = {row.id: row for row in db.session.execute(
        sa.select(BankStatementLine.id, BankStatementLine.remark, BankStatementLine.amount_fen,
                  BankStatementLine.payer_name).where(one_of(BankStatementLine.id, line_ids, sa.Integer())))}
    codes = {line_id: transfer_code_of(row.remark) for line_id, row in lines.items()}
    wanted = {code for code in codes.values() if code is not None}
    waiting = {row.transfer_code: row for row in db.session.execute(
        sa.select(Order.id, Order.transfer_code, Order.amount_fen, Certificate.subject_o)
        .join(Certificate, Certificate.id == Order.certificate_id)
        .where(one_of(Order.transfer_code, wanted, sa.String()), Order.status == OrderStatus.PENDING_PAYMENT))
    } if wanted else {}
    groups = {code: group_id for group_id, code in db.session.execute(
        sa.select(OrderGroup.id, OrderGroup.transfer_code)
        .where(one_of(OrderGroup.transfer_code, wanted - waiting.keys(), sa.String()),
               OrderGroup.status == GroupStatus.PENDING_PAYMENT))} if wanted - waiting.keys() else {}
    why = _why_no_open_orders(wanted - waiting.keys() - groups.keys())
    decisions = []
    for line_id in line_ids:
        line = lines.get(line_id)
        if line is None:
            continue
        code = codes[line_id]
        order = waiting.get(code) if code is not None else None
        if code is None:
            decisions.append(LineDecision(line_id, None, None, NOT_A_CODE))
        elif order is None and code in groups:
            decisions.append(LineDecision(line_id, code, group_id=groups[code]))
        elif order is None:
            reason, order_id = why[code]
            decisions.append(LineDecision(line_id, code, order_id, reason))
        elif line.amount_fen != order.amount_fen:
            decisions.append(LineDecision(line_id, code, order.id, f"金额不符（应付{format_fen(order.amount_fen)}元，"
                                                                   f"到账{format_fen(line.amount_fen)}元）"))
        elif _normalised(line.payer_name) != _normalised(order.subject_o):
            decisions.append(LineDecision(line_id, code, order.id, "付款人户名与证书机构名称不符"))
        else:
            decisions.append(LineDecision(line_id, code, order.id))
    return decisions


def match_lines(line_ids: Sequence[int]) -> dict[str, int]:
    """Decide the 'new' lines among `line_ids` (`decide_lines`) and apply each decision: the order paid (`mark_paid`,
    channel 'transfer') and the line matched, or the line in the manual queue with its reason. The lines are
    locked first; one already decided is left alone, so running this twice is harmless. Returns how many lines
    ended in each status ('missing' for ids of no line)."""
    ids = sorted(set(line_ids))
    locked = {line.id: line for line in db.session.scalars(
        sa.select(BankStatementLine).where(one_of(BankStatementLine.id, ids, sa.Integer()))
        .order_by(BankStatementLine.id)
        .with_for_update().execution_options(populate_existing=True))}
    counts: dict[str, int] = {}
    fresh = [line_id for line_id in ids if line_id in locked and locked[line_id].status == LineStatus.NEW]
    for line_id in ids:
        if line_id not in locked:
            counts["missing"] = counts.get("missing", 0) + 1
        elif locked[line_id].status != LineStatus.NEW:
            counts[locked[line_id].status] = counts.get(locked[line_id].status, 0) + 1
    for decision in decide_lines(fresh):
        outcome = _apply(locked[decision.line_id], decision)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def match_line(line_id: int) -> str:
    """`match_lines` for one line: its status once decided ('matched' or 'manual', or the status it already had);
    'missing' when there is no such line."""
    line = db.session.scalar(sa.select(BankStatementLine).where(BankStatementLine.id == line_id).with_for_update()
                             .execution_options(populate_existing=True))
    if line is None:
        return "missing"
    if line.status != LineStatus.NEW:
        return line.status
    return _apply(line, decide_lines([line.id])[0])


def _apply(line: BankStatementLine, decision: LineDecision) -> str:
    """Carry out a decision on its locked 'new' line. The order is locked and checked again: paid or changed since
    the decision was read, the line goes to staff saying what happened to it."""
    if decision.group_id is not None:
        return _match_group_line(line, decision.group_id, decision.code)
    if not decision.pays:
        return _manual(line, decision.reason, decision.order_id)
    order = lock_order(decision.order_id)
    if order.status != OrderStatus.PENDING_PAYMENT or order.transfer_code != decision.code:
        return _manual(line, *_why_no_open_order(decision.code))
    if not mark_paid(order.id, PayChannel.TRANSFER, "bank", f"对公转账到账（银行流水号{line.bank_txn_id}）"):
        return _manual(line, "受理单已不是待支付状态", order.id)
    LINE_STATES.move(line, LineStatus.MATCHED)
    line.order_id, line.decided_at = order.id, utcnow()
    record_audit("bank", "transfer.matched", target=f"order:{order.id}",
                 detail={"line_id": line.id, "bank_txn_id": line.bank_txn_id, "amount_fen": line.amount_fen})
    db.session.flush()
    return LineStatus.MATCHED


def _match_group_line(line: BankStatementLine, group_id: int, code: str) -> str:
    """`match_line` for a line naming a 批量续期 group's code: amount = the group's total, payer = the
    organisation of its certificates; then every order of the group is paid at once. A line that does not fit
    waits in the manual queue naming the group (`group_id`)."""
    group = lock_group(group_id)
    reason = ""
    if group.status != GroupStatus.PENDING_PAYMENT or group.transfer_code != code:
        reason = f"该批量续期当前为“{group.status_label}”，不是待支付状态"
    elif line.amount_fen != group.amount_fen:
        reason = f"金额不符（批量续期应付{group.amount_yuan}元，到账{line.amount_yuan}元）"
    elif not group.organisation or _normalised(line.payer_name) != _normalised(group.organisation):
        reason = "付款人户名与证书机构名称不符"
    elif not mark_group_paid(group.id, PayChannel.TRANSFER, "bank",
                             f"对公转账到账（批量续期，银行流水号{line.bank_txn_id}）"):
        reason = "批量续期已不是待支付状态"
    if reason:
        outcome = _manual(line, reason)
        line.group_id = group.id
        db.session.flush()
        return outcome
    LINE_STATES.move(line, LineStatus.MATCHED)
    line.group_id, line.decided_at = group.id, utcnow()
    record_audit("bank", "transfer.matched", target=f"group:{group.id}",
                 detail={"line_id": line.id, "bank_txn_id": line.bank_txn_id, "amount_fen": line.amount_fen,
                         "orders": [order.id for order in group.orders]})
    db.session.flush()
    return LineStatus.MATCHED


def _why_no_open_order(code: str) -> tuple[str, int | None]:
    return _why_no_open_orders({code})[code]


def _why_no_open_orders(codes: set[str]) -> dict[str, tuple[str, int | None]]:
    """Why no order waiting for payment holds each of `codes`, naming the order it most likely meant: two queries
    for all of them (the orders' `transfer_code` index)."""
    if not codes:
        return {}
    matched: dict[str, tuple[int, int]] = {}  # code → (newest matched line, its order)
    for line_id, order_id, code in db.session.execute(
            sa.select(BankStatementLine.id, BankStatementLine.order_id, Order.transfer_code)
            .join(Order, Order.id == BankStatementLine.order_id)
            .where(BankStatementLine.status == LineStatus.MATCHED, one_of(Order.transfer_code, codes, sa.String()))):
        if code not in matched or line_id > matched[code][0]:
            matched[code] = (line_id, order_id)
    latest: dict[str, sa.Row] = {}  # code → the newest order that had it
    for order in db.session.execute(
            sa.select(Order.id, Order.transfer_code, Order.status, Order.paid_at, Order.pay_channel)
            .where(one_of(Order.transfer_code, codes, sa.String()))):
        if order.transfer_code not in latest or order.id > latest[order.transfer_code].id:
            latest[order.transfer_code] = order
    why = {}
    for code in codes:
        order = latest.get(code)
        if code in matched:
            why[code] = ("该打款码的受理单已匹配其他流水（重复转账，请核实后退款）", matched[code][1])
        elif order is None:
            why[code] = ("附言中的打款码没有对应的受理单", None)
        elif order.paid_at is not None and order.pay_channel == PayChannel.WECHAT:
            why[code] = ("该受理单已通过微信支付（重复付款，请核实后退款）", order.id)
        else:
            why[code] = (f"该受理单当前为“{STATUS_LABELS[OrderStatus(order.status)]}”，不是待支付状态", order.id)
    return why


def _manual(line: BankStatementLine, reason: str, order_id: int | None = None) -> str:
    LINE_STATES.move(line, LineStatus.MANUAL)
    line.manual_reason, line.order_id, line.decided_at = reason, order_id, utcnow()
    record_audit("bank", "transfer.manual", target=f"bank_line:{line.id}", result="manual",
                 detail={"reason": reason, "bank_txn_id": line.bank_txn_id, "order_id": order_id})
    db.session.flush()
    log.info("statement line %s needs staff: %s", line.id, reason)
    return LineStatus.MANUAL


# --- the manual queue: finance staff resolve each line once ---------------------------------------------------

PAGE_SIZE = 50
LIST_STATUSES = (LineStatus.MANUAL, LineStatus.RETURNED, LineStatus.DISMISSED, LineStatus.MATCHED)
LINE_SORTS = {  # name: (label, sort column or None for the id alone, descending)
    "oldest": ("最早导入在前", None, False),
    "newest": ("最近导入在前", None, True),
    "date_desc": ("交易日期从新到旧", BankStatementLine.value_date, True),
    "date_asc": ("交易日期从旧到新", BankStatementLine.value_date, False),
    "amount_desc": ("金额从大到小", BankStatementLine.amount_fen, True),
    "amount_asc": ("金额从小到大", BankStatementLine.amount_fen, False),
}
ASIDE_OUTCOMES = {LineStatus.RETURNED: "退回付款人", LineStatus.DISMISSED: "非本系统款项"}


@dataclass(frozen=True)
class LineFilters:
    """The manual queue's filters (`line_filters` reads them from a query string)."""

    status: str = LineStatus.MANUAL
    date_from: date | None = None
    date_to: date | None = None
    amount_fen: int | None = None
    text: str = ""  # in the payer's name or the remark
    sort: str = "oldest"
    errors: dict[str, str] = field(default_factory=dict)  # what could not be read (that filter is left out)

    def query_args(self) -> dict[str, str]:
        """The filters as query-string arguments, for the next page's link."""
        args = {"status": self.status, "sort": self.sort, "date_from": self.date_from.isoformat() if self.date_from
                else "", "date_to": self.date_to.isoformat() if self.date_to else "",
                "amount": format_fen(self.amount_fen) if self.amount_fen is not None else "", "q": self.text}
        return {name: value for name, value in args.items() if value}


@dataclass(frozen=True)
class LinePage:
    lines: list[BankStatementLine]
    after: tuple[str, int] | None  # (sort key, id) of the last line shown, when another page follows


def _day(value: str) -> date:
    return datetime.strptime(value, "%Y-%m-%d").date()


def line_filters(args: Mapping[str, str]) -> LineFilters:
    """The filters in a query string (status, date_from, date_to, amount in yuan, q, sort); a value that cannot
    be read is named in `errors` (in Chinese) and left out."""
    errors: dict[str, str] = {}
    status = args.get("status") or LineStatus.MANUAL
    if status not in LIST_STATUSES:
        status = LineStatus.MANUAL
    sort = args.get("sort") if args.get("sort") in LINE_SORTS else "oldest"
    days: dict[str, date | None] = {}
    for name, label in (("date_from", "起始日期"), ("date_to", "截止日期")):
        value = (args.get(name) or "").strip()
        try:
            days[name] = _day(value) if value else None
        except ValueError:
            days[name] = None
            errors[name] = f"{label}“{value[:20]}”无效（格式为YYYY-MM-DD）"
    amount_text = (args.get("amount") or "").strip()
    amount = yuan_to_fen(amount_text) if amount_text else None
    if amount_text and not amount:
        errors["amount"] = f"金额“{amount_text[:20]}”无效（元，最多两位小数，如300.00）"
        amount = None
    return LineFilters(status, days["date_from"], days["date_to"], amount, clean(args.get("q"))[:50], sort, errors)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def statement_lines(filters: LineFilters, after: tuple[str, int] | None = None,
                    limit: int = PAGE_SIZE) -> LinePage:
    """One page of statement lines in `filters.status` (the manual queue by default), filtered and sorted as
    asked, keyset-paged: `after` is the previous page's last (sort key, id); a key that cannot be read starts
    from the first page. Reads only."""
    line = BankStatementLine
    _, column, descending = LINE_SORTS[filters.sort]
    query = sa.select(line).where(line.status == filters.status)
    if filters.date_from is not None:
        query = query.where(line.value_date >= filters.date_from)
    if filters.date_to is not None:
        query = query.where(line.value_date <= filters.date_to)
    if filters.amount_fen is not None:
        query = query.where(line.amount_fen == filters.amount_fen)
    if filters.text:
        pattern = _like(filters.text)
        query = query.where(sa.or_(line.payer_name.ilike(pattern, escape="\\"),
                                   line.remark.ilike(pattern, escape="\\")))
    cursor = _cursor(column, after)
    if cursor is not None:
        last_key, last_id = cursor
        if column is None:
            query = query.where(line.id < last_id if descending else line.id > last_id)
        else:
            keys, last = sa.tuple_(column, line.id), sa.tuple_(sa.literal(last_key), sa.literal(last_id))
            query = query.where(keys < last if descending else keys > last)
    order = [] if column is None else [column.desc() if descending else column.asc()]
    order.append(line.id.desc() if descending else line.id.asc())
    found = list(db.session.scalars(query.order_by(*order).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    if not more or not found:
        return LinePage(found, None)
    last = found[-1]
    key = "" if column is None else (last.value_date.isoformat() if column is line.value_date else
                                     str(last.amount_fen))
    return LinePage(found, (key, last.id))


def _cursor(column, after: tuple[str, int] | None) -> tuple[object, int] | None:
    if after is None:
        return None
    key, last_id = after
    if len(str(key)) > 18 or not str(last_id).isdigit() or int(last_id) >= 2**31:
        return None  # past the amount's bigint or the id's integer column: no such line
    try:
        if column is None:
            return None, int(last_id)
        if column is BankStatementLine.value_date:
            return _day(key), int(last_id)
        return int(key), int(last_id)
    except (TypeError, ValueError):
        return None


def manual_line_count() -> int:
    """How many lines wait in the manual queue (the console home's tile)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(BankStatementLine)
                             .where(BankStatementLine.status == LineStatus.MANUAL))


def statement_line(line_id: int) -> BankStatementLine:
    """One statement line; NotFound."""
    line = db.session.get(BankStatementLine, line_id)
    if line is None:
        raise NotFound("没有找到该银行流水")
    return line


@dataclass(frozen=True)
class MatchCandidate:
    """The order staff typed for a line, and why matching them would be refused (empty: it may be matched)."""

    order_no: str
    order: Order | None
    problems: list[str]
    same_payer: bool  # the payer's name is the certificate's organisation (a match by hand may differ)
    group: OrderGroup | None = None  # a 批量续期 number (PL…) was typed: the group is matched as a whole


def normalised_order_no(order_no: str | None) -> str:
    return "".join((order_no or "").split()).upper()[:32]


def _order_by_no(order_no: str) -> Order:
    order = db.session.scalar(sa.select(Order).where(Order.order_no == order_no)) if order_no else None
    if order is None:
        raise DomainError(f"没有找到受理单号为“{order_no}”的受理单" if order_no else "请填写受理单号",
                          code="order_not_found")
    return order


def _group_by_no(group_no: str) -> OrderGroup | None:
    if not group_no.startswith("PL"):
        return None
    group = db.session.scalar(sa.select(OrderGroup).where(OrderGroup.group_no == group_no))
    if group is None:
        raise DomainError(f"没有找到批量续期号为“{group_no}”的批量续期", code="order_not_found")
    return group


def _group_match_problems(line: BankStatementLine, group: OrderGroup) -> list[str]:
    problems = []
    if line.status != LineStatus.MANUAL:
        problems.append(f"该流水已处理（当前为“{line.status_label}”），不能再次处理")
    if group.status != GroupStatus.PENDING_PAYMENT:
        problems.append(f"批量续期当前为“{group.status_label}”，不是待支付状态")
    if line.amount_fen != group.amount_fen:
        problems.append(f"金额不符（批量续期应付{group.amount_yuan}元，到账{line.amount_yuan}元）")
    return problems


def _match_group_by_hand(staff_id: int, line: BankStatementLine, group: OrderGroup, note: str,
                         ip: str) -> BankStatementLine:
    group = lock_group(group.id)
    problems = _group_match_problems(line, group)
    if problems:
        raise Conflict("不能匹配：" + "；".join(problems), code="match_refused")
    actor = f"staff:{staff_id}"
    if not mark_group_paid(group.id, PayChannel.TRANSFER, actor,
                           f"对公转账到账（批量续期，银行流水号{line.bank_txn_id}，财务人工核对）"):
        raise Conflict("批量续期已不是待支付状态", code="match_refused")  # never: checked under the group's lock
    before = {"status": line.status, "order_id": line.order_id}
    LINE_STATES.move(line, LineStatus.MATCHED)
    now = utcnow()
    line.order_id, line.group_id = None, group.id
    line.decided_at, line.resolved_by, line.resolved_at, line.resolution_note = now, staff_id, now, note
    record_audit(actor, "bank.line_matched", target=f"bank_line:{line.id}", ip=ip,
                 detail={"before": before, "after": {"status": line.status, "group_id": group.id},
                         "group_no": group.group_no, "bank_txn_id": line.bank_txn_id, "amount_fen": line.amount_fen,
                         "same_payer": _normalised(line.payer_name) == _normalised(group.organisation),
                         "note": note})
    db.session.flush()
    log.info("statement line %s matched by staff %s to group %s", line.id, staff_id, group.id)
    return line


def _match_problems(line: BankStatementLine, order: Order) -> list[str]:
    problems = []
    if line.status != LineStatus.MANUAL:
        problems.append(f"该流水已处理（当前为“{line.status_label}”），不能再次处理")
    if order.status != OrderStatus.PENDING_PAYMENT:
        problems.append(f"受理单当前为“{order.status_label}”，不是待支付状态")
    if order.group_id is not None and order.status == OrderStatus.PENDING_PAYMENT:
        problems.append("该受理单属于批量续期，须整体支付，不能单独匹配")
    if line.amount_fen != order.amount_fen:
        problems.append(f"金额不符（应付{order.amount_yuan}元，到账{line.amount_yuan}元）")
    return problems


def match_candidate(line_id: int, order_no: str) -> MatchCandidate:
    """What matching line `line_id` to the order numbered `order_no` would meet, changing nothing: NotFound for
    no such line, DomainError `order_not_found`."""
    line = statement_line(line_id)
    order_no = normalised_order_no(order_no)
    group = _group_by_no(order_no)
    if group is not None:
        return MatchCandidate(order_no, None, _group_match_problems(line, group),
                              _normalised(line.payer_name) == _normalised(group.organisation), group)
    order = _order_by_no(order_no)
    return MatchCandidate(order_no, order, _match_problems(line, order),
                          _normalised(line.payer_name) == _normalised(order.certificate.subject_o))


def _resolution_note(note: str | None, label: str) -> str:
    note = clean(note)
    if not note:
        raise InvalidFields({"note": f"请填写{label}"})
    if len(note) > 200:
        raise InvalidFields({"note": f"{label}最多200个字"})
    return note


def _lock_manual_line(line_id: int) -> BankStatementLine:
    line = db.session.scalar(sa.select(BankStatementLine).where(BankStatementLine.id == line_id).with_for_update()
                             .execution_options(populate_existing=True))
    if line is None:
        raise NotFound("没有找到该银行流水")
    if line.status != LineStatus.MANUAL:
        raise Conflict(f"该流水已处理（当前为“{line.status_label}”），不能再次处理", code="line_resolved")
    return line


def match_line_by_hand(staff_id: int, line_id: int, order_no: str, note: str, ip: str = "") -> BankStatementLine:
    """Finance staff match a line of the manual queue to the order numbered `order_no` (or the 批量续期 group
    numbered so, PL…, paid as a whole by `mark_group_paid`), saying why (`note`): the
    order is paid exactly as the matching job pays it (`mark_paid`, channel transfer; the user is told it is paid
    and, on the online path, that the certificate can be written) and the line is matched, with who and why.
    The payer's name may differ from the certificate's organisation (that is what staff decide); the amount may
    not, and the order must be waiting for payment. Locks the line, then the order (as `match_line` does).
    Raises NotFound (no such line), Conflict `line_resolved` (resolved before), InvalidFields (no note),
    DomainError `order_not_found`, Conflict `match_refused` (amount or status); nothing changes then. Audited."""
    line = _lock_manual_line(line_id)
    note = _resolution_note(note, "匹配原因")
    group = _group_by_no(normalised_order_no(order_no))
    if group is not None:  # 批量续期: the line pays the whole group
        return _match_group_by_hand(staff_id, line, group, note, ip)
    order = lock_order(_order_by_no(normalised_order_no(order_no)).id)
    problems = _match_problems(line, order)
    if problems:
        raise Conflict("不能匹配：" + "；".join(problems), code="match_refused")
    actor = f"staff:{staff_id}"
    paid_note = f"对公转账到账（银行流水号{line.bank_txn_id}，财务人工核对）"
    if not mark_paid(order.id, PayChannel.TRANSFER, actor, paid_note):
        raise Conflict("受理单已不是待支付状态", code="match_refused")  # never: checked under the order's lock
    before = {"status": line.status, "order_id": line.order_id}
    LINE_STATES.move(line, LineStatus.MATCHED)
    now = utcnow()
    line.order_id, line.decided_at, line.resolved_by, line.resolved_at, line.resolution_note = (
        order.id, now, staff_id, now, note)
    record_audit(actor, "bank.line_matched", target=f"bank_line:{line.id}", ip=ip,
                 detail={"before": before, "after": {"status": line.status, "order_id": order.id},
                         "order_no": order.order_no, "bank_txn_id": line.bank_txn_id, "amount_fen": line.amount_fen,
                         "same_payer": _normalised(line.payer_name) == _normalised(order.certificate.subject_o),
                         "note": note})
    db.session.flush()
    log.info("statement line %s matched by staff %s to order %s", line.id, staff_id, order.id)
    return line


def set_line_aside(staff_id: int, line_id: int, outcome: str, note: str, ip: str = "") -> BankStatementLine:
    """Finance staff resolve a line of the manual queue without paying an order: `returned` (the money is to go
    back to the payer, e.g. a second transfer for an order already paid) or `dismissed` (not a payment for this
    system), saying why (`note`). Raises NotFound, Conflict `line_resolved`, InvalidFields, DomainError
    `invalid_outcome`; nothing changes then. Audited."""
    if outcome not in ASIDE_OUTCOMES:
        raise DomainError("请选择处理方式", code="invalid_outcome")
    line = _lock_manual_line(line_id)
    note = _resolution_note(note, "处理说明")
    before = {"status": line.status}
    LINE_STATES.move(line, LineStatus(outcome))
    line.resolved_by, line.resolved_at, line.resolution_note = staff_id, utcnow(), note
    record_audit(f"staff:{staff_id}", f"bank.line_{outcome}", target=f"bank_line:{line.id}", ip=ip,
                 detail={"before": before, "after": {"status": line.status}, "bank_txn_id": line.bank_txn_id,
                         "amount_fen": line.amount_fen, "order_id": line.order_id, "note": note})
    db.session.flush()
    return line
