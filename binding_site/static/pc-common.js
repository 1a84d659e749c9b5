// What the PC pages share: one panel shown at a time, the guide's current step, JSON calls to the helper and the
// backend, dates in Asia/Shanghai.
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
  async function call(base, path, body) {
    const options = body ? {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)} : {};
    const response = await fetch(base + path, options);
    let data = {};
    try { data = await response.json(); } catch (e) { data = {code: "error", message: "服务暂时不可用，请稍后再试"}; }
    return {ok: response.ok, status: response.status, body: data};
  }
  function fmtDate(iso) {
    return new Date(iso).toLocaleDateString("zh-CN", {timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit"}).replace(/\//g, "-");
  }
  return {$, showOnly, guide, call, fmtDate};
})();
