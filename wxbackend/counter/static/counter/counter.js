// 介质制证 (issue 14): the console page drives the key helper on this PC with counter tickets:
// helper token → backend start → helper counter/keygen (blank key's initial PIN) → backend issue →
// helper counter/install (certificate written, random PIN set and sealed to the backend) → backend confirm.
// The initial PIN goes only to the helper on 127.0.0.1; the new PIN never reaches this page in clear.
(function () {
  "use strict";
  const CFG = JSON.parse(document.getElementById("counter-config").textContent);
  const CSRF = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const state = {serial: null};

  async function answer(response) {
    let data = {};
    try { data = await response.json(); } catch (e) { data = {code: "error", message: "服务暂时不可用，请稍后再试"}; }
    return {ok: response.ok, status: response.status, body: data};
  }
  async function helper(path, body) {
    const options = body ? {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)} : {};
    return answer(await fetch(CFG.helper + path, options));
  }
  async function backend(path, body, form) {
    const headers = {"X-CSRFToken": CSRF, "Accept": "application/json"};
    let payload;
    if (form) { payload = new URLSearchParams(body); } else { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    return answer(await fetch(path, {method: "POST", headers: headers, body: payload, credentials: "same-origin"}));
  }
  function task(name, status) {
    const li = document.querySelector(`#progress li[data-task="${name}"]`);
    if (li) { li.className = status; }
  }
  class StepFailed extends Error {
    constructor(name, body) { super(body.message || "操作失败"); this.task = name; }
  }
  async function must(name, promise) {
    task(name, "running");
    const r = await promise;
    if (!r.ok) { task(name, "failed"); throw new StepFailed(name, r.body); }
    task(name, "done");
    return r.body;
  }

  async function detect() {
    $("counter-form").hidden = true;
    $("detect-status").textContent = "正在检测证书助手和介质…";
    let token;
    try { token = await helper("/v1/token"); } catch (e) {
      $("detect-status").textContent = "未检测到证书助手，请在本机启动证书助手后重试";
      return;
    }
    if (!token.ok) { $("detect-status").textContent = token.body.message; return; }
    const t = token.body.token;
    if (token.body.certificates.length || token.body.key_ids.length) {
      $("detect-status").textContent = `介质 ${t.serial} 不是空白介质（已有证书或密钥），请更换空白介质`;
      return;
    }
    state.serial = t.serial;
    $("detect-status").textContent = `空白介质 ${t.serial}（${t.label}）`;
    $("counter-form").hidden = false;
  }

  async function personalise(event) {
    event.preventDefault();
    const pin = $("blank-pin").value;
    const totp = $("totp-code") ? $("totp-code").value : "";
    $("btn-start").disabled = true;
    $("result").textContent = "正在制证，请勿拔出介质…";
    try {
      const started = await must("start", backend(CFG.start, {token_serial: state.serial, totp_code: totp}, true));
      const made = await must("keygen", helper("/v1/counter/keygen", {ticket: started.ticket, pin: pin}));
      const issued = await must("issue", backend(CFG.issue, {ticket_id: started.ticket_id, csr: made.csr}));
      const written = await must("install", helper("/v1/counter/install", {
        ticket: issued.ticket, pin: pin, certificate: issued.certificate_pem, chain: issued.chain_pem}));
      // the key now has its new PIN, known only sealed here: a network failure is retried, not started over
      const confirmBody = {ticket_id: issued.ticket_id, signature: written.signature, sealed_pin: written.sealed_pin};
      let done = null;
      for (let attempt = 1; done === null; attempt++) {
        try { done = await must("confirm", backend(CFG.confirm, confirmBody)); } catch (e) {
          if (e instanceof StepFailed || attempt >= 5) throw e;
          $("result").textContent = "连接服务失败，正在重试登记新证书…";
          await new Promise((resolve) => setTimeout(resolve, 2000 * attempt));
        }
      }
      $("blank-pin").value = "";
      $("counter-form").hidden = true;
      $("result").textContent = `制证完成：证书序列号 ${done.serial}，介质号 ${done.medium_number}。` +
        `PIN码已由介质随机设置，将${done.delivery.channel === "payout" ? "通过打款附言发送至单位基本户" : "通过短信发送至经办人手机"}（${done.delivery.recipient}），本页不显示。`;
    } catch (e) {
      $("result").textContent = e instanceof StepFailed ? e.message : "无法连接证书助手或服务，请重试";
      $("btn-start").disabled = false;
    }
  }

  $("btn-detect").addEventListener("click", detect);
  $("counter-form").addEventListener("submit", personalise);
})();
