// 证书详情: 解除绑定 asks once in a dialog before the form is posted.
(function () {
  "use strict";
  const dialog = document.getElementById("unbind-dialog");
  const open = document.getElementById("unbind-btn");
  const cancel = document.getElementById("unbind-cancel");
  if (!dialog || !open || !cancel) { return; }
  open.addEventListener("click", () => { dialog.hidden = false; });
  cancel.addEventListener("click", () => { dialog.hidden = true; });
})();
