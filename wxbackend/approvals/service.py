"""Decisions with four eyes (DESIGN §15), one mechanism for every kind of request (refunds above the threshold now,
the reviewed flows later).

- A kind (`ApprovalKind`: its object type, how to lock the object and read its revision, the effect run once
  approved) is registered from `create_app` by the domain that owns it (`register_kinds`); this module imports no
  other domain's code but the staff accounts.
- `submit` opens a request bound to one revision of its object, with ordered steps each naming the roles that decide
  it. A newer revision voids the pending request of an older one (so does `void_pending`); a second open request
  for the same revision is refused.
- `decide` (approve or reject) needs a one-time nonce issued when the page was rendered for that request, step and
  staff member (`issue_nonce`, Redis, `NONCE_SECONDS`, single use). The current step is the first undecided one;
  approving the last step approves the request and runs the kind's effect in the same unit of work; one rejection
  rejects the request. Nobody decides a request they created, nor two steps of one request. A request whose object
  has changed since it was submitted is voided instead of decided.
- Every decision, refusal and void is audited.

Lock order: the object (the kind's `revision` locks it), then the request row. Services flush; the edge commits.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from wxbackend.approvals.models import ApprovalDecision, ApprovalRequest, ApprovalStatus, Verdict
from wxbackend.approvals.transitions import APPROVAL_STATES
from wxbackend.audit.service import record_audit
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, Forbidden, NotFound
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.core.validation import InvalidFields, clean
from wxbackend.staff.models import ROLE_LABELS, Role, StaffMember

KINDS = "approval_kinds"  # app.extensions key: {kind name: ApprovalKind}, filled by create_app
NONCE_SECONDS = 15 * 60  # a decision page's nonce is good for this long, once
QUEUE_PAGE = 50
REASON_MAX = 500


@dataclass(frozen=True)
class Step:
    """One step of a request: its title and the roles whose holders may decide it."""

    title: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class ApprovalKind:
    """What one kind of request is about and what approving it does, registered by the domain that owns it.

    `lock(object_id)` takes the object's row lock as its own domain does (before a decision locks the request);
    `revision(object_id)` is the object's current revision (an integer that changes whenever the object does);
    `approved(request)` is the effect, run in the decision's unit of work (a refusal it raises refuses the
    decision and nothing is kept); `rejected(request)`, if any, runs on a rejection."""

    name: str
    label: str
    object_type: str
    lock: Callable[[int], object]
    revision: Callable[[int], int]
    approved: Callable[[ApprovalRequest], object]
    rejected: Callable[[ApprovalRequest], object] | None = None


class ApprovalRefused(DomainError):
    code, message, status = "approval_refused", "不能审批该申请", 409


class NonceRefused(DomainError):
    """The decision form's one-time nonce is gone (used, expired), forged or for another request, step or person."""

    code, message, status = "nonce_refused", "该审批页面已提交过或已过期，请刷新页面后重新操作", 409


class NonceMissing(NonceRefused):
    code, message, status = "nonce_missing", "缺少一次性审批令牌，请从审批页面提交", 400


def register_kinds(app, kinds: Iterable[ApprovalKind]) -> None:
    """create_app names every kind of approval request and its effect (explicit: nothing registers on import)."""
    app.extensions[KINDS] = {kind.name: kind for kind in kinds}


def kind_of(name: str) -> ApprovalKind:
    kinds = current_app.extensions.get(KINDS, {})
    if name not in kinds:
        raise LookupError(f"approval kind {name!r} is not registered (create_app: APPROVAL_KINDS)")
    return kinds[name]


def kind_label(name: str) -> str:
    kind = current_app.extensions.get(KINDS, {}).get(name)
    return kind.label if kind else name


def roles_text(roles: Iterable[str]) -> str:
    return "或".join(ROLE_LABELS.get(Role(r), r) for r in roles)


def _role_list(roles: Iterable[str]) -> str:
    """`,admin,finance,`: roles as the queue finds them with LIKE (empty for none)."""
    roles = sorted(set(roles))
    return f",{','.join(roles)}," if roles else ""


def _actor(staff_id: int) -> str:
    return f"staff:{staff_id}"


def _locked(request_id: int) -> ApprovalRequest | None:
    return db.session.scalar(sa.select(ApprovalRequest).where(ApprovalRequest.id == request_id).with_for_update()
                             .execution_options(populate_existing=True))


def get_request(request_id: int) -> ApprovalRequest:
    request = db.session.get(ApprovalRequest, request_id)
    if request is None:
        raise NotFound("没有找到该审批申请")
    return request


def pending_request(kind: str, object_id: int) -> ApprovalRequest | None:
    """The open request of `kind` about the object, if there is one."""
    object_type = kind_of(kind).object_type
    return db.session.scalar(sa.select(ApprovalRequest).where(
        ApprovalRequest.kind == kind, ApprovalRequest.object_type == object_type,
        ApprovalRequest.object_id == object_id, ApprovalRequest.status == ApprovalStatus.PENDING))


# ------------------------------------------------------------------------------------------------ submitting


def _close(request: ApprovalRequest, to: ApprovalStatus, note: str = "") -> None:
    APPROVAL_STATES.move(request, to)
    request.decided_at, request.current_roles, request.closing_note = utcnow(), "", note[:200]
    db.session.flush()


def _void(request: ApprovalRequest, reason: str, actor: str, ip: str) -> None:
    before = {"status": request.status, "step": request.current_step}
    _close(request, ApprovalStatus.VOIDED, reason)
    record_audit(actor, "approval.void", target=f"approval:{request.id}", ip=ip,
                 detail={"before": before, "after": {"status": request.status}, "why": reason[:200],
                         "kind": request.kind, "object": f"{request.object_type}:{request.object_id}"})


def submit(kind: str, object_id: int, revision: int, summary: str, payload: dict, steps: Sequence[Step],
           created_by: str, ip: str = "") -> ApprovalRequest:
    """Open a request of `kind` about one revision of an object; the caller holds the object's row lock. A pending
    request of the same kind about an older revision is voided (a new revision voids earlier decisions). Raises
    Conflict `approval_pending` when one about this (or a newer) revision is open, ValueError for steps that name
    no or unknown roles, LookupError for a kind create_app did not register."""
    registered = kind_of(kind)
    if not steps or any(not step.roles or set(step.roles) - {r.value for r in Role} for step in steps):
        raise ValueError(f"steps must each name known roles: {steps!r}")
    pending = list(db.session.scalars(
        sa.select(ApprovalRequest).where(ApprovalRequest.kind == kind,
                                         ApprovalRequest.object_type == registered.object_type,
                                         ApprovalRequest.object_id == object_id,
                                         ApprovalRequest.status == ApprovalStatus.PENDING)
        .with_for_update().execution_options(populate_existing=True)))
    for open_request in pending:
        if open_request.revision >= revision:
            raise Conflict(f"已有待审批的{registered.label}申请（审批单 #{open_request.id}），不能重复提交",
                           code="approval_pending")
        _void(open_request, f"已提交第{revision}版，原申请作废", created_by, ip)
    step_list = [{"title": step.title, "roles": list(step.roles)} for step in steps]
    request = ApprovalRequest(kind=kind, object_type=registered.object_type, object_id=object_id, revision=revision,
                              summary=summary[:1000], payload=payload, steps=step_list, current_step=0,
                              current_roles=_role_list(steps[0].roles),
                              all_roles=_role_list(r for step in steps for r in step.roles),
                              status=ApprovalStatus.PENDING, created_by=created_by, closing_note="")
    try:
        with db.session.begin_nested():  # two submissions at once: the partial unique index refuses the second
            db.session.add(request)
            db.session.flush()
    except IntegrityError:
        raise Conflict(f"已有待审批的{registered.label}申请，不能重复提交", code="approval_pending") from None
    record_audit(created_by, "approval.submit", target=f"approval:{request.id}", ip=ip,
                 detail={"after": {"status": request.status, "kind": kind, "revision": revision,
                                   "object": f"{request.object_type}:{object_id}",
                                   "steps": [s["title"] for s in step_list]}})
    return request


def void_pending(object_type: str, object_id: int, reason: str, actor: str = "system", ip: str = "") -> int:
    """A new revision of the object: every pending request about it (any kind) is voided with `reason`, its
    decisions so far count for nothing. The caller holds the object's row lock. Returns how many were voided."""
    pending = list(db.session.scalars(
        sa.select(ApprovalRequest).where(ApprovalRequest.object_type == object_type,
                                         ApprovalRequest.object_id == object_id,
                                         ApprovalRequest.status == ApprovalStatus.PENDING)
        .order_by(ApprovalRequest.id).with_for_update().execution_options(populate_existing=True)))
    for request in pending:
        _void(request, reason, actor, ip)
    return len(pending)


# ------------------------------------------------------------------------------------------------- deciding


def _nonce_key(nonce: str) -> str:
    return "approvals:nonce:" + hashlib.sha256(nonce.encode()).hexdigest()


def issue_nonce(request_id: int, staff_id: int) -> str:
    """A one-time nonce for the decision form rendered now for this request, its current step and this staff
    member (valid NONCE_SECONDS, once). Only its hash is the Redis key."""
    request = get_request(request_id)
    nonce = secrets.token_urlsafe(24)
    get_redis().set(_nonce_key(nonce), f"{request.id}:{request.current_step}:{staff_id}", ex=NONCE_SECONDS)
    return nonce


def _refuse(request: ApprovalRequest, staff_id: int, verdict: str, error: DomainError, ip: str) -> DomainError:
    """Audit a refused decision (the row outlives the rollback) and return the error to raise."""
    record_audit(_actor(staff_id), f"approval.{verdict}", target=f"approval:{request.id}", ip=ip, result="refused",
                 detail={"why": error.code, "step": request.current_step, "status": request.status})
    return error


def _consume_nonce(request: ApprovalRequest, staff_id: int, verdict: str, nonce: str, ip: str) -> None:
    if not nonce:
        raise _refuse(request, staff_id, verdict, NonceMissing(), ip)
    bound = get_redis().getdel(_nonce_key(nonce[:100]))
    if bound is None:
        raise _refuse(request, staff_id, verdict, NonceRefused(), ip)
    if bound.decode() != f"{request.id}:{request.current_step}:{staff_id}":
        raise _refuse(request, staff_id, verdict, NonceRefused(code="nonce_mismatch"), ip)


def why_not(request: ApprovalRequest, staff: StaffMember) -> DomainError | None:
    """Why `staff` may not decide the request's current step now (None: they may)."""
    if request.status != ApprovalStatus.PENDING:
        return Conflict(f"该审批申请{request.status_label}，不能再审批", code="approval_closed")
    if request.created_by == _actor(staff.id):
        return ApprovalRefused("不能审批自己提交的申请，须由他人审批", code="own_request")
    decided = db.session.scalar(sa.select(ApprovalDecision.step).where(ApprovalDecision.request_id == request.id,
                                                                        ApprovalDecision.staff_id == staff.id))
    if decided is not None:
        return ApprovalRefused(f"您已审批过本申请的第{decided + 1}步，同一申请的其他步骤须由他人审批",
                               code="second_step")
    step = request.steps[request.current_step]
    if not staff.has_role(*step["roles"]):
        return Forbidden(f"本步骤（{step['title']}）须由{roles_text(step['roles'])}审批", code="step_role")
    return None


def _input_refusal(request: ApprovalRequest, verdict: str, reason: str, fields: list[str]) -> InvalidFields | None:
    """What is wrong with a decision's reason and fields (None: nothing)."""
    if verdict == Verdict.REJECT and not reason:
        return InvalidFields({"reason": "驳回须填写原因"})
    if len(reason) > REASON_MAX:
        return InvalidFields({"reason": f"原因最多{REASON_MAX}个字"})
    if fields and verdict != Verdict.REJECT:
        return InvalidFields({"fields": "只有驳回时才能指明需要修改的内容"})
    allowed = (request.payload or {}).get("fields") or {}
    if any(field not in allowed for field in fields):
        return InvalidFields({"fields": "所选的需修改内容不属于本申请"})
    return None


def decide(request_id: int, staff_id: int, verdict: str, nonce: str, reason: str = "",
           fields: Sequence[str] = (), ip: str = "") -> ApprovalRequest:
    """`staff_id` approves or rejects the request's current step, with the nonce its page was rendered with.
    Approving the last step approves the request and runs the kind's effect here (its refusal refuses the
    decision); a rejection (reason required, optionally naming fields of `payload["fields"]`) rejects the
    request. A request whose object has a newer revision is voided instead and returned so. Raises NotFound,
    NonceMissing (400) / NonceRefused (409: used, expired, forged, another request, step or person), Conflict (no
    longer pending), ApprovalRefused (their own request; a second step of the same person), Forbidden (the step's
    roles), InvalidFields (no reason, unknown fields); every refusal is audited."""
    if verdict not in (Verdict.APPROVE, Verdict.REJECT):
        raise DomainError("无效的审批结论", code="invalid_verdict")
    found = get_request(request_id)
    kind = kind_of(found.kind)
    kind.lock(found.object_id)  # lock order: the object, then the request
    revision_now = kind.revision(found.object_id)
    request = _locked(request_id)
    staff = db.session.get(StaffMember, staff_id)
    _consume_nonce(request, staff_id, verdict, nonce, ip)
    refusal = why_not(request, staff)
    if refusal is not None:
        raise _refuse(request, staff_id, verdict, refusal, ip)
    if revision_now != request.revision:
        _void(request, f"{kind.label}所涉对象已变化（第{request.revision}版→第{revision_now}版），审批作废",
              _actor(staff_id), ip)
        return request
    reason, chosen = clean(reason), [f for f in dict.fromkeys(clean(f) for f in fields) if f]
    invalid = _input_refusal(request, verdict, reason, chosen)
    if invalid is not None:
        raise _refuse(request, staff_id, verdict, invalid, ip)
    step = request.current_step
    db.session.add(ApprovalDecision(request=request, step=step, staff_id=staff_id, verdict=verdict, reason=reason,
                                    fields=chosen))
    before = {"status": request.status, "step": step}
    if verdict == Verdict.REJECT:
        _close(request, ApprovalStatus.REJECTED)
    elif step + 1 == len(request.steps):
        _close(request, ApprovalStatus.APPROVED)
    else:
        request.current_step = step + 1
        request.current_roles = _role_list(request.steps[step + 1]["roles"])
        db.session.flush()
    record_audit(_actor(staff_id), f"approval.{verdict}", target=f"approval:{request.id}", ip=ip,
                 detail={"before": before, "after": {"status": request.status, "step": request.current_step},
                         "kind": request.kind, "reason": reason[:200], "fields": chosen})
    effect = kind.approved if request.status == ApprovalStatus.APPROVED else \
        kind.rejected if request.status == ApprovalStatus.REJECTED else None
    if effect is not None:
        try:
            effect(request)
        except DomainError as refused:  # the decision does not stand without its effect: audit why, then refuse
            record_audit(_actor(staff_id), f"approval.{verdict}", target=f"approval:{request.id}", ip=ip,
                         result="refused", detail={"why": refused.code, "step": step, "effect": kind.name,
                                                   "message": refused.message[:200]})
            raise
        db.session.flush()
    return request


# ---------------------------------------------------------------------------------------------- the queue


@dataclass
class QueueRow:
    request: ApprovalRequest
    kind_label: str
    created_by: str  # a name
    must_act: str  # who must act now


@dataclass
class StepView:
    number: int
    title: str
    roles: str
    state: str  # 已批准 / 已驳回 / 待审批 / 未开始 / 已作废
    decision: ApprovalDecision | None


def _matches(column, roles: Iterable[str]):
    conditions = [column.contains(f",{role},") for role in roles]
    return sa.or_(*conditions) if conditions else sa.false()


def _may_decide(staff: StaffMember):
    decided = sa.exists().where(ApprovalDecision.request_id == ApprovalRequest.id,
                                ApprovalDecision.staff_id == staff.id)
    return sa.and_(_matches(ApprovalRequest.current_roles, staff.role_set),
                   ApprovalRequest.created_by != _actor(staff.id), ~decided)


def _section(staff: StaffMember, section: str):
    pending = ApprovalRequest.status == ApprovalStatus.PENDING
    if section == "mine":
        return sa.and_(pending, _may_decide(staff))
    involved = sa.or_(_matches(ApprovalRequest.all_roles, staff.role_set),
                      ApprovalRequest.created_by == _actor(staff.id))
    return sa.and_(pending, involved, sa.not_(_may_decide(staff)))


def count_decidable(staff_id: int) -> int:
    """How many pending requests wait for `staff_id` (their roles may decide the current step, and they are
    neither its creator nor the decider of an earlier step)."""
    staff = db.session.get(StaffMember, staff_id)
    return db.session.scalar(sa.select(sa.func.count(ApprovalRequest.id)).where(_section(staff, "mine")))


def _cursor(request: ApprovalRequest) -> str:
    return f"{int(request.created_at.timestamp() * 1_000_000)}-{request.id}"


def _after(cursor: str | None):
    try:
        micros, last_id = (int(part) for part in (cursor or "").split("-"))
        created_at = datetime.fromtimestamp(micros / 1_000_000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if not 0 <= last_id < 2**31:
        return None  # an `integer` id column: no row past it
    return sa.tuple_(ApprovalRequest.created_at, ApprovalRequest.id) > (
        created_at, last_id)


def staff_names(staff_ids: Iterable[int | None]) -> dict[int, str]:
    ids = {i for i in staff_ids if i}
    if not ids:
        return {}
    rows = db.session.execute(sa.select(StaffMember.id, StaffMember.display_name).where(StaffMember.id.in_(ids)))
    return {staff_id: name for staff_id, name in rows}


def creator_name(request: ApprovalRequest, names: dict[int, str]) -> str:
    staff_id = request.created_by_staff_id
    if staff_id is not None:
        return names.get(staff_id, request.created_by)
    return "用户" if request.created_by.startswith("user:") else request.created_by


def must_act(request: ApprovalRequest, names: dict[int, str]) -> str:
    """Who must act now, e.g. 第2步「管理员审批」：须由管理员审批（不能是王五、李四）."""
    if request.status != ApprovalStatus.PENDING:
        return request.status_label
    step = request.steps[request.current_step]
    excluded = [names.get(d.staff_id, f"#{d.staff_id}") for d in request.decisions]
    if request.created_by_staff_id is not None:
        excluded.insert(0, names.get(request.created_by_staff_id, request.created_by))
    text = f"第{request.current_step + 1}步「{step['title']}」：须由{roles_text(step['roles'])}审批"
    return text + (f"（不能是{'、'.join(excluded)}）" if excluded else "")


def queue(staff_id: int, section: str, after: str | None = None,
          limit: int = QUEUE_PAGE) -> tuple[list[QueueRow], str | None]:
    """One page of pending requests, oldest first, keyset-paged on (created_at, id): section "mine" — those
    `staff_id` may decide now; "others" — those of their roles (or created by them) they cannot decide now, so
    nothing they worked on vanishes. Returns the rows and the cursor of the next page (None: last page)."""
    staff = db.session.get(StaffMember, staff_id)
    query = sa.select(ApprovalRequest).where(_section(staff, section)).options(
        selectinload(ApprovalRequest.decisions))
    keyset = _after(after)
    if keyset is not None:
        query = query.where(keyset)
    found = list(db.session.scalars(query.order_by(ApprovalRequest.created_at, ApprovalRequest.id)
                                    .limit(limit + 1)))
    page, more = found[:limit], len(found) > limit
    names = staff_names([r.created_by_staff_id for r in page] + [d.staff_id for r in page for d in r.decisions])
    rows = [QueueRow(r, kind_label(r.kind), creator_name(r, names), must_act(r, names)) for r in page]
    return rows, _cursor(page[-1]) if more else None


def steps_of(request: ApprovalRequest) -> list[StepView]:
    """Each step with its state and decision, as the detail page shows them."""
    decided = {d.step: d for d in request.decisions}
    views = []
    for index, step in enumerate(request.steps):
        decision = decided.get(index)
        if decision is not None:
            state = "已批准" if decision.verdict == Verdict.APPROVE else "已驳回"
        elif request.status == ApprovalStatus.PENDING:
            state = "待审批" if index == request.current_step else "未开始"
        else:
            state = "—"
        views.append(StepView(index + 1, step["title"], roles_text(step["roles"]), state, decision))
    return views


def is_stale(request: ApprovalRequest) -> bool:
    """The object has changed since the request was submitted (deciding would void it)."""
    return request.status == ApprovalStatus.PENDING and kind_of(request.kind).revision(request.object_id) != \
        request.revision


def last_decider(request: ApprovalRequest) -> int:
    """The staff id of the latest decision on the request (whoever approved its last step, for an effect)."""
    return db.session.scalar(sa.select(ApprovalDecision.staff_id).where(ApprovalDecision.request_id == request.id)
                             .order_by(ApprovalDecision.step.desc()).limit(1))
