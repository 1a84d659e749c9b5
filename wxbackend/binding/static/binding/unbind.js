// 解除绑定 on the certificate page: the button opens the confirmation dialog, 取消 closes it.
(function () {
  "use strict";
  const dialog = document.getElementById("unbind-dialog");
  document.getElementById("unbind-btn").addEventListener("click", () => { dialog.hidden = false; });
  document.getElementById("unbind-cancel").addEventListener("click", () => { dialog.hidden = true; });
})();
