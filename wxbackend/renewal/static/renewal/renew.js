// PC renewal page (DESIGN §5): helper token → backend start → helper keygen (PIN once) → backend issue →
// helper install → backend confirm → helper cleanup. The PIN goes only to the helper on 127.0.0.1.
(function () {
  "use strict";
  const HELPER = window.CAGJ.helper;
  const ORDER = window.CAGJ.order || null;
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

  async function detect() {
    show("panel-detect"); guide(1);
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
                                                      helper_version: state.helperVersion});
      if (r.ok) { state.step = r.body; showOrder(); return true; }
      if (!refusal || r.body.code === "not_the_key_ordered") refusal = r.body;
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
    } catch (error) {
      const failed = error instanceof StepFailed ? error : new StepFailed("keygen", {message: "证书助手连接中断，请确认介质已插好后重试"});
      task(failed.task, "failed");
      const body = failed.body;
      if (body.code === "pin_final_try") $("final-try").hidden = false;
      // tickets are single-use: ask the backend where the order stands now, then let the user retry
      const again = await start().catch(() => false);
      if (again) {
        $("renew-error").textContent = body.message + (body.code === "pin_incorrect" ? "" : "（原证书仍可正常使用，可重新点击续期）");
      } else {
        $("no-order-text").textContent = body.message + " " + $("no-order-text").textContent;
      }
    }
  }

  $("pin-form").addEventListener("submit", renew);
  $("btn-redetect").addEventListener("click", detect);
  detect();
})();
