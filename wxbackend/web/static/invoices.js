// 我的发票 and 发票信息管理: 全选 and the running total, the new-profile fields, copying a download link,
// confirming a delete. The pages work without it (the server checks everything again).
(function () {
  "use strict";
  function yuan(fen) { return "¥" + Math.floor(fen / 100) + "." + String(fen % 100).padStart(2, "0"); }

  var all = document.getElementById("select-all");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=order_ids]"));
  function update() {
    var picked = boxes.filter(function (box) { return box.checked; });
    var total = picked.reduce(function (sum, box) { return sum + parseInt(box.dataset.amountFen, 10); }, 0);
    document.getElementById("selected-count").textContent = String(picked.length);
    document.getElementById("selected-total").textContent = yuan(total);
    if (all) { all.checked = picked.length === boxes.length && boxes.length > 0; }
  }
  if (boxes.length) {
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        update();
      });
    }
    update();
  }

  var fields = document.getElementById("new-profile");
  var choices = document.querySelectorAll("input[name=profile_id][type=radio]");
  Array.prototype.forEach.call(choices, function (choice) {
    choice.addEventListener("change", function () {
      if (fields) { fields.hidden = choice.value !== "new"; }
    });
  });

  var status = document.getElementById("copy-status");
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copy);
      function copied() { button.textContent = "已复制"; if (status) { status.textContent = "链接已复制，请在电脑浏览器中打开"; } }
      input.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(copied, function () { document.execCommand("copy"); copied(); });
      } else {
        document.execCommand("copy");
        copied();
      }
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
})();
