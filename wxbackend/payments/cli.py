"""`flask bank import FILE.csv`, `flask bank unmatched`, `flask bank match-new`: corporate transfer statements."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from wxbackend.core.db import db
from wxbackend.core.times import SHANGHAI
from wxbackend.payments import transfer

bank_cli = AppGroup("bank", help="Bank statements of corporate transfers (对公打款).")


@bank_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path):
    """Import a statement CSV (UTF-8 or GBK, at most 2 MB; header 流水号,交易日期,金额,付款人户名,付款人账号,附言)
    and queue matching for its new lines. Any bad line refuses the whole file; lines imported before are
    skipped."""
    try:
        result = transfer.import_statement(path.read_bytes(), path.name, actor="cli")
    except transfer.StatementError as refused:
        db.session.rollback()
        click.echo(f"未导入：{path.name} 有{len(refused.problems)}处错误，请改正后重新导入", err=True)
        for problem in refused.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(1) from None
    queued = transfer.queue_matching(result.new_line_ids)  # enqueued when the import commits
    db.session.commit()
    click.echo(f"{path.name}：共{result.total}行，新增{len(result.new_line_ids)}行，"
               f"已导入过{result.skipped}行（跳过）；{queued}行已排队匹配")


@bank_cli.command("unmatched")
def unmatched_command():
    """List the statement lines waiting for staff (the manual queue) and why."""
    lines = transfer.unmatched_lines()
    if not lines:
        click.echo("没有待人工处理的流水")
        return
    for line in lines:
        order = f"  受理单{line.order.order_no}" if line.order is not None else ""
        click.echo(f"#{line.id}  流水号{line.bank_txn_id}  {line.value_date:%Y-%m-%d}  {line.amount_yuan}元  "
                   f"{line.payer_name}  {line.payer_account_masked}  附言“{line.remark}”{order}\n"
                   f"    原因：{line.manual_reason}（{line.decided_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}，"
                   f"来自{line.source_file}）")
    click.echo(f"共{len(lines)}条待人工处理")


@bank_cli.command("match-new")
def match_new_command():
    """Queue matching again for lines still new (their job was lost, e.g. Redis was emptied)."""
    queued = transfer.queue_matching(transfer.new_line_ids())
    db.session.commit()
    click.echo(f"{queued}行已排队匹配")
