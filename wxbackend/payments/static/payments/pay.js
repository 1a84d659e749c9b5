// 微信支付 from the order page: the backend's JSAPI parameters, WeChat's own WeixinJSBridge, then poll the order
// until the payment notification has been processed (the page never decides by itself that it is paid).
(function () {
  "use strict";
  const button = document.getElementById("pay-wechat");
  const message = document.getElementById("pay-message");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const orderUrl = button.dataset.url.replace(/\/wechat-pay$/, "");

  function say(text) { message.textContent = text; }

  function pollUntilPaid(triesLeft) {
    fetch(orderUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((r) => r.json())
      .then((order) => {
        if (order.status && order.status !== "pending_payment") { location.reload(); return; }
        if (triesLeft > 0) { setTimeout(() => pollUntilPaid(triesLeft - 1), 1500); }
        else { say("支付结果确认中，请稍后刷新页面查看。"); }
      })
      .catch(() => setTimeout(() => pollUntilPaid(triesLeft - 1), 3000));
  }

  function invoke(params) {
    window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, (res) => {
      if (res.err_msg === "get_brand_wcpay_request:ok") { say("支付成功，正在确认…"); pollUntilPaid(40); }
      else if (res.err_msg === "get_brand_wcpay_request:cancel") { say("已取消支付。"); button.disabled = false; }
      else { say("支付未完成，请重试。"); button.disabled = false; }
    });
  }

  button.addEventListener("click", () => {
    button.disabled = true;
    say("正在发起支付…");
    fetch(button.dataset.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ via: "jsapi" }),
    }).then((r) => r.json().then((body) => ({ ok: r.ok, body })))
      .then(({ ok, body }) => {
        if (!ok) { say(body.message || "发起支付失败，请稍后再试。"); button.disabled = false; return; }
        if (window.WeixinJSBridge) { invoke(body); }
        else { document.addEventListener("WeixinJSBridgeReady", () => invoke(body), false);
               say("请在微信中打开本页面完成支付。"); }
      })
      .catch(() => { say("网络异常，请稍后再试。"); button.disabled = false; });
  });
})();
