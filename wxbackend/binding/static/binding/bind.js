// PC binding page: helper → backend start → helper sign (PIN) → backend code → poll → confirm.
// The PIN goes only to the helper on 127.0.0.1; the backend sees the key's signature, never the PIN.
(function () {
  "use strict";
  const HELPER = window.CAGJ.helper;
  const {$, showOnly, call, fmtDate, readKey} = window.CAGJ_PC;
  const step = window.CAGJ_PC.guide;
  const state = {ticket: null, ticketId: null, cert: null, session: null, pcToken: null, timer: null, poller: null,
                 helperVersion: null};

  const show = (panel) => showOnly(["panel-detect", "panel-pin", "panel-code", "panel-done"], panel);
  const helper = (path, body) => call(HELPER, path, body);
  const backend = (path, body, headers) => call("", path, body, headers);

  async function detect() {
    show("panel-detect"); step(1);
    $("helper-missing").hidden = true; $("btn-redetect").hidden = true;
    $("detect-status").textContent = "正在检测证书助手和证书介质…";
    const token = await readKey(state);
    if (!token) return;
    if (!token.ok) {
      $("detect-status").textContent = token.body.message;
      $("btn-redetect").hidden = false;
      return;
    }
    if (!token.body.certificates.length) {
      $("detect-status").textContent = "该介质中没有数字证书";
      $("btn-redetect").hidden = false;
      return;
    }
    state.pem = token.body.certificates[0].pem;
    $("final-try").hidden = token.body.token.pin_state !== "final_try";  // only when the key says so
    if (await start()) {
      show("panel-pin"); step(2);
      $("pin").focus();
    }
  }

  async function start() {
    const r = await backend("/pc/api/bind/start", {certificate: state.pem, helper_version: state.helperVersion});
    if (!r.ok) {
      show("panel-detect");
      $("detect-status").textContent = r.body.message;
      $("btn-redetect").hidden = false;
      return false;
    }
    state.ticket = r.body.ticket; state.ticketId = r.body.ticket_id; state.cert = r.body.certificate;
    $("cert-org").textContent = state.cert.organisation;
    $("cert-validity").textContent = fmtDate(state.cert.not_before) + " 至 " + fmtDate(state.cert.not_after);
    $("cert-last4").textContent = state.cert.medium_last4;
    return true;
  }

  async function getCode(event) {
    event.preventDefault();
    $("pin-error").textContent = "";
    $("btn-get-code").disabled = true;
    const pin = $("pin").value;
    $("pin").value = "";
    try {
      if (!state.ticket && !(await start())) return;
      let signed;
      try {
        signed = await helper("/v1/sign", {ticket: state.ticket, pin: pin, confirm_final_try: $("final-try-ok").checked});
      } catch (e) {
        $("pin-error").textContent = "与证书助手的连接中断，请确认证书助手正在运行";
        return;
      }
      state.ticket = null;  // a ticket is single-use; the next try asks for a new one
      if (!signed.ok) {
        if (signed.body.code === "pin_final_try") $("final-try").hidden = false;
        $("pin-error").textContent = signed.body.message;
        return;
      }
      step(3);
      const r = await backend("/pc/api/bind/code", {ticket_id: state.ticketId, signature: signed.body.signature});
      if (!r.ok) { $("pin-error").textContent = r.body.message; return; }
      showCode(r.body);
    } finally {
      $("btn-get-code").disabled = false;
    }
  }

  function showCode(body) {
    state.session = body.session_id; state.pcToken = body.pc_token;
    $("code").textContent = body.code;
    $("code-last4").textContent = body.medium_last4;
    $("qr").innerHTML = body.qr_svg;  // SVG made by our backend from our own URL
    $("claim").hidden = true;
    show("panel-code"); step(4);
    const deadline = Date.now() + body.expires_in * 1000;
    clearInterval(state.timer);
    state.timer = setInterval(() => {
      const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      $("countdown").textContent = String(Math.floor(left / 60)).padStart(2, "0") + ":" + String(left % 60).padStart(2, "0");
      if (left === 0) finish("绑定码已过期，请重新获取", false);
    }, 500);
    poll();
  }

  async function poll() {
    clearTimeout(state.poller);
    if (!state.session) return;
    const r = await backend("/pc/api/bind/sessions/" + encodeURIComponent(state.session), null, {"X-PC-Token": state.pcToken});
    if (!r.ok) { finish(r.body.message || "绑定码已过期，请重新获取", false); return; }
    const s = r.body.state;
    if (s === "claimed") {
      $("claim-text").textContent = r.body.claimant + " 请求绑定，确认？";
      $("claim").hidden = false;
    } else if (s === "bound") { finish("绑定成功", true); return; }
    else if (s === "rejected") { finish("已拒绝本次绑定请求", false); return; }
    else if (s === "dead") { finish("绑定码错误次数过多已失效，请重新获取", false); return; }
    state.poller = setTimeout(poll, 1500);
  }

  async function answer(accept) {
    $("btn-confirm").disabled = $("btn-reject").disabled = true;
    const r = await backend("/pc/api/bind/sessions/" + encodeURIComponent(state.session) + "/confirm", {pc_token: state.pcToken, accept: accept});
    $("btn-confirm").disabled = $("btn-reject").disabled = false;
    if (!r.ok) { finish(r.body.message, false); return; }
    finish(r.body.state === "bound" ? "绑定成功" : "已拒绝本次绑定请求", r.body.state === "bound");
  }

  function finish(text, ok) {
    clearInterval(state.timer); clearTimeout(state.poller);
    state.session = null;
    $("result").textContent = text;
    $("result").className = "result " + (ok ? "ok" : "bad");
    $("next-steps").hidden = !ok;
    $("btn-restart").hidden = ok;
    show("panel-done");
  }

  $("btn-redetect").onclick = detect;
  $("pin-form").onsubmit = getCode;
  $("btn-confirm").onclick = () => answer(true);
  $("btn-reject").onclick = () => answer(false);
  $("btn-restart").onclick = () => { state.ticket = null; detect(); };
  detect();
})();
