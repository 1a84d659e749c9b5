// 扫码登录: ask for a QR code, show it, poll with the PC token in X-PC-Token (never in the URL) until the phone has
// confirmed, then take the session and go where the page was asked to go (the server checks it is our own path).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const box = $("pc-login");
  const csrf = box.dataset.csrf;
  let login = null, timer = null, deadline = 0;

  async function call(method, path, headers, body) {
    const options = {method: method, headers: Object.assign({"X-CSRFToken": csrf}, headers || {}),
                     credentials: "same-origin"};
    if (body) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
    const response = await fetch(path, options);
    let data = {};
    try { data = await response.json(); } catch (e) { data = {message: "服务暂时不可用，请稍后再试"}; }
    return {ok: response.ok, status: response.status, body: data};
  }
  function status(text) { $("login-status").textContent = text; }
  function stop(text) {
    clearInterval(timer); timer = null; login = null;
    status(text);
    $("login-refresh").hidden = false;
  }
  function countdown() {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    $("login-countdown").textContent = String(Math.floor(left / 60)).padStart(2, "0") + ":" + String(left % 60).padStart(2, "0");
    return left;
  }
  async function start() {
    $("login-refresh").hidden = true;
    $("login-error").textContent = "";
    const answer = await call("POST", "/pc/api/login", {}, {next: box.dataset.next});
    if (!answer.ok) { $("login-error").textContent = answer.body.message || "获取二维码失败"; $("login-refresh").hidden = false; return; }
    login = answer.body;
    deadline = Date.now() + login.expires_in * 1000;
    $("login-qr").innerHTML = login.qr_svg;  // an SVG our server made
    $("login-qr").dataset.link = login.qr_link;
    status("请使用微信扫一扫，扫描左侧二维码");
    timer = setInterval(poll, 1500);
  }
  async function poll() {
    if (!login) return;
    if (countdown() === 0) { stop("二维码已过期，请刷新"); return; }
    const current = login;
    const answer = await call("GET", "/pc/api/login/" + encodeURIComponent(current.login_id), {"X-PC-Token": current.pc_token});
    if (login !== current) return;
    if (!answer.ok) { stop(answer.body.message || "二维码已失效，请刷新"); return; }
    const state = answer.body.state;
    if (state === "scanned") status("已扫描，请在手机上确认登录");
    else if (state === "refused") stop("您已在手机上取消登录");
    else if (state === "confirmed") {
      clearInterval(timer); timer = null;
      status("已确认，正在登录…");
      const taken = await call("POST", "/pc/api/login/" + encodeURIComponent(current.login_id) + "/session", {"X-PC-Token": current.pc_token});
      if (taken.ok) window.location.assign(taken.body.next);
      else stop(taken.body.message || "登录失败，请刷新二维码");
    }
  }
  $("login-refresh").addEventListener("click", start);
  start();
})();
