// PC renewal page (DESIGN §5): helper token → backend start → helper keygen (PIN once) → backend issue →
// helper install → backend confirm → helper cleanup. The PIN goes only to the helper on 127.0.0.1.
// 批量续期 (?group=): the group's keys are listed; each key inserted writes its own order, one key at a time, and a
// key that fails (pulled out, wrong PIN…) is marked 写入失败 and can be written again later, the others meanwhile.
(function () {
  "use strict";
  const HELPER = window.CAGJ.helper;
  const ORDER = window.CAGJ.order || null;
  const GROUP = window.CAGJ.group || null;
  const failed = new Set();  // order numbers whose write failed on this page (the backend keeps them resumable)
  const {$, showOnly, guide, call, fmtDate, readKey} = window.CAGJ_PC;
  const state = {step: null, pems: [], keyIds: [], helperVersion: null};

  const show = (panel) => showOnly(["panel-detect", "panel-order", "panel-progress", "panel-done"], panel);
  function task(name, status) {
    const li = document.querySelector(`#progress li[data-task="${name}"]`);
    if (li) { li.className = status; }
  }
  const helper = (path, body) => call(HELPER, path, body);
  const backend = (path, body) => call("", path, body);
  class StepFailed extends Error {
    constructor(task, body) { super(body.message || "操作失败"); this.task = task; this.body = body; }
  }

  async function refreshGroup() {
    if (!GROUP) return null;
    const r = await backend("/pc/api/renew/groups/" + encodeURIComponent(GROUP));
    const body = $("group-keys").querySelector("tbody");
    body.textContent = "";
    if (!r.ok) { $("group-remaining").textContent = r.body.message; return null; }
    for (const key of r.body.keys) {
      const row = document.createElement("tr");
      row.dataset.orderNo = key.order_no;
      const label = failed.has(key.order_no) && key.status !== "completed" ? "写入失败（可重新插入该介质继续写入）" : key.status_label;
      row.dataset.status = failed.has(key.order_no) && key.status !== "completed" ? "failed" : key.status;
      for (const text of [key.organisation, key.serial_tail, key.medium_last4, label]) {
        const cell = document.createElement("td"); cell.textContent = text; row.append(cell);
      }
      row.lastChild.className = "key-status";
      body.append(row);
    }
    $("group-remaining").textContent = r.body.remaining ? `还有 ${r.body.remaining} 个介质待写入` : "全部证书已写入完成";
    return r.body;
  }

  async function detect() {
    show("panel-detect"); guide(1);
    refreshGroup();
    for (const id of ["helper-missing", "helper-upgrade", "no-order", "btn-redetect"]) $(id).hidden = true;
    $("detect-status").textContent = "正在检测证书助手和证书介质…";
    const token = await readKey(state);
    if (!token) return;
    guide(2);
    if (!token.ok || !token.body.certificates.length) {
      $("detect-status").textContent = token.ok ? "该介质中没有数字证书，请插入待续期的介质" : token.body.message;
      $("btn-redetect").hidden = false;
      return;
    }
    state.pems = token.body.certificates.map((c) => c.pem);
    $("final-try").hidden = token.body.token.pin_state !== "final_try";  // only when the key says so
    state.keyIds = token.body.key_ids || [];
    await start();
  }

  async function start() {
    let refusal = null;
    for (const pem of state.pems) {  // after an interrupted write the key may hold the old and the new certificate
      const r = await backend("/pc/api/renew/start", {certificate: pem, key_ids: state.keyIds, order_no: ORDER,
                                                      group_no: GROUP, helper_version: state.helperVersion});
      if (r.ok) { state.step = r.body; showOrder(); return true; }
      if (!refusal || ["not_the_key_ordered", "not_in_group"].includes(r.body.code)) refusal = r.body;
    }
    show("panel-detect");
    $("detect-status").textContent = "";
    $("no-order-text").textContent = refusal.message;
    $("no-order").hidden = false; $("btn-redetect").hidden = false;
    return false;
  }

  function showOrder() {
    const order = state.step.order;
    $("order-no").textContent = order.order_no;
    $("order-org").textContent = order.organisation;
    $("order-years").textContent = order.years + "年";
    $("old-not-after").textContent = fmtDate(order.old_not_after);
    $("new-not-after").textContent = fmtDate(order.new_not_after);
    $("resume-note").hidden = state.step.mode !== "install";
    show("panel-order"); guide(3);
    $("pin").focus();
  }

  async function renew(event) {
    event.preventDefault();
    const pin = $("pin").value;
    const confirmFinal = $("final-try-ok").checked;
    $("pin").value = "";
    $("renew-error").textContent = "";
    show("panel-progress");
    document.querySelectorAll("#progress li").forEach((li) => { li.className = ""; });
    try {
      let install = state.step;
      let installBody = {ticket: install.ticket, certificate: install.certificate_pem, chain: install.chain_pem};
      if (state.step.mode === "keygen") {
        task("keygen", "running");
        const made = await helper("/v1/keygen", {ticket: state.step.ticket, pin: pin, confirm_final_try: confirmFinal});
        if (!made.ok) throw new StepFailed("keygen", made.body);
        task("keygen", "done"); task("issue", "running");
        const issued = await backend("/pc/api/renew/issue", {ticket_id: state.step.ticket_id,
                                                              old_signature: made.body.old_signature, csr: made.body.csr});
        if (!issued.ok) throw new StepFailed("issue", issued.body);
        install = issued.body;
        installBody = {ticket: install.ticket, certificate: install.certificate_pem, chain: install.chain_pem};
        task("issue", "done");
      } else {
        task("keygen", "done"); task("issue", "done");
        installBody.pin = pin;
        installBody.confirm_final_try = confirmFinal;
      }
      task("install", "running");
      const written = await helper("/v1/install", installBody);
      if (!written.ok) throw new StepFailed("install", written.body);
      task("install", "done"); task("confirm", "running");
      const confirmed = await backend("/pc/api/renew/confirm", {ticket_id: install.ticket_id, signature: written.body.signature});
      if (!confirmed.ok) throw new StepFailed("confirm", confirmed.body);
      task("confirm", "done"); task("cleanup", "running");
      const cleaned = await helper("/v1/cleanup", {ticket: confirmed.body.cleanup_ticket});
      task("cleanup", cleaned.ok ? "done" : "failed");
      show("panel-done");
      $("result").textContent = "续期成功";
      $("result").className = "result ok";
      $("result-detail").textContent = "新证书已写入介质，有效期至 " + fmtDate(confirmed.body.not_after) +
        "。" + (cleaned.ok ? "" : "旧证书未能清理，不影响新证书使用。");
      failed.delete(confirmed.body.order.order_no);
      const progress = await refreshGroup();
      if (progress && progress.remaining) {
        $("result-detail").textContent += "请拔出当前介质，插入下一个介质后点击继续。";
        $("btn-next").hidden = false;
      } else {
        $("btn-next").hidden = true;
      }
    } catch (error) {
      const stopped = error instanceof StepFailed ? error : new StepFailed("keygen", {message: "证书助手连接中断，请确认介质已插好后重试"});
      task(stopped.task, "failed");
      const body = stopped.body;
      if (GROUP && state.step) failed.add(state.step.order.order_no);
      if (body.code === "pin_final_try") $("final-try").hidden = false;
      // tickets are single-use: read the key again (a new key pair made before the failure must be reported, or
      // the certificate already issued for it would be voided), ask the backend where the order stands now, then
      // let the user retry
      const present = await helper("/v1/token").catch(() => null);
      if (present && present.ok && present.body.certificates.length) {
        state.pems = present.body.certificates.map((c) => c.pem);
        state.keyIds = present.body.key_ids || [];
      } else if (GROUP) {  // the key was pulled out: its order stays resumable, another key may go first
        show("panel-detect");
        $("detect-status").textContent = body.message + " 介质已拔出：可插入其他介质继续，稍后再插入该介质完成写入。";
        $("btn-redetect").hidden = false;
        await refreshGroup();
        return;
      }
      const again = await start().catch(() => false);
      if (again) {
        $("renew-error").textContent = body.message + (body.code === "pin_incorrect" ? "" : "（原证书仍可正常使用，可重新点击续期）");
      } else {
        $("no-order-text").textContent = body.message + " " + $("no-order-text").textContent;
      }
      if (GROUP) {
        await refreshGroup();
        $("renew-error").textContent += " 也可以先拔出该介质，插入其他介质继续批量续期。";
      }
    }
  }

  $("pin-form").addEventListener("submit", renew);
  $("btn-redetect").addEventListener("click", detect);
  $("btn-next").addEventListener("click", detect);
  if ($("btn-switch")) $("btn-switch").addEventListener("click", detect);
  detect();
})();
