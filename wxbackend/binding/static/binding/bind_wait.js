// The phone's page after claiming a binding code: polls the claim until the PC confirms or rejects it.
(function () {
  "use strict";
  const wait = document.getElementById("wait");
  const url = wait.dataset.url, certBase = wait.dataset.certBase;
  function show(state, body) {
    const icon = document.getElementById("icon"), head = document.getElementById("headline"), detail = document.getElementById("detail");
    document.getElementById("wait").dataset.state = state;
    if (state === "bound") {
      icon.className = "msg-icon ok"; icon.textContent = "✓"; head.textContent = "绑定成功";
      detail.textContent = "证书：" + body.organisation + " 已绑定到您的微信。";
      document.getElementById("view-cert").href = certBase + "/" + body.certificate_id;
      document.getElementById("done").hidden = false; return true;
    }
    if (state === "rejected" || state === "dead" || state === "gone") {
      icon.className = "msg-icon warn"; icon.textContent = "!";
      head.textContent = state === "rejected" ? "电脑端已拒绝本次绑定" : "绑定码已过期";
      detail.textContent = "请在电脑上重新获取绑定码。"; document.getElementById("again").hidden = false; return true;
    }
    return false;
  }
  async function poll() {
    try {
      const r = await fetch(url, {credentials: "same-origin"});
      const body = await r.json();
      if (show(r.ok ? body.state : "gone", body)) return;
    } catch (e) { /* network hiccup: try again */ }
    setTimeout(poll, 1500);
  }
  poll();
})();
