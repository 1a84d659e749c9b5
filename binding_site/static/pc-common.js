// What the PC pages share: one panel shown at a time, the guide's current step, JSON calls to the helper and the
// backend, dates in Asia/Shanghai, and the helper's state (its version against HELPER_MIN_VERSION).
window.CAGJ_PC = (function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  function showOnly(panels, panel) {
    for (const id of panels) $(id).hidden = id !== panel;
  }
  function guide(n) {
    document.querySelectorAll(".guide li").forEach((li) => {
      const s = Number(li.dataset.step);
      li.classList.toggle("active", s === n);
      li.classList.toggle("done", s < n);
    });
  }
  // A network failure throws (the caller tells "helper not running" from it); a body that is not JSON becomes a
  // generic error answer.
  // `headers`: extra request headers (a token goes there, never into the URL).
  async function call(base, path, body, headers) {
    const options = body ? {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)} : {headers: {}};
    Object.assign(options.headers, headers || {});
    const response = await fetch(base + path, options);
    let data = {};
    try { data = await response.json(); } catch (e) { data = {code: "error", message: "服务暂时不可用，请稍后再试"}; }
    return {ok: response.ok, status: response.status, body: data};
  }
  function fmtDate(iso) {
    return new Date(iso).toLocaleDateString("zh-CN", {timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit"}).replace(/\//g, "-");
  }
  function parseVersion(text) {
    const m = /^(\d{1,4})\.(\d{1,4})\.(\d{1,4})$/.exec(typeof text === "string" ? text : "");
    return m ? m.slice(1).map(Number) : null;
  }
  function atLeast(version, minimum) {
    for (let i = 0; i < 3; i++) if (version[i] !== minimum[i]) return version[i] > minimum[i];
    return true;
  }
  // What the helper's answer (any answer of /v1/token, a key present or not) says about the helper itself:
  // {version, current}. A helper that reports no version predates versions, so it is not current either.
  function helperState(body, minimum) {
    const version = body && body.helper && typeof body.helper.version === "string" ? body.helper.version : "";
    const parsed = parseVersion(version), min = parseVersion(minimum);
    return {version: version, current: parsed !== null && (min === null || atLeast(parsed, min))};
  }
  // "证书助手 1.0.0 良好", or "… 需要升级" with the download link and the upgrade notice; returns whether the page
  // may go on to the PIN.
  function showHelperState(body, minimum) {
    const state = helperState(body, minimum);
    const line = $("helper-state");
    line.textContent = "证书助手 " + (state.version || "（版本未知）") + " " + (state.current ? "良好" : "需要升级");
    line.className = "helper-state " + (state.current ? "ok" : "bad");
    if (!state.current) {
      const link = document.createElement("a");
      link.href = "/pc/download"; link.textContent = "下载新版本";
      line.append(" ", link);
    }
    line.hidden = false;
    $("helper-upgrade").hidden = state.current;
    return state;
  }
  function hideHelperState() {
    $("helper-state").hidden = true;
    $("helper-upgrade").hidden = true;
  }
  // The key as the helper reads it (GET /v1/token), once the helper is known to be running and current; null when
  // the page must stop there, with the notice saying why (no helper: download it; an old one: upgrade it).
  async function readKey(page) {
    let token;
    try {
      token = await call(window.CAGJ.helper, "/v1/token");
    } catch (e) {
      hideHelperState();
      $("detect-status").textContent = "";
      $("helper-missing").hidden = false; $("btn-redetect").hidden = false;
      return null;
    }
    const current = showHelperState(token.body, window.CAGJ.helperMinVersion);
    page.helperVersion = current.version;
    if (!current.current) {  // an outdated helper: no PIN entry until it is upgraded
      $("detect-status").textContent = "";
      $("btn-redetect").hidden = false;
      return null;
    }
    return token;
  }
  return {$, showOnly, guide, call, fmtDate, helperState, showHelperState, hideHelperState, readKey};
})();
